"""CRLs: the CA's revocation record and the CRLs it signs, reason codes, and reading CRL files safely.

Why a module of its own: a CRL is the one revocation artefact that travels as a
file (``crl.pem``, a distribution point's download, nginx's ``ssl_crl``), and every
consumer must read it the same careful way: PEM or DER, signed by the right CA,
and nothing else in the file (:func:`trusted_crl_file`: OpenSSL would take any
certificate in a "CRL" file as a trust anchor).

``crl.pem`` on disk *is* the CA's record (:class:`Revocations`), so ``pki revoke``,
``pki crl`` and the OCSP responder share it; the record re-reads it when it changes.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import AuthorityInformationAccessOID

try:
    import fcntl
except ImportError:  # Windows: no flock; one writer at a time is then the learner's job
    fcntl = None

from lab.errors import CorruptFileError, LabError, MissingFileError
from lab.pki import CertificateAuthority, make_folder, write_public
from lab.pki.fields import utcnow
from lab.pki.files import trust_certificates
from lab.pki.keys import signature_hash
from lab.pki.verify import signed_by

#: RFC 5280 reason names (what openssl, nginx logs and ``pki revoke --reason`` use).
REASONS: dict[str, x509.ReasonFlags] = {
    f.value: f for f in x509.ReasonFlags if f is not x509.ReasonFlags.remove_from_crl
}

#: How long a CRL is good for by default (a week, like many enterprise CAs). The
#: verifier must fetch a new one after nextUpdate, so this is also the longest a
#: revocation can go unnoticed by a cache that respects nextUpdate.
DEFAULT_CRL_VALIDITY = _dt.timedelta(days=7)


class RevocationError(LabError, ValueError):
    """A revocation request that cannot be carried out (unknown reason, wrong CA...)."""


def reason_name(flag: x509.ReasonFlags | None) -> str:
    """The RFC 5280 name of a reason code (``keyCompromise``); none is ``unspecified``."""
    return flag.value if flag else "unspecified"


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
    pem = b"-----BEGIN X509 CRL" in data
    if b"-----BEGIN" in data and not pem:
        raise CorruptFileError(
            f"{where} is PEM but not a CRL (no 'BEGIN X509 CRL' block); "
            f"did you point at a certificate?"
        )
    try:
        return x509.load_pem_x509_crl(data) if pem else x509.load_der_x509_crl(data)
    except ValueError as exc:
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
    anchors = trust_certificates(trust)
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


# -------------------------------------------------------------- the CA's record
@dataclass(frozen=True)
class Revoked:
    """One revoked certificate: its serial, why, and since when."""

    serial: int
    reason: x509.ReasonFlags
    revoked_at: _dt.datetime

    @property
    def reason_name(self) -> str:
        return reason_name(self.reason)


class Revocations:
    """What one CA has revoked, and the CRLs it signs from that record.

    >>> revoked = Revocations(ca)
    >>> revoked.revoke(bob, "keyCompromise")
    >>> revoked.write_crl("certs/crl.pem")

    Bound to a file (:meth:`load`), the record re-reads the file when it changes
    (:meth:`refresh`), so a running OCSP responder sees ``pki revoke`` at once.
    """

    def __init__(
        self,
        ca: CertificateAuthority,
        entries: Iterable[Revoked] = (),
        *,
        crl_number: int = 0,
        path: str | os.PathLike | None = None,
    ):
        self.ca = ca
        self._entries: dict[int, Revoked] = {e.serial: e for e in entries}
        self.crl_number = crl_number
        self.path = Path(path) if path else None
        self._mtime = self.path.stat().st_mtime_ns if self.path and self.path.exists() else None
        self._lock = threading.Lock()  # the entries and the CRL number

    def __repr__(self) -> str:
        return f"<Revocations of {self.ca.cert.subject.rfc4514_string()}: {len(self._entries)} revoked>"

    def __len__(self) -> int:
        return len(self._entries)

    def revoke(
        self,
        cert: x509.Certificate | object,
        reason: str = "unspecified",
        *,
        at: _dt.datetime | None = None,
    ) -> Revoked:
        """Revoke a certificate (a lab certificate or an x509 certificate).

        A certificate the CA did not issue is refused, by signature: a CRL speaks only for its
        issuer, and another CA may carry the very same name. So is the CA's own certificate:
        a CA that lists itself in its CRL makes nginx refuse every client it issued.
        """
        cert = getattr(cert, "cert", cert)
        if not isinstance(cert, x509.Certificate):
            raise TypeError(f"cannot revoke {cert!r}: give a certificate")
        if not signed_by(cert, self.ca.cert):
            raise RevocationError(
                f"{cert.subject.rfc4514_string()} was not issued by this CA's key (its "
                f"issuer's name is {cert.issuer.rfc4514_string()}); revoke it with the CA "
                f"that issued it"
            )
        if cert.public_key() == self.ca.cert.public_key():
            raise RevocationError(
                f"{cert.subject.rfc4514_string()} is this CA's own certificate; its CRL "
                f"cannot revoke it. To retire the CA, stop trusting it and make a new one"
            )
        if reason not in REASONS:
            raise RevocationError(
                f"unknown revocation reason {reason!r}; use one of {', '.join(REASONS)}"
            )
        entry = Revoked(cert.serial_number, REASONS[reason], at or utcnow())
        with self._lock:
            self._entries[entry.serial] = entry
        return entry

    def status(self, serial: int) -> Revoked | None:
        """The revocation entry for ``serial``, or None when it is not revoked."""
        with self._lock:
            return self._entries.get(serial)

    # ------------------------------------------------------------------- CRLs
    def _next_crl_number(self) -> int:
        """max(counter file, this record's number) + 1, stored before it is used.

        The counter file keeps the last CRL number issued: ``crl.pem`` -> ``crl.crlnumber``.
        Why a file of its own: RFC 5280 5.2.3 wants CRL numbers that only go up, but
        several writers sign CRLs from the same record (``pki revoke``, ``pki crl``),
        each starting from the number in ``crl.pem``. One shared counter (OpenSSL's ``ca``
        keeps a ``crlnumber`` file for the same reason) is the only way none of them hands
        out a number twice, or a smaller one.
        """
        with self._lock:
            counter = self.path.with_suffix(".crlnumber") if self.path is not None else None
            if counter is None:
                self.crl_number += 1
                return self.crl_number
            with _folder_lock(counter.parent):  # pki revoke beside a running responder
                try:
                    text = counter.read_text(encoding="ascii").strip()
                except (FileNotFoundError, UnicodeDecodeError):
                    text = ""
                number = max(int(text) if text.isdigit() else 0, self.crl_number) + 1
                write_public(counter, f"{number}\n".encode())  # a new file, renamed: atomic
            self.crl_number = number
            return number

    def crl(
        self,
        *,
        validity: _dt.timedelta = DEFAULT_CRL_VALIDITY,
        this_update: _dt.datetime | None = None,
        next_update: _dt.datetime | None = None,
    ) -> x509.CertificateRevocationList:
        """Sign a CRL: every entry, thisUpdate (now), nextUpdate, and the next CRL number.

        ``next_update`` in the past makes a *stale* CRL on purpose (the lesson of
        what verifiers do with one).
        """
        this_update = this_update or utcnow()
        next_update = next_update or this_update + validity
        number = self._next_crl_number()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.ca.cert.subject)
            .last_update(this_update)
            .next_update(next_update)
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca.key.public_key()),
                critical=False,
            )
        )
        with self._lock:
            entries = list(self._entries.values())
        for e in entries:
            rb = (
                x509.RevokedCertificateBuilder()
                .serial_number(e.serial)
                .revocation_date(e.revoked_at)
            )
            # RFC 5280: omit the code rather than say "unspecified"
            if e.reason != x509.ReasonFlags.unspecified:
                rb = rb.add_extension(x509.CRLReason(e.reason), critical=False)
            builder = builder.add_revoked_certificate(rb.build())
        return builder.sign(self.ca.key, signature_hash(self.ca.key))

    def write_crl(self, path: str | os.PathLike | None = None, **crl_options) -> Path:
        """Sign a fresh CRL and write it as PEM (public: a CRL holds no secret)."""
        target = Path(path) if path else self.path
        if target is None:
            raise ValueError("give the path of the CRL file to write")
        self.path = self.path or target  # bound first: the CRL number is counted beside it
        out = write_public(target, self.crl(**crl_options).public_bytes(serialization.Encoding.PEM))
        if target == self.path:
            self._mtime = target.stat().st_mtime_ns
        return out

    # ---------------------------------------------------------------- loading
    @classmethod
    def load(cls, ca: CertificateAuthority, path: str | os.PathLike) -> "Revocations":
        """The record behind ``path`` (an empty record when the file does not exist yet).

        The file is read as OpenSSL's CRL files are checked (:func:`load_crls`): only CRLs,
        each signed by this CA, since a CRL speaks only for its issuer.
        """
        p = Path(path)
        if not p.exists():
            return cls(ca, path=p)
        crl = load_crls(p, ca.cert)[0]
        try:
            number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        except x509.ExtensionNotFound:
            number = 0
        return cls(ca, (_entry(r) for r in crl), crl_number=number, path=p)

    def refresh(self) -> bool:
        """Re-read the file this record came from if it changed on disk; True when it did."""
        if self.path is None or not self.path.exists():
            return False
        mtime = self.path.stat().st_mtime_ns
        if mtime == self._mtime:
            return False
        fresh = Revocations.load(self.ca, self.path)
        with self._lock:
            self._entries = fresh._entries
            self.crl_number = max(self.crl_number, fresh.crl_number)
            self._mtime = mtime
        return True


def _entry(r: x509.RevokedCertificate) -> Revoked:
    return Revoked(r.serial_number, revoked_reason(r), r.revocation_date_utc)


@contextlib.contextmanager
def _folder_lock(folder: Path):
    """An exclusive lock on ``folder`` while the counter beside it is read and replaced.

    The folder, not the counter file: the counter is replaced by a rename, and a lock on
    the old file would not stop a writer who opened the new one. No flock (Windows): one
    writer at a time is then the learner's job.
    """
    make_folder(folder)
    if fcntl is None:  # Windows cannot open a folder as a file either
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
