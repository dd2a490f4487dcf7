"""lab.tls.identity: the connection's client certificate inside a view, and its claims.

The view-side tests run behind a real MTLSServer, so SSL_CLIENT_CERT is what
cheroot really put in the WSGI environ after a real handshake. Expected values
are computed here from the certificate itself (hashlib, cryptography), not
through lab.pki.certinfo, so a wrong helper cannot agree with itself.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pytest
from conftest import CLIENT_EMAIL, CLIENT_SPIFFE_ID
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask import Flask, jsonify

from lab.errors import CorruptFileError
from lab.tls import client
from lab.tls.identity import ClientIdentity, peer_certificate
from lab.tls.server import MTLSServer


# --------------------------------------------------------- a view that tells
@pytest.fixture(scope="module")
def whoami_app():
    app = Flask("whoami")

    @app.get("/whoami")
    def whoami():
        cert = peer_certificate()
        if cert is None:
            return jsonify(certificate=None)
        ident = ClientIdentity.from_certificate(cert)
        return jsonify(
            certificate=cert.public_bytes(serialization.Encoding.PEM).decode(),
            subject=ident.subject,
            common_name=ident.common_name,
            issuer=ident.issuer,
            serial=ident.serial,
            thumbprint=ident.thumbprint,
            spki_pin=ident.spki_pin,
            dns=list(ident.dns),
            emails=list(ident.emails),
            uris=list(ident.uris),
            spiffe_id=ident.spiffe_id,
        )

    @app.get("/cached")
    def cached():
        return jsonify(same_object=peer_certificate() is peer_certificate())

    return app


@pytest.fixture(scope="module")
def server(whoami_app, server_identity, root_ca):
    with MTLSServer(whoami_app, server_identity, trust=root_ca, mode="optional") as s:
        yield s


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


# ------------------------------------------------------- peer_certificate
def test_peer_certificate_in_a_view_is_the_certificate_the_client_presented(
    server, client_identity, root_ca
):
    body = (
        client.session(client_identity, trust=root_ca).get(server.url + "/whoami", timeout=5).json()
    )
    seen = x509.load_pem_x509_certificate(body["certificate"].encode())
    assert der(seen) == der(client_identity.cert)


def test_peer_certificate_is_none_when_the_client_sent_none(server, root_ca):
    body = client.session(None, trust=root_ca).get(server.url + "/whoami", timeout=5).json()
    assert body == {"certificate": None}


def test_peer_certificate_is_parsed_once_per_request(server, client_identity, root_ca):
    body = (
        client.session(client_identity, trust=root_ca).get(server.url + "/cached", timeout=5).json()
    )
    assert body == {"same_object": True}


def test_peer_certificate_parses_ssl_client_cert_from_the_environ(client_identity):
    environ = {"SSL_CLIENT_CERT": client_identity.cert_pem.decode()}
    assert der(peer_certificate(environ)) == der(client_identity.cert)


def test_peer_certificate_caches_in_the_environ(client_identity, unrelated_ca):
    environ = {"SSL_CLIENT_CERT": client_identity.cert_pem.decode()}
    first = peer_certificate(environ)
    environ["SSL_CLIENT_CERT"] = (
        unrelated_ca.cert_pem.decode()
    )  # not re-read within the same request
    assert peer_certificate(environ) is first


def test_peer_certificate_without_ssl_client_cert_is_none():
    assert peer_certificate({}) is None
    assert peer_certificate({"SSL_CLIENT_CERT": ""}) is None


def test_peer_certificate_with_garbage_raises_corrupt_file_error():
    with pytest.raises(CorruptFileError, match="not valid PEM"):
        peer_certificate(
            {
                "SSL_CLIENT_CERT": "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----"
            }
        )


# ----------------------------------------------------------- ClientIdentity
@pytest.fixture(scope="module")
def alice(client_identity) -> ClientIdentity:
    return ClientIdentity.from_certificate(client_identity.cert)


def test_identity_subject_and_common_name(alice):
    assert alice.subject == "CN=alice,O=mTLS Lab"
    assert alice.common_name == "alice"


def test_identity_issuer_is_the_issuing_ca(alice):
    assert alice.issuer == "CN=Test Issuing CA,O=mTLS Lab"


def test_identity_serial_is_lowercase_hex_of_the_serial_number(alice, client_identity):
    assert int(alice.serial, 16) == client_identity.cert.serial_number
    assert alice.serial == alice.serial.lower()


def test_identity_thumbprint_is_sha256_of_the_der_certificate(alice, client_identity):
    assert alice.thumbprint == hashlib.sha256(der(client_identity.cert)).hexdigest()


def test_identity_spki_pin_is_base64_sha256_of_the_public_key_info(alice, client_identity):
    spki = client_identity.cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert alice.spki_pin == base64.b64encode(hashlib.sha256(spki).digest()).decode()


def test_identity_san_email_and_uri(alice):
    assert alice.emails == (CLIENT_EMAIL,)
    assert alice.uris == (CLIENT_SPIFFE_ID,)
    assert alice.dns == ()


def test_identity_spiffe_id_is_the_spiffe_uri(alice):
    assert alice.spiffe_id == CLIENT_SPIFFE_ID


def test_identity_san_dns_names(intermediate_ca):
    ident = ClientIdentity.from_certificate(
        intermediate_ca.issue_client("worker", dns=["worker.lab.test", "worker-2.lab.test"]).cert
    )
    assert ident.dns == ("worker.lab.test", "worker-2.lab.test")


def test_identity_without_spiffe_uri_has_no_spiffe_id(intermediate_ca):
    ident = ClientIdentity.from_certificate(
        intermediate_ca.issue_client("web", uri="https://lab.test/web").cert
    )
    assert ident.uris == ("https://lab.test/web",)
    assert ident.spiffe_id is None


def test_identity_without_san_has_empty_san_fields(intermediate_ca):
    ident = ClientIdentity.from_certificate(intermediate_ca.issue_client("bare").cert)
    assert (ident.dns, ident.emails, ident.uris, ident.spiffe_id) == ((), (), (), None)


def test_identity_validity_is_the_certificate_validity_in_utc(alice, client_identity):
    assert alice.not_before == client_identity.cert.not_valid_before_utc
    assert alice.not_after == client_identity.cert.not_valid_after_utc
    assert alice.not_before.tzinfo is not None and alice.not_before.utcoffset() == dt.timedelta(0)
    assert alice.not_before < dt.datetime.now(dt.timezone.utc) < alice.not_after


def test_identity_keeps_the_certificate_and_starts_without_claims(alice, client_identity):
    assert alice.certificate is client_identity.cert
    assert alice.claims == {}


def test_identity_seen_in_a_view_matches_the_presented_certificate(
    server, client_identity, root_ca
):
    body = (
        client.session(client_identity, trust=root_ca).get(server.url + "/whoami", timeout=5).json()
    )
    expected = ClientIdentity.from_certificate(client_identity.cert)
    assert {
        k: body[k] for k in ("subject", "issuer", "serial", "thumbprint", "spki_pin", "spiffe_id")
    } == {
        "subject": expected.subject,
        "issuer": expected.issuer,
        "serial": expected.serial,
        "thumbprint": expected.thumbprint,
        "spki_pin": expected.spki_pin,
        "spiffe_id": CLIENT_SPIFFE_ID,
    }
