"""lab.auth.forwarding: the certificate header is believed only from the proxy, against real nginx.

Every test that involves the proxy runs the real nginx (a course prerequisite:
missing nginx FAILS with the install instruction, it does not skip).
"""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives import serialization
from flask import Flask, request
from test_proxy import nginx_binary  # noqa: F401 (autouse: fails with the install hint)

from lab import proxy
from lab.auth import forwarding
from lab.auth.forwarding import CertificateForwarding, ForwardedCertificateError, header_value
from lab.course import demo
from lab.errors import ForgedHeaderError
from lab.proxy import NginxProxy
from lab.tls import client
from lab.tls.server import MTLSServer

pytestmark = pytest.mark.interop

PROXY_ADDRESS = "127.0.0.2"  # nginx connects to the app from here (proxy_bind)
ATTACKER_ADDRESS = "127.0.0.1"


@pytest.fixture(scope="module")
def pki(throwaway_pki):
    """The conftest PKI plus MyTrustedClient (the victim) and the proxy's own client certificate."""

    class P:
        root = throwaway_pki.root
        server = throwaway_pki.server
        alice = throwaway_pki.root.issue_client("alice")
        trusted = throwaway_pki.root.issue_client("MyTrustedClient")
        proxy_identity = throwaway_pki.root.issue_client("mTLS Lab Proxy")

    return P


def source(pki, **options):
    options.setdefault("trusted_proxies", [PROXY_ADDRESS])
    return CertificateForwarding(pki.root, **options)


def app_server(pki, certificate_source, mode="optional"):
    return MTLSServer(
        demo.create_app(certificate_source=certificate_source),
        certificate=pki.server,
        trust=pki.root,
        mode=mode,
    )


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch):
    """nginx's prefixes go to tmp_path/nginx."""
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path))


def nginx(pki, upstream, **options):
    options.setdefault("proxy_bind", PROXY_ADDRESS)
    return NginxProxy(upstream, certificate=pki.server, trust=pki.root, **options)


def call(identity, pki, url, **kwargs):
    return client.session(identity, trust=pki.root).get(url + "/api/secure", timeout=10, **kwargs)


def forged(pki, header=proxy.CERT_HEADER):
    """What an attacker sends: the victim's PUBLIC certificate, no key needed."""
    return {header: header_value(pki.trusted)}


# ---------------------------------------------------------- the lesson
def test_naive_app_lets_a_caller_without_certificate_in_with_a_forged_header(pki):
    with app_server(pki, forwarding.trust_header_from_anyone(), mode="none") as app:
        r = call(None, pki, app.url, headers=forged(pki))
    assert r.status_code == 200
    assert r.text == "Hello CN=MyTrustedClient,O=mTLS Lab"


def test_forged_header_straight_to_the_app_gets_403_naming_the_reason(pki):
    with app_server(pki, source(pki), mode="none") as app:
        r = call(None, pki, app.url, headers=forged(pki))
    assert r.status_code == 403
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.json()["detail"].startswith(
        "forged certificate header: the X-SSL-Client-Cert header came from "
        f"{ATTACKER_ADDRESS}, which is not a trusted proxy"
    )


def test_header_from_the_trusted_proxy_gets_200_with_the_clients_identity(pki):
    with app_server(pki, source(pki)) as app, nginx(pki, app) as p:
        r = call(pki.trusted, pki, p.url)
    assert r.status_code == 200 and r.text == "Hello CN=MyTrustedClient,O=mTLS Lab"


def test_a_forged_header_sent_through_nginx_is_replaced_by_the_real_certificate(pki):
    with app_server(pki, source(pki)) as app, nginx(pki, app) as p:
        r = call(pki.alice, pki, p.url, headers=forged(pki))
    assert r.text == "Hello CN=alice,O=mTLS Lab"


def test_proxy_certificate_mode_refuses_a_direct_caller_even_from_the_proxys_address(pki):
    pinned = source(pki, trusted_proxies=["127.0.0.0/8"], proxy_certificate=pki.proxy_identity)
    with app_server(pki, pinned) as app:
        with_cert = call(pki.alice, pki, app.url, headers=forged(pki))
        without = call(None, pki, app.url, headers=forged(pki))
    assert with_cert.status_code == 403
    assert (
        "authenticated as CN=alice,O=mTLS Lab, not as the proxy (mTLS Lab Proxy)"
        in with_cert.json()["detail"]
    )
    assert without.status_code == 403 and "without a client certificate" in without.json()["detail"]


def test_proxy_certificate_mode_accepts_the_header_from_nginx_with_proxy_ssl_certificate(
    pki,
):
    pinned = source(pki, trusted_proxies=["127.0.0.0/8"], proxy_certificate=pki.proxy_identity)
    with (
        app_server(pki, pinned, mode="require") as app,
        nginx(pki, app, proxy_bind=None, proxy_certificate=pki.proxy_identity) as p,
    ):
        r = call(pki.trusted, pki, p.url)
    assert r.status_code == 200 and r.text == "Hello CN=MyTrustedClient,O=mTLS Lab"


