"""Self-check for notebook 01's exercise: dave's client extfile, signed by the real openssl.

The check does what the learner would at work: ``openssl req`` for dave's key and a request
for CN=dave, then ``openssl x509 -req ... -extfile`` with the learner's lines and the course CA
(in a scratch folder removed afterwards), a look at each extension openssl wrote, and a
handshake with a lab server that requires client certificates. A missing or wrong line gets a hint, never
the line itself.
"""

from __future__ import annotations

import re
import subprocess

from cryptography import x509

from lab import housekeeping
from lab.course import demo
from lab.course.check import CheckResult, hint, passed, try_calls
from lab.pki import IssuedCertificate, load_pair, write_private
from lab.pki.certinfo import eku_names
from lab.tls.server import MTLSServer

#: dave's key and request, then the guide's signing command with the learner's extension file.
COMMANDS = (
    "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout dave.key"
    " -out dave.csr -subj /CN=dave",
    "openssl x509 -req -in dave.csr -CA rootCA.pem -CAkey rootCA.key -CAcreateserial"
    " -out dave.crt -days 365 -sha256 -extfile dave.ext",
)


def openssl_reason(stderr: str) -> str:
    """What openssl could not read: the line number, or the extension's name and value."""
    found = re.search(r"Error on line \d+|name=([^,]+), value=(.*)", stderr)
    if found is None:
        return (stderr.strip().splitlines() or ["no reason given"])[-1]
    return f"it cannot read `{found[1]} = {found[2]}`" if found[1] else found[0]


def _sign(extfile: str, course) -> IssuedCertificate | str:
    """dave's certificate as openssl signs it with ``extfile``, or openssl's reason for refusing."""
    folder = housekeeping.temporary_folder("nb01-check")  # it holds a copy of the CA key
    try:
        (folder / "rootCA.pem").write_bytes(course.ca_file.read_bytes())
        write_private(folder / "rootCA.key", course.ca.key_pem())
        (folder / "dave.ext").write_text(extfile)
        for command in COMMANDS:
            done = subprocess.run(command.split(), cwd=folder, capture_output=True, text=True)
            if done.returncode != 0:
                return openssl_reason(done.stderr)
        return load_pair(folder / "dave.crt", folder / "dave.key")
    finally:
        housekeeping.remove_folder(folder)


def _extension_hint(cert: x509.Certificate) -> str:
    """The first thing a client certificate needs that ``cert`` lacks, as a hint; "" if none."""

    def ext(cls):
        try:
            return cert.extensions.get_extension_for_class(cls).value
        except x509.ExtensionNotFound:
            return None

    bc, ku, san = ext(x509.BasicConstraints), ext(x509.KeyUsage), ext(x509.SubjectAlternativeName)
    needs = (
        (bc and not bc.ca, "basicConstraints must say that this is not a CA (and be critical)"),
        (
            ku and ku.digital_signature and not (ku.key_cert_sign or ku.crl_sign),
            "keyUsage must hold the bit the client's handshake signature (CertificateVerify) "
            "needs, and no bit that only a CA needs",
        ),
        (
            eku_names(cert) == ["clientAuth"],
            "extendedKeyUsage must allow a client, and nothing more (without it: any purpose)",
        ),
        (
            san and "dave@lab.test" in san.get_values_for_type(x509.RFC822Name),
            "the subjectAltName must hold dave's identity, his email address dave@lab.test",
        ),
        (
            ext(x509.SubjectKeyIdentifier) and ext(x509.AuthorityKeyIdentifier),
            "a key identifier is missing: name this certificate's own key, and its CA's key",
        ),
    )
    return next((text for ok, text in needs if not ok), "")


def exercise_client_extfile(extfile, course) -> CheckResult:
    """dave's extfile: openssl signs it into a client certificate that a lab server accepts."""
    lines = extfile.split("\n") if isinstance(extfile, str) else []
    if not any(line.strip() and not line.lstrip().startswith("#") for line in lines):
        return hint("no lines yet: one string, one extension per line, name = value")
    dave = _sign(extfile, course)
    if isinstance(dave, str):
        return hint(f"openssl refused dave.ext: {dave}; each line reads name = value")
    problem = _extension_hint(dave.cert)
    if problem:
        return hint(problem)
    server = MTLSServer(demo.create_app(), certificate=course.server, trust=course.ca)
    [seen] = try_calls(server, [dave], course.ca)
    if not seen.ok:
        return hint(f"a lab server refused the certificate: {seen.server_saw}")
    return passed(f"openssl made dave's client certificate; the server said: {seen.body}")
