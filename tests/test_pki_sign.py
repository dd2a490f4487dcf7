"""``python -m lab pki sign CSR``: the CA signs what it checked, and refuses the rest in one line."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lab.course import coursepki


def make_csr(folder, name="alice", *, key=None, extensions=(), subject=None, stem="client"):
    """A client's key and CSR, made on the client's side: the key file stays in ``folder``."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        subject or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    )
    for ext, critical in extensions:
        builder = builder.add_extension(ext, critical=critical)
    csr = builder.sign(key, hashes.SHA256())
    path = folder / f"{stem}.csr"
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    return path


def sign(run_lab, course_dir, csr, *extra):
    return run_lab("pki", "sign", csr, "--dir", course_dir, *extra)


def test_valid_csr_becomes_a_client_certificate_the_ca_decided_on(run_lab, course_dir, tmp_path):
    wants_server = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
    san = x509.SubjectAlternativeName([x509.RFC822Name("alice@lab.test")])
    csr = make_csr(tmp_path, extensions=[(wants_server, False), (san, False)])
    result = sign(run_lab, course_dir, csr, "--san", "alice@lab.test")
    assert result.rc == 0, result.stderr
    assert "not copied" in result.stdout and "ExtendedKeyUsage" in result.stdout
    crt = tmp_path / "client.crt"
    cert = x509.load_pem_x509_certificate(crt.read_bytes())
    ca = coursepki.load_ca(course_dir)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alice"
    assert cert.issuer == ca.cert.subject
    cert.verify_directly_issued_by(ca.cert)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]  # the CA's EKU, not the CSR's
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.RFC822Name) == ["alice@lab.test"]


def test_existing_certificate_is_kept_without_force(run_lab, course_dir, tmp_path):
    csr = make_csr(tmp_path)
    assert sign(run_lab, course_dir, csr).rc == 0
    before = (tmp_path / "client.crt").read_bytes()
    again = sign(run_lab, course_dir, csr)
    assert again.rc == 1 and "--force" in again.stderr
    assert (tmp_path / "client.crt").read_bytes() == before
    assert sign(run_lab, course_dir, csr, "--force").rc == 0
    assert (tmp_path / "client.crt").read_bytes() != before


def tampered(folder):
    """A CSR whose subject was changed after signing: it parses, its signature fails."""
    path = make_csr(folder, "alice")
    der = x509.load_pem_x509_csr(path.read_bytes()).public_bytes(serialization.Encoding.DER)
    path.write_bytes(der.replace(b"alice", b"admin"))
    return path


BAD = {
    "signature": (tampered, "signature does not verify"),
    "asks for a CA": (
        lambda f: make_csr(
            f, extensions=[(x509.BasicConstraints(ca=True, path_length=None), True)]
        ),
        "asks for a CA certificate",
    ),
    "names not granted": (
        lambda f: make_csr(
            f, extensions=[(x509.SubjectAlternativeName([x509.DNSName("bank.example")]), False)]
        ),
        "names the CA does not grant: bank.example",
    ),
    "subject attribute": (
        lambda f: make_csr(
            f,
            subject=x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Other Corp"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "alice"),
                ]
            ),
        ),
        "O=Other Corp",
    ),
    "weak key": (
        lambda f: make_csr(f, key=rsa.generate_private_key(65537, 1024)),
        "RSA-1024",
    ),
    "not a CSR": (
        lambda f: (f / "client.csr").write_text("hello\n") and f / "client.csr",
        "is not a certificate signing request",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_csr_is_refused_in_one_line(run_lab, course_dir, tmp_path, case):
    make, message = BAD[case]
    result = sign(run_lab, course_dir, make(tmp_path))
    assert result.rc == 1
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and not result.has_traceback
    assert not (tmp_path / "client.crt").exists()


def test_missing_csr_argument_is_a_usage_error(run_lab, course_dir):
    result = run_lab("pki", "sign", "--dir", course_dir)
    assert result.rc == 2 and "csr" in result.stderr