def test_a_forwarded_certificate_without_the_proxys_verdict_is_revalidated_and_refused(
    pki, unrelated_ca
):
    stranger = unrelated_ca.issue_client("MyTrustedClient")
    environ = {"REMOTE_ADDR": PROXY_ADDRESS, "HTTP_X_SSL_CLIENT_CERT": header_value(stranger)}
    with pytest.raises(ForwardedCertificateError, match="is not trusted: no trusted CA issued it"):
        source(pki)(environ)  # no X-SSL-Client-Verify: re-validation alone must refuse


def test_the_proxys_failed_verdict_is_honoured(pki, unrelated_ca):
    stranger = unrelated_ca.issue_client("mallory")
    with (
        app_server(pki, source(pki)) as app,
        nginx(pki, app, verify_client="optional_no_ca") as p,
    ):
        r = call(stranger, pki, p.url)
    assert r.status_code == 403
    assert (
        "the proxy did not verify the client certificate (X-SSL-Client-Verify: FAILED:"
        in r.json()["detail"]
    )


# ---------------------------- a look-alike header (notebook 07 shows a proxy that forgets it)
def test_the_proxy_clears_a_lookalike_header_so_alice_cannot_become_mytrustedclient(pki):
    # An app written for ingress-nginx (ssl-client-cert) now runs behind this nginx.
    ingress = Flask("ingress-app")

    @ingress.get("/api/secure")
    def secure():
        value = request.headers.get("ssl-client-cert", "")
        return forwarding.parse_certificate_header(value).subject.rfc4514_string() if value else ""

    attack = forged(pki, header="ssl-client-cert")
    with MTLSServer(ingress, certificate=pki.server, trust=pki.root, mode="none") as app:
        with nginx(pki, app) as p:
            closed = call(pki.alice, pki, p.url, headers=attack)
    assert closed.text == ""  # cleared: no certificate reaches the app


# ----------------------------------------------------------- the header format
def test_header_value_is_byte_for_byte_what_nginx_forwards(pki):
    raw = Flask("raw")

    @raw.get("/api/secure")
    def secure():
        return request.headers.get(proxy.CERT_HEADER, "")

    with (
        MTLSServer(raw, certificate=pki.server, trust=pki.root, mode="none") as app,
        nginx(pki, app) as p,
    ):
        forwarded = call(pki.alice, pki, p.url).text
    assert forwarded == header_value(pki.alice)
    assert "-----BEGIN%20CERTIFICATE-----%0A" in forwarded


def test_the_header_decodes_to_the_same_certificate(pki):
    assert forwarding.parse_certificate_header(header_value(pki.trusted)) == pki.trusted.cert


@pytest.mark.parametrize("value", ["not a certificate", "-----BEGIN%20CERTIFICATE-----%0Agarbage"])
def test_an_unreadable_header_is_a_clear_error(pki, value):
    environ = {"REMOTE_ADDR": PROXY_ADDRESS, "HTTP_X_SSL_CLIENT_CERT": value}
    with pytest.raises(ForwardedCertificateError, match="X-SSL-Client-Cert header"):
        source(pki)(environ)


def test_a_certificate_with_an_impossible_version_is_a_clear_error_not_a_crash(pki):
    """cryptography raises InvalidVersion (not a ValueError) for version 10; found by fuzzing."""
    der = pki.alice.cert.public_bytes(serialization.Encoding.DER)
    bad = der.replace(b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x0a", 1)
    assert bad != der
    body = base64.encodebytes(bad).decode()
    value = quote(f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n", safe="")
    with pytest.raises(forwarding.ForwardedCertificateError):
        forwarding.parse_certificate_header(value)


def test_no_header_means_no_certificate(pki):
    assert source(pki)({"REMOTE_ADDR": ATTACKER_ADDRESS}) is None


def test_forged_header_error_names_the_peer_and_the_trusted_proxies(pki):
    environ = {"REMOTE_ADDR": "127.0.0.9", "HTTP_X_SSL_CLIENT_CERT": header_value(pki.trusted)}
    with pytest.raises(
        ForgedHeaderError,
        match=r"came from 127\.0\.0\.9, which is not a trusted proxy \(127\.0\.0\.2\)",
    ):
        source(pki)(environ)


def test_a_trusted_proxy_that_is_not_an_address_is_refused(pki):
    with pytest.raises(
        ValueError,
        match=r"does not appear to be an IPv4 or IPv6 network \(trusted_proxies takes addresses",
    ):
        source(pki, trusted_proxies=["nginx.local"])


def test_the_forged_header_scenario_shows_the_attack_and_the_refusal():
    from lab.course import scenarios

    result = scenarios.get("forged-client-certificate-header").run()
    assert result.behaved, str(result)
    assert result.status == 200 and result.client_saw == "HTTP 200: Hello CN=alice,O=mTLS Lab"
    assert "not a trusted proxy" in result.notes[0]
