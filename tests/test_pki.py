"""lab.pki: the certificates it makes, the flaws it makes on purpose, its files and its errors.

Certificates come from the session PKI in conftest.py (ECDSA, built once); a test
builds its own only when it needs a variant (a flaw, another key type).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import stat

import pytest
from conftest import CLIENT_EMAIL, CLIENT_SPIFFE_ID
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lab import pki
from lab.errors import (
    CorruptFileError,
    KeyMismatchError,
    LabError,
    MissingFileError,
    PassphraseRequiredError,
    WrongPasswordError,
)
from lab.pki.keys import key_matches

UTC = dt.timezone.utc


def ext(cert, cls):
    """The extension of type ``cls`` (raises ExtensionNotFound when absent)."""
    return cert.extensions.get_extension_for_class(cls)


def has_ext(cert, cls) -> bool:
    try:
        ext(cert, cls)
        return True
    except x509.ExtensionNotFound:
        return False


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def now() -> dt.datetime:
    return dt.datetime.now(UTC)


# ------------------------------------------------------------------ root CA
def test_root_ca_is_self_signed(root_ca):
    cert = root_ca.cert
    assert cert.issuer == cert.subject
    cert.verify_directly_issued_by(cert)  # raises if the signature is not its own


def test_root_ca_basic_constraints_is_ca_true_and_critical(root_ca):
    bc = ext(root_ca.cert, x509.BasicConstraints)
    assert bc.critical
    assert bc.value.ca is True


def test_root_ca_key_usage_is_keycertsign_and_crlsign_critical(root_ca):
    ku = ext(root_ca.cert, x509.KeyUsage)
    assert ku.critical
    assert ku.value.key_cert_sign and ku.value.crl_sign


def test_root_ca_has_subject_key_identifier_of_its_public_key(root_ca):
    ski = ext(root_ca.cert, x509.SubjectKeyIdentifier).value
    assert ski.digest == x509.SubjectKeyIdentifier.from_public_key(root_ca.key.public_key()).digest


# ------------------------------------------------------------- intermediate
def test_intermediate_is_a_ca_with_pathlen_zero(intermediate_ca):
    bc = ext(intermediate_ca.cert, x509.BasicConstraints)
    assert bc.critical
    assert bc.value.ca is True
    assert bc.value.path_length == 0


def test_intermediate_authority_key_identifier_matches_root_ski(root_ca, intermediate_ca):
    aki = ext(intermediate_ca.cert, x509.AuthorityKeyIdentifier).value
    root_ski = ext(root_ca.cert, x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == root_ski.digest


def test_intermediate_is_signed_by_the_root(root_ca, intermediate_ca):
    intermediate_ca.cert.verify_directly_issued_by(root_ca.cert)
    assert not intermediate_ca.is_root and root_ca.is_root


# -------------------------------------------------------------- server leaf
def test_server_san_holds_the_dns_name_and_the_ip_address(server_identity):
    san = ext(server_identity.cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]


def test_server_extended_key_usage_is_server_auth_only(server_identity):
    assert list(ext(server_identity.cert, x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]


def test_ec_server_key_usage_is_digital_signature_only_and_critical(server_identity):
    ku = ext(server_identity.cert, x509.KeyUsage)
    assert ku.critical
    assert ku.value.digital_signature
    assert not ku.value.key_encipherment
    assert not ku.value.key_cert_sign


def test_rsa_server_key_usage_adds_key_encipherment(intermediate_ca):
    srv = intermediate_ca.issue_server("localhost", key_type="rsa2048")
    ku = ext(srv.cert, x509.KeyUsage).value
    assert ku.digital_signature and ku.key_encipherment


def test_server_basic_constraints_is_ca_false(server_identity):
    bc = ext(server_identity.cert, x509.BasicConstraints)
    assert bc.critical and bc.value.ca is False


def test_server_has_ski_and_aki_of_its_issuer(server_identity, intermediate_ca):
    cert = server_identity.cert
    assert (
        ext(cert, x509.SubjectKeyIdentifier).value.digest
        == x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest
    )
    assert (
        ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier
        == ext(intermediate_ca.cert, x509.SubjectKeyIdentifier).value.digest
    )


def test_server_chain_is_the_intermediate_without_the_root(server_identity, intermediate_ca):
    assert server_identity.chain == [intermediate_ca.cert]
    server_identity.cert.verify_directly_issued_by(intermediate_ca.cert)


def test_server_without_hosts_defaults_to_localhost_and_loopback(root_ca):
    srv = root_ca.issue_server()
    san = ext(srv.cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]


# -------------------------------------------------------------- client leaf
def test_client_extended_key_usage_is_client_auth_only(client_identity):
    assert list(ext(client_identity.cert, x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]


def test_client_subject_common_name_is_the_given_name(client_identity):
    cn = client_identity.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert [a.value for a in cn] == ["alice"]
    assert client_identity.common_name == "alice"


def test_client_san_holds_email_and_spiffe_uri(client_identity):
    san = ext(client_identity.cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == [CLIENT_EMAIL]
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [CLIENT_SPIFFE_ID]


def test_client_without_email_or_uri_has_no_san(root_ca):
    assert not has_ext(root_ca.issue_client("MyTrustedClient").cert, x509.SubjectAlternativeName)


def test_client_basic_constraints_is_ca_false(client_identity):
    assert ext(client_identity.cert, x509.BasicConstraints).value.ca is False


# ----------------------------------------------------------------- validity
def test_explicit_not_before_and_not_after_are_used_as_given(root_ca):
    start = dt.datetime(2030, 1, 1, tzinfo=UTC)
    end = dt.datetime(2030, 6, 30, 12, tzinfo=UTC)
    cert = root_ca.issue_client("later", not_before=start, not_after=end).cert
    assert (cert.not_valid_before_utc, cert.not_valid_after_utc) == (start, end)


def test_days_sets_the_validity_length_after_a_five_minute_backdate(root_ca):
    cert = root_ca.issue_server("localhost", days=10).cert
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(days=10, minutes=5)
    assert cert.not_valid_before_utc <= now() - dt.timedelta(minutes=4)


def test_not_after_before_not_before_is_refused(root_ca):
    start = dt.datetime(2030, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="not_after must be later"):
        root_ca.issue_client("x", not_before=start, not_after=start - dt.timedelta(days=1))


# ---------------------------------------------------------------- key types
def test_default_key_type_is_ecdsa_p256(root_ca, server_identity):
    for key in (root_ca.key, server_identity.key):
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert key.curve.name == "secp256r1"


def test_rsa2048_key_type_makes_a_2048_bit_rsa_key(root_ca):
    leaf = root_ca.issue_client("rsa-client", key_type="rsa2048")
    assert isinstance(leaf.key, rsa.RSAPrivateKey) and leaf.key.key_size == 2048
    assert leaf.key_matches


def test_rsa4096_root_has_a_4096_bit_key_and_signs_sha256(rsa4096_root_ca):
    cert = rsa4096_root_ca.cert
    assert isinstance(cert.public_key(), rsa.RSAPublicKey) and cert.public_key().key_size == 4096
    assert cert.signature_hash_algorithm.name == "sha256"
    cert.verify_directly_issued_by(cert)


def test_rsa4096_root_issues_a_verifiable_rsa2048_leaf(rsa4096_root_ca):
    leaf = rsa4096_root_ca.issue_server("localhost", key_type="rsa2048")
    leaf.cert.verify_directly_issued_by(rsa4096_root_ca.cert)
    assert leaf.key.key_size == 2048


def test_ed25519_key_type_makes_an_ed25519_certificate(root_ca):
    leaf = root_ca.issue_client("ed-client", key_type="ed25519")
    assert isinstance(leaf.cert.public_key(), ed25519.Ed25519PublicKey)
    assert leaf.key_matches


def test_ed25519_ca_signs_without_a_separate_hash(ed25519_ca):
    ca = ed25519_ca
    assert ca.cert.signature_hash_algorithm is None
    ca.cert.verify_directly_issued_by(ca.cert)


def test_ed25519_certificates_complete_a_real_mtls_request_in_python_ssl(ed25519_ca):
    """Ed25519 works end to end in OpenSSL-based TLS (lab.pki.verify refuses it: see test_verify)."""
    from lab.course import demo
    from lab.tls import client, server

    ca = ed25519_ca
    srv = ca.issue_server("localhost", "127.0.0.1", key_type="ed25519")
    alice = ca.issue_client("ed-client", key_type="ed25519")
    with server.MTLSServer(demo.create_app(), certificate=srv, trust=ca) as s:
        with client.session(alice, trust=ca) as session:
            response = session.get(s.url + "/api/secure", timeout=10)
    assert response.status_code == 200
    assert response.text == "Hello CN=ed-client,O=mTLS Lab"
    assert s.handshake_failures == []


def test_unknown_key_type_is_refused_with_the_choices(root_ca):
    with pytest.raises(ValueError, match="ec, rsa2048, rsa4096, ed25519"):
        root_ca.issue_client("x", key_type="dsa")


# ---------------------------------------------------------- deliberate flaws
def test_expired_flaw_ends_before_now(root_ca):
    cert = root_ca.issue_client("old", expired=True).cert
    assert cert.not_valid_after_utc < now()
    assert cert.not_valid_before_utc < cert.not_valid_after_utc


def test_not_yet_valid_flaw_starts_after_now(root_ca):
    cert = root_ca.issue_server("localhost", not_yet_valid=True).cert
    assert cert.not_valid_before_utc > now()


def test_expired_and_not_yet_valid_together_are_refused(root_ca):
    with pytest.raises(ValueError, match="both expired and not yet valid"):
        root_ca.issue_client("x", expired=True, not_yet_valid=True)


def test_san_false_server_has_no_san_and_names_the_host_in_the_cn_only(root_ca):
    cert = root_ca.issue_server("localhost", san=False).cert
    assert not has_ext(cert, x509.SubjectAlternativeName)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "localhost"


def test_eku_none_leaves_the_extended_key_usage_out(root_ca):
    assert not has_ext(root_ca.issue_server("localhost", eku=None).cert, x509.ExtendedKeyUsage)
    assert not has_ext(root_ca.issue_client("x", eku=None).cert, x509.ExtendedKeyUsage)


def test_client_with_server_auth_eku_carries_server_auth_only(root_ca):
    cert = root_ca.issue_client("wrong-eku", eku=["serverAuth"]).cert
    assert list(ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_unknown_eku_name_is_refused(root_ca):
    with pytest.raises(ValueError, match="unknown EKU 'webAuth'"):
        root_ca.issue_client("x", eku=["webAuth"])


def test_self_signed_client_is_its_own_issuer_with_client_auth(root_ca):
    leaf = pki.self_signed_client("loner")
    assert leaf.cert.issuer == leaf.cert.subject
    leaf.cert.verify_directly_issued_by(leaf.cert)
    assert list(ext(leaf.cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert leaf.chain == []
    with pytest.raises((ValueError, InvalidSignature)):
        leaf.cert.verify_directly_issued_by(root_ca.cert)


def test_ca_flag_on_a_leaf_sets_ca_true(root_ca):
    cert = root_ca.issue_client("ca-leaf", ca_flag=True).cert
    assert ext(cert, x509.BasicConstraints).value.ca is True


def test_leaf_signed_by_an_unrelated_ca_is_not_signed_by_the_root(root_ca, unrelated_ca):
    cert = unrelated_ca.issue_client("stranger").cert
    assert cert.issuer == unrelated_ca.cert.subject
    with pytest.raises((ValueError, InvalidSignature)):
        cert.verify_directly_issued_by(root_ca.cert)


def test_mismatched_key_flaw_returns_a_key_that_does_not_match(root_ca):
    leaf = root_ca.issue_client("mixed-up", mismatched_key=True)
    assert leaf.key_matches is False
    assert key_matches(leaf.cert, leaf.key) is False


def test_correct_leaf_key_matches(client_identity):
    assert client_identity.key_matches is True


def test_a_key_of_another_type_does_not_match(client_identity, ed25519_ca, rsa4096_root_ca):
    """Key equality, not bytes: an Ed25519 or RSA key never equals the EC key of a certificate."""
    assert key_matches(client_identity.cert, ed25519_ca.key) is False
    assert key_matches(client_identity.cert, rsa4096_root_ca.key) is False
    assert key_matches(rsa4096_root_ca.cert, rsa4096_root_ca.key) is True


# -------------------------------------------------------------------- files
def test_write_puts_the_leaf_first_then_the_intermediate_in_the_crt(
    server_identity, intermediate_ca, tmp_path
):
    crt, key = server_identity.write(tmp_path / "server")
    assert (crt.name, key.name) == ("server.crt", "server.key")
    certs = x509.load_pem_x509_certificates(crt.read_bytes())
    assert certs == [server_identity.cert, intermediate_ca.cert]


def test_write_accepts_a_stem_with_a_suffix(client_identity, tmp_path):
    crt, key = client_identity.write(tmp_path / "alice.crt")
    assert (crt.name, key.name) == ("alice.crt", "alice.key")


def test_written_key_file_has_mode_0600(client_identity, tmp_path):
    _, key = client_identity.write(tmp_path / "alice")
    assert mode(key) == 0o600


def test_written_key_file_has_mode_0600_even_when_it_existed_with_0644(client_identity, tmp_path):
    existing = tmp_path / "alice.key"
    existing.write_text("old")
    existing.chmod(0o644)
    _, key = client_identity.write(tmp_path / "alice")
    assert mode(key) == 0o600
    assert b"PRIVATE KEY" in key.read_bytes()


def test_written_key_loads_back_as_the_same_key(client_identity, tmp_path):
    crt, key = client_identity.write(tmp_path / "alice")
    loaded = pki.load_pair(crt, key)
    assert loaded.cert == client_identity.cert
    assert loaded.chain == client_identity.chain
    assert loaded.key_matches


def test_encrypted_key_round_trips_with_its_passphrase(client_identity, tmp_path):
    _, key = client_identity.write(tmp_path / "alice", password="s3cret-pass")
    assert b"ENCRYPTED PRIVATE KEY" in key.read_bytes()
    loaded = pki.load_private_key(key, "s3cret-pass")
    assert key_matches(client_identity.cert, loaded)


def test_ca_write_makes_pem_and_0600_key_that_load_back(root_ca, tmp_path):
    crt, key = root_ca.write(tmp_path / "rootCA")
    assert (crt.name, key.name, mode(key)) == ("rootCA.pem", "rootCA.key", 0o600)
    loaded = pki.CertificateAuthority.load(crt, key)
    assert loaded.cert == root_ca.cert and loaded.is_root


def test_pkcs12_round_trip_gives_back_key_certificate_and_chain(server_identity, tmp_path):
    pfx = server_identity.to_pkcs12(tmp_path / "server.pfx", "pfx-pass-1")
    loaded = pki.load_pkcs12(pfx, "pfx-pass-1")
    assert loaded.cert == server_identity.cert
    assert loaded.chain == server_identity.chain
    assert loaded.key_matches


def test_pkcs12_file_has_mode_0600(client_identity, tmp_path):
    assert mode(client_identity.to_pkcs12(tmp_path / "alice.pfx", "pw")) == 0o600


@pytest.mark.parametrize("password", [None, ""])
def test_pkcs12_export_without_a_password_is_refused(client_identity, tmp_path, password):
    with pytest.raises(ValueError, match="must have a password"):
        client_identity.to_pkcs12(tmp_path / "alice.pfx", password)
    assert not (tmp_path / "alice.pfx").exists()


def test_load_certificate_reads_pem(server_identity, tmp_path):
    path = tmp_path / "server.pem"
    path.write_bytes(server_identity.cert_pem)
    assert pki.load_certificate(path) == server_identity.cert


def test_load_certificate_reads_der(server_identity, tmp_path):
    path = tmp_path / "server.der"
    path.write_bytes(server_identity.cert.public_bytes(serialization.Encoding.DER))
    assert pki.load_certificates(path) == [server_identity.cert]


def test_load_private_key_reads_der(client_identity, tmp_path):
    path = tmp_path / "alice.der.key"
    path.write_bytes(
        client_identity.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    assert key_matches(client_identity.cert, pki.load_private_key(path))


def test_load_pkcs12_reads_a_bundle_made_by_cryptography_defaults(client_identity, tmp_path):
    """A .pfx made elsewhere (here: cryptography's own defaults, not the lab's builder)."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    data = pkcs12.serialize_key_and_certificates(
        b"other",
        client_identity.key,
        client_identity.cert,
        None,
        serialization.BestAvailableEncryption(b"elsewhere"),
    )
    path = tmp_path / "other.p12"
    path.write_bytes(data)
    assert pki.load_identity(path, password="elsewhere").cert == client_identity.cert


