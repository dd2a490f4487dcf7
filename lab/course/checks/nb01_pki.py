"""Self-checks for notebook 01's exercises: a second client certificate; a client extfile.

The extfile check runs the real thing: ``openssl x509 -req -extfile`` with the learner's
lines, then a handshake with a lab server. Each missing or wrong line gets its own hint.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from lab.course import demo
from lab.course.check import report
from lab.course.extfile import sign_request
from lab.course.observe import observe
from lab.errors import LabError
from lab.pki import IssuedCertificate, generate_key, load_certificate, write_private
from lab.pki.certinfo import eku_names
from lab.tls import client, server

# ------------------------------------------------------------------ the extfile exercise
#: The client the exercise's certificate is for, and the SAN entry that identifies him.
EXTFILE_CLIENT = "dave"
EXTFILE_EMAIL = "dave@lab.test"


def _has_lines(extfile: str) -> bool:
    return any(line.strip() and not line.strip().startswith("#") for line in extfile.splitlines())


def _signed_with(extfile: str, course, tmp: Path) -> IssuedCertificate:
    """A fresh key and request for CN=dave, signed by the course CA with ``extfile``."""
    key = generate_key("ec")
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, EXTFILE_CLIENT)]))
        .sign(key, hashes.SHA256())
    )
    csr_file = tmp / "request.pem"
    csr_file.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    crt = sign_request(
        tmp / "openssl",
        csr=csr_file,
        ca_cert=course.ca_file,
        ca_key=write_private(tmp / "ca-key.pem", course.ca.key_pem()),
        extfile=extfile,
        name=EXTFILE_CLIENT,
    )
    return IssuedCertificate(load_certificate(crt), key)


def _extension_hint(cert) -> str:
    """The first thing a client certificate needs that ``cert`` lacks, as a hint; "" if none."""

    def ext(cls):
        try:
            return cert.extensions.get_extension_for_class(cls).value
        except x509.ExtensionNotFound:
            return None

    if cert.version != x509.Version.v3:
        return "openssl made a version 1 certificate: none of your lines became an extension"
    bc, ku, eku = ext(x509.BasicConstraints), ext(x509.KeyUsage), eku_names(cert)
    if bc is None:
        return (
            "no basicConstraints line: say that this certificate is not a CA (and make it critical)"
        )
    if bc.ca:
        return (
            "basicConstraints says CA:TRUE: "
            "a client certificate must not be able to sign certificates"
        )
    if ku is None:
        return "no keyUsage line: which Key Usage bit does the client's handshake signature need?"
    if not ku.digital_signature:
        return (
            "keyUsage lacks digitalSignature: the client signs its CertificateVerify, "
            "and OpenSSL refuses a client certificate otherwise"
        )
    if ku.key_cert_sign or ku.crl_sign:
        return "keyUsage lets this key sign certificates or CRLs: only a CA needs those bits"
    if eku is None:
        return (
            "no extendedKeyUsage line: "
            "without it the certificate is good for any purpose, a server's too"
        )
    if "clientAuth" not in eku:
        return (
            f"extendedKeyUsage is {', '.join(eku)}: a server refuses that from a client "
            "('unsuitable certificate purpose')"
        )
    if eku != ["clientAuth"]:
        return "extendedKeyUsage allows more than a client: stolen, it could act as a server"
    san = ext(x509.SubjectAlternativeName)
    if san is None:
        return (
            f"no subjectAltName line: put {EXTFILE_CLIENT}'s identity, "
            "his email address, in the SAN"
        )
    if EXTFILE_EMAIL not in san.get_values_for_type(x509.RFC822Name):
        return (
            f"the subjectAltName does not hold the email address {EXTFILE_EMAIL} "
            "(openssl spells it email:...)"
        )
    if ext(x509.SubjectKeyIdentifier) is None:
        return "no subjectKeyIdentifier line: the hash that identifies this certificate's own key"
    if ext(x509.AuthorityKeyIdentifier) is None:
        return "no authorityKeyIdentifier line: it names the CA key that signed this certificate"
    return ""


def exercise_client_extfile(extfile, course) -> bool:
    """dave's extfile: openssl signs it into a v3 client certificate that a lab server accepts.

    Run for real: a fresh key and request for CN=dave, ``openssl x509 -req -extfile`` with the
    course CA in a temporary folder (removed afterwards), an inspection of every extension,
    then a handshake with a lab server that requires client certificates from the course CA.
    """
    if not isinstance(extfile, str):
        return report(
            False, "", "write the extfile as one string, one line per extension: name = value"
        )
    if not _has_lines(extfile):
        return report(
            False,
            "",
            "no lines yet: without them openssl makes a version 1 certificate. "
            "One extension per line: name = value",
        )
    with tempfile.TemporaryDirectory() as tmp:
        try:
            dave = _signed_with(extfile, course, Path(tmp))
        except LabError as exc:
            return report(False, "", f"{exc}; each line reads name = value")
    hint = _extension_hint(dave.cert)
    if hint:
        return report(False, "", hint)
    with server.MTLSServer(demo.create_app(), certificate=course.server, trust=course.ca) as s:
        seen = observe(s, lambda: client.session(dave, trust=course.ca).get(s.url + "/api/secure"))
    if not seen.ok:
        return report(False, "", f"a lab server refused the certificate: {seen.server_saw}")
    return report(
        True,
        f"openssl made a v3 client certificate, and the lab server answered: {seen.body}",
        "",
    )
