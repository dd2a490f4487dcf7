"""lab.pki.certinfo: the summary shows every field that matters, and its fingerprints agree with openssl."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pytest

from lab.pki import certinfo

UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def client_summary(client_identity):
    return certinfo.describe(client_identity)


@pytest.fixture(scope="module")
def server_pem_file(server_identity, tmp_path_factory):
    path = tmp_path_factory.mktemp("certinfo") / "server.crt"
    path.write_bytes(server_identity.cert_pem)
    return path


def field(text: str, label: str) -> str:
    """The value printed after ``label`` in describe()'s text."""
    for line in text.splitlines():
        if line.startswith(label + " ") or line == label:
            return line[len(label) :].strip()
    raise AssertionError(f"no {label!r} line in:\n{text}")


# -------------------------------------------------------------- text summary
def test_text_shows_subject_and_issuer(client_summary):
    text = client_summary.as_text()
    assert field(text, "Subject") == "CN=alice,O=mTLS Lab"
    assert field(text, "Issuer") == "CN=Test Issuing CA,O=mTLS Lab"


def test_text_shows_serial_in_hex(client_identity, client_summary):
    assert field(client_summary.as_text(), "Serial") == format(
        client_identity.cert.serial_number, "x"
    )


def test_text_shows_validity_window_in_utc(client_identity, client_summary):
    text = client_summary.as_text()
    cert = client_identity.cert
    assert field(text, "Valid from") == cert.not_valid_before_utc.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert field(text, "Valid until") == cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S UTC")


def test_days_left_counts_whole_days_until_expiry(root_ca):
    cert = root_ca.issue_client("thirty", days=30).cert
    assert certinfo.days_left(cert, cert.not_valid_before_utc + dt.timedelta(minutes=5)) == 30
    assert field(certinfo.describe(cert).as_text(), "Days left") == "29"  # begun: 29 and a bit


def test_days_left_is_negative_and_flagged_for_an_expired_certificate(root_ca):
    summary = certinfo.describe(root_ca.issue_client("old", expired=True))
    assert int(field(summary.as_text(), "Days left").split()[0]) < 0
    assert field(summary.as_text(), "Days left").endswith("(EXPIRED)")


def test_text_shows_key_type_and_size(client_summary, root_ca):
    assert field(client_summary.as_text(), "Key") == "ECDSA P-256"
    rsa_leaf = root_ca.issue_client("rsa", key_type="rsa2048")
    assert field(certinfo.describe(rsa_leaf).as_text(), "Key") == "RSA 2048"


def test_text_shows_ed25519_key_and_eddsa_signature(ed25519_ca):
    ca = ed25519_ca
    text = certinfo.describe(ca).as_text()
    assert field(text, "Key") == "Ed25519"
    assert field(text, "Signature") == "none (EdDSA)"


def test_text_shows_every_san_entry_in_openssl_spelling(client_summary, server_identity):
    assert (
        field(client_summary.as_text(), "SAN")
        == "email:alice@lab.test, URI:spiffe://lab.test/ns/payments/sa/alice"
    )
    assert (
        field(certinfo.describe(server_identity).as_text(), "SAN") == "DNS:localhost, IP:127.0.0.1"
    )


def test_text_shows_none_when_there_is_no_san(root_ca):
    assert (
        field(certinfo.describe(root_ca.issue_server("localhost", san=False)).as_text(), "SAN")
        == "(none)"
    )


def test_text_shows_key_usage(client_summary, root_ca):
    assert field(client_summary.as_text(), "Key usage") == "digitalSignature"
    assert (
        field(certinfo.describe(root_ca).as_text(), "Key usage")
        == "digitalSignature, keyCertSign, cRLSign"
    )


def test_text_shows_extended_key_usage(client_summary, server_identity):
    assert field(client_summary.as_text(), "Extended key usage") == "clientAuth"
    assert field(certinfo.describe(server_identity).as_text(), "Extended key usage") == "serverAuth"


def test_text_says_any_use_when_there_is_no_eku(root_ca):
    text = certinfo.describe(root_ca.issue_client("x", eku=None)).as_text()
    assert field(text, "Extended key usage") == "(none: any use)"


def test_text_shows_the_ca_flag_and_path_length(client_summary, intermediate_ca, root_ca):
    assert field(client_summary.as_text(), "CA") == "no"
    assert field(certinfo.describe(intermediate_ca).as_text(), "CA") == "yes (pathlen 0)"
    assert field(certinfo.describe(root_ca).as_text(), "CA") == "yes"


def test_text_marks_a_self_signed_certificate(root_ca):
    assert field(certinfo.describe(root_ca).as_text(), "Issuer").endswith("(self-signed)")


def test_text_shows_thumbprint_and_spki_pin(client_identity, client_summary):
    text = client_summary.as_text()
    assert field(text, "SHA-256 thumbprint") == certinfo.thumbprint(client_identity.cert)
    assert field(text, "SPKI SHA-256 pin") == certinfo.spki_pin(client_identity.cert)


def test_str_and_repr_are_the_text(client_summary):
    assert str(client_summary) == repr(client_summary) == client_summary.as_text()


# --------------------------------------------------------- the fingerprints
def test_thumbprint_is_sha256_of_the_der_certificate(client_identity):
    from cryptography.hazmat.primitives import serialization

    der = client_identity.cert.public_bytes(serialization.Encoding.DER)
    assert certinfo.thumbprint(client_identity.cert) == hashlib.sha256(der).hexdigest()


def test_thumbprint_equals_openssl_sha256_fingerprint(openssl, server_pem_file, server_identity):
    out = openssl(
        "x509", "-in", server_pem_file, "-noout", "-fingerprint", "-sha256", check=True
    ).stdout
    openssl_value = out.strip().split("=", 1)[1].replace(":", "").lower()
    assert certinfo.thumbprint(server_identity.cert) == openssl_value


def test_spki_pin_equals_the_openssl_pipeline(openssl, server_pem_file, server_identity):
    """openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64"""
    pubkey_pem = openssl("x509", "-in", server_pem_file, "-pubkey", "-noout", check=True).stdout
    der = openssl("pkey", "-pubin", "-outform", "der", input=pubkey_pem.encode(), check=True).stdout
    digest = openssl("dgst", "-sha256", "-binary", input=der, check=True).stdout
    assert certinfo.spki_pin(server_identity.cert) == base64.b64encode(digest).decode()


def test_spki_pin_survives_reissue_with_the_same_key_but_thumbprint_changes(
    root_ca, client_identity
):
    again = root_ca.issue_client("alice", key=client_identity.key)
    assert certinfo.spki_pin(again.cert) == certinfo.spki_pin(client_identity.cert)
    assert certinfo.thumbprint(again.cert) != certinfo.thumbprint(client_identity.cert)


def test_spki_pin_of_a_certificate_equals_that_of_its_public_key(client_identity):
    assert certinfo.spki_pin(client_identity.cert) == certinfo.spki_pin(
        client_identity.key.public_key()
    )


def test_days_left_right_after_issue_is_the_same_on_every_run(root_ca):
    """A 3-day certificate has 2 whole days left once its life has begun, even within the
    second it was issued in (certificates store whole seconds; the clock compared with them
    must not, or the answer flips between 2 and 3 from run to run)."""
    cert = root_ca.issue_client("three-days", days=3)
    assert certinfo.days_left(cert) == 2
    assert field(certinfo.describe(cert).as_text(), "Days left") == "2"