def test_load_identity_finds_the_key_beside_the_certificate(client_identity, tmp_path):
    crt, _ = client_identity.write(tmp_path / "alice")
    assert pki.load_identity(crt).cert == client_identity.cert


# ------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "expected",
    [
        CorruptFileError,
        KeyMismatchError,
        MissingFileError,
        PassphraseRequiredError,
        WrongPasswordError,
    ],
    ids=lambda cls: cls.__name__,
)
def test_each_loader_failure_is_a_lab_error_the_cli_prints_as_one_line(
    expected, client_identity, server_identity, tmp_path, capsys
):
    """What a learner can get wrong with files comes back as a LabError: one line, no traceback."""
    crt, key = client_identity.write(tmp_path / "alice", password="secret")
    pfx = client_identity.to_pkcs12(tmp_path / "alice.pfx", "right")
    (tmp_path / "cut.crt").write_bytes(client_identity.cert_pem[:200])
    server_identity.write(tmp_path / "server")
    cause = {
        CorruptFileError: lambda: pki.load_certificate(tmp_path / "cut.crt"),
        KeyMismatchError: lambda: pki.load_pair(crt, tmp_path / "server.key"),
        MissingFileError: lambda: pki.load_certificate(tmp_path / "nope.crt"),
        PassphraseRequiredError: lambda: pki.load_private_key(key),
        WrongPasswordError: lambda: pki.load_pkcs12(pfx, "wrong"),
    }[expected]
    with pytest.raises(expected) as info:
        cause()
    assert isinstance(info.value, LabError)
    message = str(info.value)
    assert len(message.splitlines()) == 1  # it names the file it is about
    assert any(
        name in message for name in ("cut.crt", "nope.crt", "alice.crt", "alice.key", "alice.pfx")
    )
    shown = {
        CorruptFileError: ["pki", "show", tmp_path / "cut.crt"],
        MissingFileError: ["pki", "show", tmp_path / "nope.crt"],
        WrongPasswordError: ["pki", "show", pfx, "--password", "wrong"],
    }.get(expected)
    if shown:
        from lab import cli

        assert cli.main([str(a) for a in shown]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and "unexpected" not in err[0]


def test_wrong_pfx_password_raises_wrong_password_error_saying_what_to_do(
    client_identity, tmp_path
):
    pfx = client_identity.to_pkcs12(tmp_path / "alice.pfx", "right")
    with pytest.raises(WrongPasswordError, match="wrong password") as info:
        pki.load_pkcs12(pfx, "wrong")
    assert "check the password, or re-export the .pfx" in str(info.value)
    assert "alice.pfx" in str(info.value)


def test_wrong_key_passphrase_raises_wrong_password_error_saying_what_to_do(
    client_identity, tmp_path
):
    _, key = client_identity.write(tmp_path / "alice", password="right")
    with pytest.raises(WrongPasswordError, match="wrong passphrase") as info:
        pki.load_private_key(key, "wrong")
    assert "check it, or re-export the key" in str(info.value)


def test_a_wrong_passphrase_is_reported_as_such_even_when_the_padding_happens_to_decrypt(tmp_path):
    """About one wrong passphrase in 256 decrypts to valid-looking padding; the library then
    complains about the key data, not the password. Re-encrypt (a fresh salt each time) until
    that case occurs, and check the lab calls every one of them a wrong passphrase."""
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "alice.key"
    padding_decrypted = 0
    for _ in range(3000):
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"right"),
            )
        )
        with pytest.raises(WrongPasswordError, match="wrong passphrase"):
            pki.load_private_key(path, "wrong")
        try:
            serialization.load_pem_private_key(path.read_bytes(), b"wrong")
        except ValueError as exc:
            if "password" not in str(exc).lower() and "decrypt" not in str(exc).lower():
                padding_decrypted += 1
                break
    assert padding_decrypted == 1  # the case was met (the chance of 3000 misses is about 1e-5)


