"""CRLs: reason codes, the extensions that say where to look, and reading CRL files safely.

Why a module of its own: a CRL is the one revocation artefact that travels as a
file (``crl.pem``, a distribution point's download, nginx's ``ssl_crl``), and every
consumer must read it the same careful way: PEM or DER, signed by the right CA,
and nothing else in the file (:func:`trusted_crl_file`: OpenSSL would take any
certificate in a "CRL" file as a trust anchor).
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import AuthorityInformationAccessOID

from lab.errors import CorruptFileError, LabError, MissingFileError

#: RFC 5280 reason names (what openssl, nginx logs and ``pki revoke --reason`` use).
REASONS: dict[str, x509.ReasonFlags] = {
    f.value: f for f in x509.ReasonFlags if f is not x509.ReasonFlags.remove_from_crl
}
REASON_NAMES = {flag: name for name, flag in REASONS.items()}

#: How long a CRL is good for by default (a week, like many enterprise CAs). The
#: verifier must fetch a new one after nextUpdate, so this is also the longest a
#: revocation can go unnoticed by a cache that respects nextUpdate.
DEFAULT_CRL_VALIDITY = _dt.timedelta(days=7)


class RevocationError(LabError, ValueError):
    """A revocation request that cannot be carried out (unknown reason, wrong CA...)."""


def reason_flag(reason: str | x509.ReasonFlags | None) -> x509.ReasonFlags:
    """``"keyCompromise"`` (or ``"key_compromise"``, or the flag itself) as a ReasonFlags."""
    if reason is None:
        return x509.ReasonFlags.unspecified
    if isinstance(reason, x509.ReasonFlags):
        return reason
    if reason in REASONS:
        return REASONS[reason]
    try:
        return x509.ReasonFlags[reason]  # the Python name, key_compromise
    except KeyError:
        raise RevocationError(
            f"unknown revocation reason {reason!r}; use one of {', '.join(REASONS)}"
        ) from None


def reason_name(flag: x509.ReasonFlags | None) -> str:
    return REASON_NAMES.get(flag, "unspecified") if flag else "unspecified"


def ocsp_urls(cert: x509.Certificate) -> list[str]:
    """The OCSP responder URLs in a certificate's Authority Information Access."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return []
    return [
        d.access_location.value
        for d in ext
        if d.access_method == AuthorityInformationAccessOID.OCSP
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
    ]


def revoked_reason(r: x509.RevokedCertificate) -> x509.ReasonFlags:
    """The reason code of one CRL entry (``unspecified`` when the entry carries none)."""
    try:
        return r.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        return x509.ReasonFlags.unspecified


def load_crl(path: str | os.PathLike) -> x509.CertificateRevocationList:
    """A PEM or DER CRL from a file, with a clear error for anything else."""
    return parse_crl(_read_crl_file(path), str(path))


def _read_crl_file(path: str | os.PathLike) -> bytes:
    p = Path(path)
    if p.is_dir():
        raise CorruptFileError(
            f"{p} is a folder, not a CRL file; give the file itself (e.g. {p / 'crl.pem'})"
        )
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise MissingFileError(
            f"CRL file {p} does not exist; create it with `python -m lab pki revoke`"
        ) from None


def parse_crl(data: bytes, where: str = "the CRL") -> x509.CertificateRevocationList:
    try:
        if b"-----BEGIN X509 CRL" in data:
            return x509.load_pem_x509_crl(data)
        if b"-----BEGIN" in data:
            raise CorruptFileError(
                f"{where} is PEM but not a CRL (no 'BEGIN X509 CRL' block); "
                f"did you point at a certificate?"
            )
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        if isinstance(exc, CorruptFileError):
            raise
        raise CorruptFileError(
            f"{where} is not a readable CRL ({str(exc)[:120]}); re-download or re-issue it"
        ) from None


# ------------------------------------------------------ CRL files for OpenSSL
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.S)


def load_crls(path: str | os.PathLike, trust) -> list[x509.CertificateRevocationList]:
    """Every CRL in a PEM (one or more blocks) or DER file, each signed by a CA of ``trust``.

    Why so strict: OpenSSL reads a "CRL file" (``load_verify_locations``, nginx
    ``ssl_crl``) as a bag of objects and adds every *certificate* it finds to the
    trust store, so a CA certificate appended to ``crl.pem`` becomes a trusted CA.
    Anything but CRLs in the file is refused, naming what it holds; so is a CRL
    that no CA of ``trust`` (CA objects, certificates, or a list of them) signed.
    """
    data = _read_crl_file(path)
    anchors = [
        getattr(t, "cert", t) for t in (trust if isinstance(trust, (list, tuple)) else [trust])
    ]
    if b"-----BEGIN" in data:
        blocks = [(m.group(1).decode(), m.group(0)) for m in _PEM_BLOCK.finditer(data)]
        others = sorted({kind for kind, _ in blocks if kind != "X509 CRL"})
        if others:
            where = "besides its CRL(s)" if len(others) < len(blocks) else "and no CRL"
            raise CorruptFileError(
                f"{path} holds a {' and a '.join(others)} {where}; a CRL file must hold "
                f"only CRLs (OpenSSL would trust every certificate in it as a CA)"
            )
        if data.count(b"-----BEGIN") != len(blocks):
            raise CorruptFileError(f"{path} holds an incomplete PEM block; re-export the CRL")
        crls = [parse_crl(block, f"{path} (CRL {i + 1})") for i, (_, block) in enumerate(blocks)]
        if not crls:
            raise CorruptFileError(f"{path} is PEM but holds no complete 'X509 CRL' block")
    else:
        crls = [parse_crl(data, str(path))]
    for i, crl in enumerate(crls):
        if not any(
            crl.issuer == a.subject and crl.is_signature_valid(a.public_key()) for a in anchors
        ):
            raise CorruptFileError(
                f"{path}: CRL {i + 1} of {len(crls)} (issuer {crl.issuer.rfc4514_string()}) is not "
                f"signed by a trusted CA ({', '.join(a.subject.rfc4514_string() for a in anchors) or 'none given'})"
            )
    return crls


def trusted_crl_file(path: str | os.PathLike, trust, into: str | os.PathLike) -> Path:
    """Check ``path`` with :func:`load_crls` and write its CRLs, PEM only, to ``into``/crl.pem.

    The file to hand OpenSSL (``MTLSServer(crl=...)``, nginx ``ssl_crl``): only CRLs,
    each verified, DER turned into the PEM OpenSSL's CRL loader expects. The caller
    owns ``into`` (a temporary folder) and removes it when the server stops.
    """
    crls = load_crls(path, trust)
    out = Path(into)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "crl.pem"
    target.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in crls))
    return target
