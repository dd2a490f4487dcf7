"""lab.pki.verify: good chains pass through the intermediate, and each refusal is explained in words."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509

from lab import pki
from lab.pki.verify import verify_chain

UTC = dt.timezone.utc


def refused(check, *phrases):
    """Assert ``check`` is a refusal whose reason contains every phrase."""
    assert check.ok is False, f"expected a refusal, got {check}"
    assert str(check).startswith(f"REFUSED ({check.purpose}): ")
    for phrase in phrases:
        assert phrase in check.reason, f"{phrase!r} not in reason {check.reason!r}"
    return check


# ----------------------------------------------------------------- accepted
def test_client_chain_through_the_intermediate_is_accepted(client_identity, root_ca):
    check = verify_chain(client_identity, root_ca, purpose="client")
    assert check.ok, check.reason
    assert check.chain == ["alice", "Test Issuing CA", "Test Root CA"]
    assert str(check) == "OK (client): alice -> Test Issuing CA -> Test Root CA"


def test_the_verified_chain_is_returned_as_certificates_for_reuse(
    client_identity, intermediate_ca, root_ca, unrelated_ca
):
    check = verify_chain(client_identity, root_ca, purpose="client")
    assert check.certificates == [client_identity.cert, intermediate_ca.cert, root_ca.cert]
    assert check.issuers == [intermediate_ca.cert, root_ca.cert]
    assert verify_chain(client_identity, unrelated_ca, purpose="client").certificates == []


def test_trust_may_be_a_path_pem_bytes_a_list_or_a_ca(client_identity, root_ca, tmp_path):
    (tmp_path / "ca.pem").write_bytes(root_ca.cert_pem)
    for trust in (tmp_path / "ca.pem", str(tmp_path / "ca.pem"), root_ca.cert_pem, [root_ca]):
        assert verify_chain(client_identity, trust, purpose="client").ok, trust
    assert (
        pki.trust_certificates([root_ca, root_ca.cert_pem, tmp_path / "ca.pem"])
        == [root_ca.cert] * 3
    )


@pytest.mark.parametrize("hostname", ["localhost", "127.0.0.1"])
def test_server_chain_through_the_intermediate_is_accepted_for_each_san(
    server_identity, root_ca, hostname
):
    check = verify_chain(server_identity, root_ca, purpose="server", hostname=hostname)
    assert check.ok, check.reason
    assert check.chain == ["localhost", "Test Issuing CA", "Test Root CA"]


def test_intermediates_may_be_given_separately_from_a_bare_certificate(
    client_identity, intermediate_ca, root_ca
):
    assert verify_chain(client_identity.cert, root_ca, [intermediate_ca], purpose="client").ok


def test_client_certificate_without_san_is_accepted(root_ca):
    """Clients are often identified by CN only (the guide's MyTrustedClient); that is allowed."""
    assert verify_chain(root_ca.issue_client("MyTrustedClient"), root_ca, purpose="client").ok


def test_leaf_without_eku_is_accepted_for_either_purpose_because_no_eku_means_any_use(root_ca):
    """RFC 5280: an absent EKU does not restrict the key; openssl agrees (see the interop tests)."""
    assert verify_chain(root_ca.issue_client("x", eku=None), root_ca, purpose="client").ok
    assert verify_chain(
        root_ca.issue_server("localhost", eku=None), root_ca, purpose="server", hostname="localhost"
    ).ok


# ----------------------------------------------------------------- refusals
def test_expired_certificate_is_refused_as_expired(root_ca):
    leaf = root_ca.issue_client("old", expired=True)
    refused(verify_chain(leaf, root_ca), "the certificate expired on")


def test_certificate_checked_after_its_end_is_refused_as_expired(client_identity, root_ca):
    later = client_identity.cert.not_valid_after_utc + dt.timedelta(days=1)
    refused(verify_chain(client_identity, root_ca, at=later), "expired")


def test_not_yet_valid_certificate_is_refused_with_a_clock_hint(root_ca):
    leaf = root_ca.issue_server("localhost", not_yet_valid=True)
    refused(
        verify_chain(leaf, root_ca, purpose="server", hostname="localhost"),
        "is not valid until",
        "(clock skew?)",
    )


def test_client_with_server_auth_eku_is_refused_as_a_client(root_ca):
    leaf = root_ca.issue_client("wrong-eku", eku=["serverAuth"])
    refused(
        verify_chain(leaf, root_ca, purpose="client"),
        "Extended Key Usage (serverAuth) does not allow clientAuth",
    )


def test_server_certificate_presented_as_a_client_is_refused_for_its_eku(server_identity, root_ca):
    refused(verify_chain(server_identity, root_ca, purpose="client"), "does not allow clientAuth")


def test_client_certificate_presented_as_a_server_is_refused_for_its_eku(client_identity, root_ca):
    refused(
        verify_chain(client_identity, root_ca, purpose="server", hostname="localhost"),
        "does not allow serverAuth",
    )


def test_server_without_san_is_refused_because_clients_ignore_the_cn(root_ca):
    leaf = root_ca.issue_server("localhost", san=False)
    refused(
        verify_chain(leaf, root_ca, purpose="server", hostname="localhost"),
        "no Subject Alternative Name",
        "ignore the CN",
    )


def test_server_for_another_host_is_refused_for_hostname_mismatch(server_identity, root_ca):
    refused(
        verify_chain(server_identity, root_ca, purpose="server", hostname="api.lab.test"),
        "SAN (DNS:localhost, IP:127.0.0.1) does not cover 'api.lab.test'",
    )


def test_server_for_another_ip_is_refused_for_hostname_mismatch(server_identity, root_ca):
    refused(
        verify_chain(server_identity, root_ca, purpose="server", hostname="127.0.0.2"),
        "does not cover '127.0.0.2'",
    )


def test_self_signed_client_is_refused_as_self_signed(root_ca):
    refused(
        verify_chain(pki.self_signed_client("loner"), root_ca),
        "self-signed and is not one of the trusted certificates",
    )


def test_leaf_with_ca_flag_is_refused_as_a_ca_certificate(root_ca):
    refused(
        verify_chain(root_ca.issue_client("ca-leaf", ca_flag=True), root_ca),
        "is a CA certificate (CA:TRUE); a leaf must have CA:FALSE",
    )


def test_leaf_from_an_unrelated_ca_is_refused_as_unknown_ca(unrelated_ca, root_ca):
    refused(
        verify_chain(unrelated_ca.issue_client("stranger"), root_ca),
        "no trusted CA issued it",
        "Unrelated Root CA",
    )


def test_leaf_without_its_intermediate_is_refused_as_missing_intermediate(client_identity, root_ca):
    refused(
        verify_chain(client_identity.cert, root_ca),
        "no trusted CA issued it",
        "missing intermediate",
    )


def test_ed25519_leaf_is_refused_with_the_webpki_explanation(ed25519_ca):
    """Python's ssl accepts Ed25519 (test_pki proves it); the WebPKI verifier does not, and says why."""
    ca = ed25519_ca
    refused(
        verify_chain(ca.issue_client("ed-client", key_type="ed25519"), ca),
        "outside the WebPKI set",
        "Ed25519 works in OpenSSL-based TLS",
    )


def test_ec_leaf_under_an_ed25519_ca_is_refused_for_the_signature_algorithm(ed25519_ca):
    ca = ed25519_ca
    refused(verify_chain(ca.issue_client("ec-client"), ca), "WebPKI")


# ---------------------------------------------------------------- misuse
def test_server_check_without_a_hostname_is_a_usage_error(server_identity, root_ca):
    with pytest.raises(ValueError, match="needs the hostname"):
        verify_chain(server_identity, root_ca, purpose="server")


def test_unknown_purpose_is_a_usage_error(client_identity, root_ca):
    with pytest.raises(ValueError, match="purpose must be 'client' or 'server'"):
        verify_chain(client_identity, root_ca, purpose="email")


def _root_without_key_usage():
    """A root like the guide's `openssl req -x509`: CA:TRUE and SKI, but no Key Usage extension."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "YourRootCA")])
    start = dt.datetime.now(UTC) - dt.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return pki.CertificateAuthority(cert, key)


def test_leaf_under_a_ca_without_key_usage_is_refused_naming_that_ca_in_words():
    """The guide's root has no Key Usage: the reason must say so, not quote an OID."""
    ca = _root_without_key_usage()
    check = refused(
        verify_chain(ca.issue_client("MyTrustedClient"), ca, purpose="client"),
        "'CN=YourRootCA'",
        "no Key Usage",
        "keyCertSign",
    )
    assert "2.5.29.15" not in check.reason


# ---------------------------------------------------------------- file paths
def test_paths_are_accepted_for_trust_like_everywhere_else_in_lab(
    client_identity, root_ca, tmp_path
):
    ca_file, _ = root_ca.write(tmp_path / "rootCA")
    check = verify_chain(client_identity, ca_file, purpose="client")
    assert check.ok, check.reason
    assert check.chain == ["alice", "Test Issuing CA", "Test Root CA"]
    assert verify_chain(client_identity, [str(ca_file)]).ok


def test_missing_trust_file_raises_missing_file_error(client_identity, tmp_path):
    from lab.errors import MissingFileError

    with pytest.raises(MissingFileError, match="does not exist"):
        verify_chain(client_identity, tmp_path / "rootCA.pem")


def test_a_path_length_violation_is_refused_in_the_verifier_s_words(root_ca):
    too_deep = root_ca.create_intermediate("Depth Zero CA").create_intermediate(
        "Depth One CA"
    )  # pathLen 0 above
    check = verify_chain(too_deep.issue_client("carol"), trust=root_ca)
    assert not check.ok
    assert "path length constraint violated" in check.reason


# ----------------------------------------------------------------- what openssl x509 -req makes
def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + (bytes([n]) if n < 0x80 else bytes([0x80 | len(size)]) + size) + content


def _guide_leaf(ca, *, v1: bool) -> x509.Certificate:
    """The guide's `openssl x509 -req` leaf: up to OpenSSL 3.1 version 1 with no extension at
    all; from 3.2 version 3 with key identifiers only; from 4.0 only what the configuration's
    ``extensions`` lists, nothing in a stock openssl.cnf (openssl-x509(1)). No SAN, no EKU."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = pki.generate_key("ec")
    start = dt.datetime.now(UTC) - dt.timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=30))
    )
    if not v1:
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key())
        return (
            builder.add_extension(ski, False)
            .add_extension(aki, False)
            .sign(ca.key, hashes.SHA256())
        )
    v3 = builder.sign(ca.key, hashes.SHA256()).tbs_certificate_bytes
    body = v3[2:] if v3[1] < 0x80 else v3[2 + (v3[1] & 0x7F) :]
    assert body.startswith(b"\xa0\x03\x02\x01\x02")  # [0] EXPLICIT version v3: v1 omits it
    tbs = _der(0x30, body[5:])
    signature = ca.key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    ecdsa_sha256 = _der(0x30, _der(0x06, bytes.fromhex("2a8648ce3d040302")))
    return x509.load_der_x509_certificate(
        _der(0x30, tbs + ecdsa_sha256 + _der(0x03, b"\0" + signature))
    )


def test_a_version_1_leaf_is_explained_as_what_openssl_3_1_and_older_make(root_ca):
    leaf = _guide_leaf(root_ca, v1=True)
    assert leaf.version == x509.Version.v1
    refused(
        verify_chain(leaf, root_ca, purpose="server", hostname="localhost"),
        "X.509 version 1, which cannot carry extensions",
        "up to OpenSSL 3.1",
    )


def test_a_version_3_leaf_with_key_identifiers_only_is_explained_by_what_it_lacks(root_ca):
    """OpenSSL 3.2+ makes this: no SAN (refused as a server), no EKU (any use: a client)."""
    leaf = _guide_leaf(root_ca, v1=False)
    check = refused(
        verify_chain(leaf, root_ca, purpose="server", hostname="localhost"),
        "no Subject Alternative Name",
    )
    assert "version" not in check.reason
    assert verify_chain(leaf, root_ca, purpose="client").ok