def test_missing_passphrase_raises_passphrase_required_error(client_identity, tmp_path):
    _, key = client_identity.write(tmp_path / "alice", password="right")
    with pytest.raises(PassphraseRequiredError, match="is encrypted; give its passphrase"):
        pki.load_private_key(key)


def test_passphrase_for_an_unencrypted_key_is_ignored(client_identity, tmp_path):
    _, key = client_identity.write(tmp_path / "alice")
    assert key_matches(client_identity.cert, pki.load_private_key(key, "unneeded"))


def test_truncated_pem_certificate_raises_corrupt_file_error(server_identity, tmp_path):
    path = tmp_path / "server.crt"
    data = server_identity.cert_pem
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match="truncated") as info:
        pki.load_certificate(path)
    assert "re-copy it, or re-issue it" in str(info.value)


def test_chain_file_truncated_inside_the_intermediate_raises_corrupt_file_error(
    server_identity, tmp_path
):
    """Cut after the leaf, in the middle of the intermediate: the chain must not silently lose it."""
    path = tmp_path / "server.crt"
    leaf_pem = server_identity.cert_pem
    path.write_bytes(server_identity.chain_pem[: len(leaf_pem) + 60])
    with pytest.raises(CorruptFileError, match="truncated"):
        pki.load_certificates(path)


