"""Read a certificate the way a security engineer does, as aligned text.

Why: most mTLS failures are visible in the certificate itself (no SAN, the wrong
EKU, expired, CA:TRUE on a leaf). :func:`describe` puts every field that matters
on one screen, with the two fingerprints people pin on: the SHA-256 thumbprint of
the whole certificate (changes on every re-issue) and the SPKI pin, the SHA-256 of
the public key (survives re-issue with the same key; curl's ``--pinnedpubkey``).
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

from lab.pki.fields import EKU_BY_OID, utcnow
from lab.pki.files import certificate_of


def thumbprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, lowercase hex (what `openssl x509 -fingerprint -sha256` shows, without colons)."""
    return cert.fingerprint(hashes.SHA256()).hex()


def spki_pin(cert_or_public_key) -> str:
    """Base64 SHA-256 of the SubjectPublicKeyInfo: the HPKP / curl ``sha256//`` pin."""
    pub = (
        cert_or_public_key.public_key()
        if isinstance(cert_or_public_key, x509.Certificate)
        else cert_or_public_key
    )
    der = pub.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def key_description(public_key) -> str:
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA {public_key.key_size}"
    if isinstance(public_key, ec.EllipticCurvePublicKey):  # NIST P-256 is SEC's secp256r1...
        curve = public_key.curve.name
        nist = curve.startswith("secp") and curve.endswith("r1")
        return f"ECDSA {f'P-{curve[4:-2]}' if nist else curve}"
    return type(public_key).__name__.removesuffix("PublicKey")  # Ed25519, Ed448, DSA


def common_name(name: x509.Name) -> str:
    cn = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cn[0].value) if cn else ""


def _ext(cert: x509.Certificate, oid):
    try:
        return cert.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return None


#: SAN entry types and Key Usage bits in openssl's spelling.
_SAN_PREFIX = {
    x509.DNSName: "DNS",
    x509.IPAddress: "IP",
    x509.RFC822Name: "email",
    x509.UniformResourceIdentifier: "URI",
}
_KEY_USAGE = {
    "digital_signature": "digitalSignature",
    "content_commitment": "nonRepudiation",
    "key_encipherment": "keyEncipherment",
    "data_encipherment": "dataEncipherment",
    "key_agreement": "keyAgreement",
    "key_cert_sign": "keyCertSign",
    "crl_sign": "cRLSign",
}


def san_strings(cert: x509.Certificate) -> list[str]:
    """SAN entries as ``DNS:x``, ``IP:x``, ``email:x``, ``URI:x`` (openssl's spelling)."""
    ext = _ext(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    names = ext.value if ext else []
    return [f"{_SAN_PREFIX.get(type(gn), type(gn).__name__)}:{gn.value}" for gn in names]


def eku_names(cert: x509.Certificate) -> list[str] | None:
    """EKU names, or None when the certificate has no EKU extension at all."""
    ext = _ext(cert, ExtensionOID.EXTENDED_KEY_USAGE)
    if ext is None:
        return None
    return [EKU_BY_OID.get(oid, oid.dotted_string) for oid in ext.value]


def key_usage_names(cert: x509.Certificate) -> list[str] | None:
    """The Key Usage bits that are set, or None when the certificate has no Key Usage at all."""
    ext = _ext(cert, ExtensionOID.KEY_USAGE)
    if ext is None:
        return None
    return [label for attr, label in _KEY_USAGE.items() if getattr(ext.value, attr)]


def is_ca(cert: x509.Certificate) -> bool:
    """True when basicConstraints says CA:TRUE (no extension: not a CA)."""
    ext = _ext(cert, ExtensionOID.BASIC_CONSTRAINTS)
    return bool(ext and ext.value.ca)


def path_length(cert: x509.Certificate) -> int | None:
    """A CA's pathLen: how many CAs may stand below it (None: no limit, or not a CA)."""
    ext = _ext(cert, ExtensionOID.BASIC_CONSTRAINTS)
    return ext.value.path_length if ext and ext.value.ca else None


def role(cert: x509.Certificate) -> str:
    """What the certificate is for: root CA, intermediate CA, server, client, server+client, leaf."""
    if is_ca(cert):
        return "root CA" if cert.issuer == cert.subject else "intermediate CA"
    ekus = eku_names(cert)
    if ekus is None:
        return "leaf (any use)"
    server, client = "serverAuth" in ekus, "clientAuth" in ekus
    if server and client:
        return "server+client"
    return "server" if server else "client" if client else "leaf (other use)"


def days_left(cert_or_not_after, now: _dt.datetime | None = None) -> int:
    """Whole days until notAfter; negative once expired (-1 on the day after it expired).

    Takes a certificate (or a lab CA / IssuedCertificate) or a ``notAfter`` datetime.
    """
    if isinstance(cert_or_not_after, _dt.datetime):
        not_after = cert_or_not_after
    else:
        not_after = certificate_of(cert_or_not_after).not_valid_after_utc
    now = now or utcnow(exact=True)
    return (not_after - now).days if not_after > now else -((now - not_after).days + 1)


@dataclass
class CertificateSummary:
    """Everything worth knowing about one certificate, as labelled rows shown as aligned text
    (in a terminal, and as the notebook's display)."""

    table: list[tuple[str, str]]

    def as_text(self) -> str:
        width = max(len(k) for k, _ in self.table)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in self.table)

    __str__ = __repr__ = as_text


def describe(cert: x509.Certificate) -> CertificateSummary:
    """Summarise ``cert`` (accepts an IssuedCertificate or CA too)."""
    cert = certificate_of(cert)
    left, san, ku, eku = days_left(cert), san_strings(cert), key_usage_names(cert), eku_names(cert)
    pathlen = path_length(cert)
    algo = cert.signature_hash_algorithm
    table = [
        ("Subject", cert.subject.rfc4514_string()),
        (
            "Issuer",
            cert.issuer.rfc4514_string()
            + ("  (self-signed)" if cert.issuer == cert.subject else ""),
        ),
        ("Serial", format(cert.serial_number, "x")),
        ("Valid from", cert.not_valid_before_utc.strftime("%Y-%m-%d %H:%M:%S UTC")),
        ("Valid until", cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S UTC")),
        ("Days left", str(left) + ("  (EXPIRED)" if left < 0 else "")),
        ("Key", key_description(cert.public_key())),
        ("Signature", algo.name.upper() if algo else "none (EdDSA)"),
        ("SAN", ", ".join(san) if san else "(none)"),
        ("Key usage", ", ".join(ku) if ku is not None else "(none)"),
        ("Extended key usage", ", ".join(eku) if eku is not None else "(none: any use)"),
        (
            "CA",
            "no"
            if not is_ca(cert)
            else "yes" + (f" (pathlen {pathlen})" if pathlen is not None else ""),
        ),
        ("SHA-256 thumbprint", thumbprint(cert)),
        ("SPKI SHA-256 pin", spki_pin(cert)),
    ]
    return CertificateSummary(table)
