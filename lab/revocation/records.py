"""The CA's revocation record: what it revoked, and the signed CRLs it issues from that record.

``crl.pem`` on disk *is* the record, so ``pki revoke``, ``pki crl`` and the OCSP
responder share it; :class:`Revocations` re-reads it when it changes.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from cryptography import x509
from cryptography.exceptions import InvalidSignature

try:
    import fcntl
except ImportError:  # Windows: no flock; one writer at a time is then the learner's job
    fcntl = None
from cryptography.hazmat.primitives import serialization

from lab.pki import CertificateAuthority, make_folder, write_public
from lab.pki.fields import utcnow
from lab.pki.keys import signature_hash
from lab.revocation.crl import (
    DEFAULT_CRL_VALIDITY,
    RevocationError,
    load_crls,
    reason_flag,
    reason_name,
    revoked_reason,
)


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
        self._lock = threading.Lock()
        self._number_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Revocations of {self.ca.cert.subject.rfc4514_string()}: {len(self._entries)} revoked>"

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def entries(self) -> list[Revoked]:
        with self._lock:
            return sorted(
                self._entries.values(), key=lambda e: e.revoked_at
            )  # stable: insertion order within a second

    def revoke(
        self,
        cert: x509.Certificate | object | int,
        reason: str | x509.ReasonFlags = "unspecified",
        *,
        at: _dt.datetime | None = None,
    ) -> Revoked:
        """Revoke a certificate (a lab certificate, an x509 certificate, or a serial number).

        A certificate the CA did not issue is refused, by signature: a CRL speaks only for its
        issuer, and another CA may carry the very same name. So is the CA's own certificate:
        a CA that lists itself in its CRL makes nginx refuse every client it issued.
        """
        cert = getattr(cert, "cert", cert)
        if isinstance(cert, x509.Certificate):
            try:
                cert.verify_directly_issued_by(self.ca.cert)
            except (ValueError, TypeError, InvalidSignature):
                raise RevocationError(
                    f"{cert.subject.rfc4514_string()} was not issued by this CA's key (its "
                    f"issuer's name is {cert.issuer.rfc4514_string()}); revoke it with the CA "
                    f"that issued it"
                ) from None
            if cert.public_key() == self.ca.cert.public_key():
                raise RevocationError(
                    f"{cert.subject.rfc4514_string()} is this CA's own certificate; its CRL "
                    f"cannot revoke it. To retire the CA, stop trusting it and make a new one"
                )
            serial = cert.serial_number
        elif isinstance(cert, int):
            serial = cert
        else:
            raise TypeError(f"cannot revoke {cert!r}: give a certificate or a serial number")
        entry = Revoked(serial, reason_flag(reason), at or utcnow())
        with self._lock:
            self._entries[serial] = entry
        return entry

    def status(self, serial: int) -> Revoked | None:
        """The revocation entry for ``serial``, or None when it is not revoked."""
        with self._lock:
            return self._entries.get(serial)

    # ------------------------------------------------------------------- CRLs
    @property
    def counter_path(self) -> Path | None:
        """The file that keeps the last CRL number issued: ``crl.pem`` -> ``crl.crlnumber``.

        Why a file of its own: RFC 5280 5.2.3 wants CRL numbers that only go up, but
        several writers sign CRLs from the same record (``pki revoke``, ``pki crl``, the
        responder's ``/crl``), each starting from the number in ``crl.pem``. One shared
        counter (OpenSSL's ``ca`` keeps a ``crlnumber`` file for the same reason) is the
        only way none of them hands out a number twice, or a smaller one.
        """
        return self.path.with_suffix(".crlnumber") if self.path is not None else None

    def _next_crl_number(self) -> int:
        """max(counter file, this record's number) + 1, stored before it is used."""
        with self._number_lock:
            counter = self.counter_path
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
        for e in self.entries:
            rb = (
                x509.RevokedCertificateBuilder()
                .serial_number(e.serial)
                .revocation_date(e.revoked_at)
            )
            if (
                e.reason != x509.ReasonFlags.unspecified
            ):  # RFC 5280: omit the code rather than say "unspecified"
                rb = rb.add_extension(x509.CRLReason(e.reason), critical=False)
            builder = builder.add_revoked_certificate(rb.build())
        return builder.sign(self.ca.key, signature_hash(self.ca.key))

    def write_crl(self, path: str | os.PathLike | None = None, **crl_options) -> Path:
        """Sign a fresh CRL and write it as PEM (public: a CRL holds no secret)."""
        target = Path(path) if path else self.path
        if target is None:
            raise ValueError("give the path of the CRL file to write")
        if self.path is None:  # bind first, so the CRL number is counted beside this file
            self.path = target
        data = self.crl(**crl_options).public_bytes(serialization.Encoding.PEM)
        out = write_public(target, data)
        if self.path is None or target == self.path:
            self.path = target
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