def test_truncated_pem_key_raises_corrupt_file_error(client_identity, tmp_path):
    _, key = client_identity.write(tmp_path / "alice")
    key.write_bytes(key.read_bytes()[:100])
    with pytest.raises(CorruptFileError, match="not a readable private key"):
        pki.load_private_key(key)


def test_load_pair_with_a_foreign_key_raises_key_mismatch_error(
    server_identity, client_identity, tmp_path
):
    crt, _ = server_identity.write(tmp_path / "server")
    _, other_key = client_identity.write(tmp_path / "alice")
    with pytest.raises(KeyMismatchError, match="alice.key does not belong to server.crt") as info:
        pki.load_pair(crt, other_key)
    assert "regenerate the pair or point to the right key" in str(info.value)


def test_ca_load_with_a_foreign_key_raises_key_mismatch_error(root_ca, client_identity, tmp_path):
    crt, _ = root_ca.write(tmp_path / "rootCA")
    _, other_key = client_identity.write(tmp_path / "alice")
    with pytest.raises(KeyMismatchError, match="regenerate the pair"):
        pki.CertificateAuthority.load(crt, other_key)


@pytest.mark.parametrize(
    "loader", [pki.load_certificate, pki.load_private_key, lambda p: pki.load_pkcs12(p, "pw")]
)
def test_missing_file_raises_missing_file_error_naming_it(tmp_path, loader):
    path = tmp_path / "nowhere.crt"
    with pytest.raises(MissingFileError, match="does not exist") as info:
        loader(path)
    assert str(path) in str(info.value)
    assert "pki init" in str(info.value)


