"""Self-check for notebook 01's exercise: dave's client extfile, signed by the real openssl.

The check does what the learner would at work: a key and a request for CN=dave, then
``openssl x509 -req ... -extfile`` with the learner's lines and the course CA (in a scratch
folder removed afterwards), a look at each extension openssl wrote, and a handshake with a
lab server that requires client certificates. Each missing or wrong line gets its own hint,
never the line itself.
"""

from __future__ import annotations

import re
import subprocess

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from lab import housekeeping
from lab.course import demo
from lab.course.check import hint, passed
from lab.course.observe import observe
from lab.pki import IssuedCertificate, generate_key, load_certificate, write_private
from lab.pki.certinfo import eku_names
from lab.tls import client, server

#: The guide's signing command, with the learner's extension file added.
SIGN = (
    "openssl x509 -req -in dave.csr -CA rootCA.pem -CAkey rootCA.key -CAcreateserial"
    " -out dave.crt -days 365 -sha256 -extfile dave.ext"
)


def openssl_reason(stderr: str) -> str:
    """The line of openssl's complaint that names the problem, without its error codes."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:  # a malformed line: "x509: Error on line 2 of config file ..."
        if "Error on line" in line:
            return line.split(": ", 1)[-1]
    for line in lines:  # a bad value: "...:error in extension:...:name=X, value=Y"
        found = re.search(r"name=([^,]+), value=(.*)$", line)
        if found:
            return f"it cannot read `{found.group(1)} = {found.group(2)}`"
    return lines[-1] if lines else "no reason given"


def _sign(extfile: str, course) -> IssuedCertificate | str:
    """dave's certificate as openssl signs it with ``extfile``, or openssl's reason for refusing."""
    key = generate_key("ec")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dave")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    folder = housekeeping.temporary_folder("nb01-check")  # it holds a copy of the CA key
    try:
        (folder / "dave.csr").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
        (folder / "rootCA.pem").write_bytes(course.ca_file.read_bytes())
        write_private(folder / "rootCA.key", course.ca.key_pem())
        (folder / "dave.ext").write_text(extfile)
        done = subprocess.run(SIGN.split(), cwd=folder, capture_output=True, text=True)
        if done.returncode != 0:
            return openssl_reason(done.stderr)
        return IssuedCertificate(load_certificate(folder / "dave.crt"), key)
    finally:
        housekeeping.remove_folder(folder)


def _extension_hint(cert: x509.Certificate) -> str:
    """The first thing a client certificate needs that ``cert`` lacks, as a hint; "" if none."""

    def ext(cls):
        try:
            return cert.extensions.get_extension_for_class(cls).value
        except x509.ExtensionNotFound:
            return None

    if cert.version != x509.Version.v3:
        return "openssl made a version 1 certificate: none of your lines became an extension"
    bc, ku, san = ext(x509.BasicConstraints), ext(x509.KeyUsage), ext(x509.SubjectAlternativeName)
    eku = eku_names(cert)
    if bc is None:
        return "no basicConstraints line: say that this is not a CA (and make it critical)"
    if bc.ca:
        return "basicConstraints says CA:TRUE: a client must not sign certificates"
    if ku is None:
        return "no keyUsage line: which bit does the client's handshake signature need?"
    if not ku.digital_signature:
        return (
            "keyUsage lacks digitalSignature: the client signs its CertificateVerify, "
            "and OpenSSL refuses a client certificate otherwise"
        )
    if ku.key_cert_sign or ku.crl_sign:
        return "keyUsage has bits that only a CA needs"
    if eku is None:
        return "no extendedKeyUsage line: without it the certificate is good for any purpose, a server's too"
    if "clientAuth" not in eku:
        return f"extendedKeyUsage is {', '.join(eku)}: a server refuses that from a client"
    if len(eku) > 1:
        return "extendedKeyUsage allows more than a client: stolen, it could serve"
    if san is None:
        return "no subjectAltName line: put dave's identity, his email address, in the SAN"
    if "dave@lab.test" not in san.get_values_for_type(x509.RFC822Name):
        return "the subjectAltName does not hold the email address dave@lab.test (email:...)"
    if ext(x509.SubjectKeyIdentifier) is None:
        return "no subjectKeyIdentifier line: the hash that names this certificate's own key"
    if ext(x509.AuthorityKeyIdentifier) is None:
        return "no authorityKeyIdentifier line: it names the CA key that signed this certificate"
    return ""


def exercise_client_extfile(extfile, course) -> bool:
    """dave's extfile: openssl signs it into a client certificate that a lab server accepts."""
    if not isinstance(extfile, str):
        return hint("write the extfile as one string, one line per extension")
    if not any(line.strip() and not line.lstrip().startswith("#") for line in extfile.split("\n")):
        return hint("no lines yet: one extension per line, name = value")
    dave = _sign(extfile, course)
    if isinstance(dave, str):
        return hint(f"openssl refused dave.ext: {dave}; each line reads name = value")
    problem = _extension_hint(dave.cert)
    if problem:
        return hint(problem)
    with server.MTLSServer(demo.create_app(), certificate=course.server, trust=course.ca) as s:
        seen = observe(s, lambda: client.session(dave, trust=course.ca).get(s.url + "/api/secure"))
    if not seen.ok:
        return hint(f"a lab server refused the certificate: {seen.server_saw}")
    return passed(f"openssl made dave's client certificate; the server said: {seen.body}")
