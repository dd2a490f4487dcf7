"""Every extension of one certificate, a row each: exactly what a verifier will read.

Why: :func:`lab.pki.certinfo.describe` summarises the fields that matter. When you
build a certificate yourself (``x509.CertificateBuilder``) or sign one with
``openssl x509 -req -extfile``, you want to see what actually went in: each
extension, whether it is critical, and its value in openssl's spelling.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from lab.course.table import Table
from lab.pki.certinfo import eku_names, key_usage_names, san_strings

#: openssl's display names (``openssl x509 -text``), without the "X509v3" prefix.
NAMES = {
    ExtensionOID.SUBJECT_ALTERNATIVE_NAME: "Subject Alternative Name",
    ExtensionOID.BASIC_CONSTRAINTS: "Basic Constraints",
    ExtensionOID.KEY_USAGE: "Key Usage",
    ExtensionOID.EXTENDED_KEY_USAGE: "Extended Key Usage",
    ExtensionOID.SUBJECT_KEY_IDENTIFIER: "Subject Key Identifier",
    ExtensionOID.AUTHORITY_KEY_IDENTIFIER: "Authority Key Identifier",
}


def _hex(data: bytes) -> str:
    return ":".join(f"{b:02X}" for b in data)


def _value(cert: x509.Certificate, ext: x509.Extension) -> str:
    value = ext.value
    if isinstance(value, x509.BasicConstraints):
        if not value.ca:
            return "CA:FALSE"
        return "CA:TRUE" + (
            f", pathlen:{value.path_length}" if value.path_length is not None else ""
        )
    if isinstance(value, x509.KeyUsage):
        return ", ".join(key_usage_names(cert) or [])
    if isinstance(value, x509.ExtendedKeyUsage):
        return ", ".join(eku_names(cert) or [])
    if isinstance(value, x509.SubjectAlternativeName):
        return ", ".join(san_strings(cert))
    if isinstance(value, x509.SubjectKeyIdentifier):
        return _hex(value.digest)
    if isinstance(value, x509.AuthorityKeyIdentifier):
        return (
            "keyid:" + _hex(value.key_identifier) if value.key_identifier else "(issuer name only)"
        )
    return type(value).__name__


def extension_table(cert) -> Table:
    """One row per extension: name, critical or not, value. Accepts an IssuedCertificate too.

    A certificate without extensions (X.509 version 1) gets one row that says so.
    """
    cert = getattr(cert, "cert", cert)
    rows = [
        (
            NAMES.get(ext.oid, getattr(ext.oid, "_name", ext.oid.dotted_string)),
            "critical" if ext.critical else "",
            _value(cert, ext),
        )
        for ext in cert.extensions
    ]
    if not rows:
        rows = [("(none)", "", f"X.509 {cert.version.name}: a certificate without extensions")]
    return Table(["Extension", "Critical", "Value"], rows)


__all__ = ["extension_table"]