def test_directory_instead_of_a_file_raises_missing_file_error(tmp_path):
    with pytest.raises(MissingFileError, match="is a directory"):
        pki.load_certificate(tmp_path)


def test_key_passed_where_a_certificate_is_expected_raises_corrupt_file_error(
    client_identity, tmp_path
):
    _, key = client_identity.write(tmp_path / "alice")
    with pytest.raises(CorruptFileError, match="holds a private key, not a certificate") as info:
        pki.load_certificate(key)
    assert "did you swap --cert and --key?" in str(info.value)


def test_certificate_passed_where_a_key_is_expected_raises_corrupt_file_error(
    client_identity, tmp_path
):
    crt, _ = client_identity.write(tmp_path / "alice")
    with pytest.raises(CorruptFileError, match="does not contain a private key"):
        pki.load_private_key(crt)


def test_pfx_passed_where_a_certificate_is_expected_points_to_load_pkcs12(
    client_identity, tmp_path
):
    pfx = client_identity.to_pkcs12(tmp_path / "alice.pfx", "pw")
    with pytest.raises(CorruptFileError, match=r"load_pkcs12\(path, password\)"):
        pki.load_certificate(pfx)


def test_pem_passed_where_a_pfx_is_expected_points_to_load_pair(client_identity, tmp_path):
    crt, _ = client_identity.write(tmp_path / "alice")
    with pytest.raises(CorruptFileError, match=r"not a PKCS#12 bundle; load it with load_pair\(\)"):
        pki.load_pkcs12(crt, "pw")


def test_random_bytes_as_certificate_raise_corrupt_file_error(tmp_path):
    path = tmp_path / "noise.crt"
    path.write_bytes(os.urandom(64))
    with pytest.raises(CorruptFileError, match="neither a PEM nor a DER certificate"):
        pki.load_certificate(path)


def test_a_pfx_loaded_without_its_password_asks_for_the_password(tmp_path, client_identity):
    pfx = client_identity.to_pkcs12(tmp_path / "c.pfx", password="pw")
    with pytest.raises(PassphraseRequiredError, match="password-protected; give its password"):
        pki.load_pkcs12(pfx, None)
