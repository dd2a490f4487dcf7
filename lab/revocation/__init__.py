"""Revoke certificates and publish it: the CA's revocation record, CRLs, and a CRL checker.

Why this module exists: the guide says "Enable CRL / OCSP" and then sets
``CheckCertificateRevocation = false``. A certificate stays cryptographically
valid until it expires, whatever happened to its key; revocation is only a
*list* the CA publishes, and it protects nobody who does not read it. This
module makes the list real:

* :class:`Revocations` is the CA's record of what it revoked (serial, reason,
  time), and issues signed CRLs from it (thisUpdate, nextUpdate, CRL number);
  ``crl.pem`` on disk *is* that record, so ``pki revoke`` and the OCSP
  responder (:mod:`lab.ocsp`) share it.
* :func:`crl_distribution_point` and :func:`ocsp_access` build the two
  extensions that tell a verifier where to look (pass them to
  ``issue_client(..., extra_extensions=[...])``).
* :class:`CRLChecker` is a revocation hook for :mod:`lab.auth`: a callable
  ``(cert, chain) -> None | reason`` that reads a CRL, verifies its signature,
  caches it until its nextUpdate, and fails hard or soft when the CRL is stale.

Checking at the TLS layer needs none of this code: ``MTLSServer(..., crl=path)``
hands the CRL to OpenSSL (see :func:`lab.tlsconfig.server_context`).
"""

from __future__ import annotations

import datetime as _dt
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import AuthorityInformationAccessOID

from lab.errors import CorruptFileError, LabError, MissingFileError
from lab.pki import CertificateAuthority, write_public
from lab.pki.keys import signature_hash

#: RFC 5280 reason names (what openssl, nginx logs and ``pki revoke --reason`` use).
REASONS: dict[str, x509.ReasonFlags] = {
    "unspecified": x509.ReasonFlags.unspecified,
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "cACompromise": x509.ReasonFlags.ca_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
    "certificateHold": x509.ReasonFlags.certificate_hold,
    "privilegeWithdrawn": x509.ReasonFlags.privilege_withdrawn,
    "aACompromise": x509.ReasonFlags.aa_compromise,
}
REASON_NAMES = {flag: name for name, flag in REASONS.items()}

#: How long a CRL is good for by default (a week, like many enterprise CAs). The
#: verifier must fetch a new one after nextUpdate, so this is also the longest a
#: revocation can go unnoticed by a cache that respects nextUpdate.
DEFAULT_CRL_VALIDITY = _dt.timedelta(days=7)


class RevocationError(LabError, ValueError):
    """A revocation request that cannot be carried out (unknown reason, wrong CA...)."""


class CRLUnavailable(LabError, ConnectionError):
    """The CRL could not be fetched from its distribution point."""


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)


def reason_flag(reason: str | x509.ReasonFlags | None) -> x509.ReasonFlags:
    """``"keyCompromise"`` (or ``"key_compromise"``, or the flag itself) as a ReasonFlags."""
    if reason is None:
        return x509.ReasonFlags.unspecified
    if isinstance(reason, x509.ReasonFlags):
        return reason
    if reason in REASONS:
        return REASONS[reason]
    try:
        return x509.ReasonFlags(reason)
    except ValueError:
        raise RevocationError(
            f"unknown revocation reason {reason!r}; use one of {', '.join(REASONS)}"
        ) from None


def reason_name(flag: x509.ReasonFlags | None) -> str:
    return REASON_NAMES.get(flag, "unspecified") if flag else "unspecified"


# ------------------------------------------------------------------ extensions
def crl_distribution_point(url: str) -> tuple[x509.CRLDistributionPoints, bool]:
    """The CRL Distribution Points extension (non-critical), ready for ``extra_extensions``."""
    dp = x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(url)],
        relative_name=None,
        reasons=None,
        crl_issuer=None,
    )
    return x509.CRLDistributionPoints([dp]), False


def ocsp_access(
    url: str, ca_issuers: str | None = None
) -> tuple[x509.AuthorityInformationAccess, bool]:
    """The Authority Information Access extension naming the OCSP responder (non-critical)."""
    descriptions = [
        x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(url)
        )
    ]
    if ca_issuers:
        descriptions.append(
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(ca_issuers)
            )
        )
    return x509.AuthorityInformationAccess(descriptions), False


def crl_urls(cert: x509.Certificate) -> list[str]:
    """The URLs in a certificate's CRL Distribution Points (empty when it has none)."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    return [
        n.value
        for dp in ext
        for n in (dp.full_name or [])
        if isinstance(n, x509.UniformResourceIdentifier)
    ]


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

        A certificate the CA did not issue is refused: its serial could collide
        with one of ours, and a CRL only speaks for its own issuer.
        """
        cert = getattr(cert, "cert", cert)
        if isinstance(cert, x509.Certificate):
            if cert.issuer != self.ca.cert.subject:
                raise RevocationError(
                    f"{cert.subject.rfc4514_string()} was issued by {cert.issuer.rfc4514_string()}, "
                    f"not by {self.ca.cert.subject.rfc4514_string()}; revoke it with the CA that issued it"
                )
            serial = cert.serial_number
        elif isinstance(cert, int):
            serial = cert
        else:
            raise TypeError(f"cannot revoke {cert!r}: give a certificate or a serial number")
        entry = Revoked(serial, reason_flag(reason), at or _now())
        with self._lock:
            self._entries[serial] = entry
        return entry

    def status(self, serial: int) -> Revoked | None:
        """The revocation entry for ``serial``, or None when it is not revoked."""
        with self._lock:
            return self._entries.get(serial)

    # ------------------------------------------------------------------- CRLs
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
        this_update = this_update or _now()
        next_update = next_update or this_update + validity
        self.crl_number += 1
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.ca.cert.subject)
            .last_update(this_update)
            .next_update(next_update)
            .add_extension(x509.CRLNumber(self.crl_number), critical=False)
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
        data = self.crl(**crl_options).public_bytes(serialization.Encoding.PEM)
        out = write_public(target, data)
        if self.path is None or target == self.path:
            self.path = target
            self._mtime = target.stat().st_mtime_ns
        return out

    # ---------------------------------------------------------------- loading
    @classmethod
    def from_crl(
        cls,
        ca: CertificateAuthority,
        crl: x509.CertificateRevocationList,
        path: str | os.PathLike | None = None,
    ) -> "Revocations":
        """Rebuild the record from a CRL this CA signed (anything else is refused)."""
        _require_signed_by(crl, ca.cert, path or "the CRL")
        try:
            number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        except x509.ExtensionNotFound:
            number = 0
        return cls(ca, (_entry(r) for r in crl), crl_number=number, path=path)

    @classmethod
    def load(cls, ca: CertificateAuthority, path: str | os.PathLike) -> "Revocations":
        """The record behind ``path`` (an empty record when the file does not exist yet)."""
        p = Path(path)
        if not p.exists():
            return cls(ca, path=p)
        return cls.from_crl(ca, load_crl(p), p)

    def refresh(self) -> bool:
        """Re-read the file this record came from if it changed on disk; True when it did."""
        if self.path is None or not self.path.exists():
            return False
        mtime = self.path.stat().st_mtime_ns
        if mtime == self._mtime:
            return False
        fresh = Revocations.from_crl(self.ca, load_crl(self.path), self.path)
        with self._lock:
            self._entries = fresh._entries
            self.crl_number = fresh.crl_number
            self._mtime = mtime
        return True


def _entry(r: x509.RevokedCertificate) -> Revoked:
    try:
        reason = r.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        reason = x509.ReasonFlags.unspecified
    return Revoked(r.serial_number, reason, r.revocation_date_utc)


def load_crl(path: str | os.PathLike) -> x509.CertificateRevocationList:
    """A PEM or DER CRL from a file, with a clear error for anything else."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise MissingFileError(
            f"CRL file {p} does not exist; create it with `python -m lab pki revoke`"
        ) from None
    return parse_crl(data, str(p))


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


def download_crl(url: str, timeout: float = 2.0) -> x509.CertificateRevocationList:
    """Fetch a CRL from a distribution point (plain HTTP, as RFC 5280 publishes them)."""
    import requests  # local: only this path needs the network

    with requests.Session() as http:
        http.trust_env = False  # loopback: no proxies, no CA bundle from the environment
        try:
            r = http.get(url, timeout=timeout)
        except requests.RequestException as exc:
            raise CRLUnavailable(
                f"the CRL distribution point did not answer ({type(exc).__name__})"
            ) from None
    if r.status_code != 200:
        raise CRLUnavailable(f"the CRL distribution point answered HTTP {r.status_code}")
    return parse_crl(r.content, "the downloaded CRL")


def describe_crl(crl: x509.CertificateRevocationList) -> str:
    """A CRL in a few stable lines: issuer, number, update times, each entry with its reason."""
    try:
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        number = "none"
    lines = [
        f"CRL issued by   {crl.issuer.rfc4514_string()}",
        f"CRL number      {number}",
        f"this update     {crl.last_update_utc:%Y-%m-%d %H:%M:%S} UTC",
        f"next update     {crl.next_update_utc:%Y-%m-%d %H:%M:%S} UTC"
        if crl.next_update_utc
        else "next update     none (never stale: a bad idea)",
        f"revoked         {len(list(crl))} certificate(s)",
    ]
    for r in crl:
        lines.append(f"  serial {r.serial_number:x}  {_entry(r).reason_name}")
    return "\n".join(lines)


def _require_signed_by(
    crl: x509.CertificateRevocationList, issuer: x509.Certificate, where
) -> None:
    if crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):
        raise CorruptFileError(
            f"{where} was not signed by {issuer.subject.rfc4514_string()}; a CRL only counts when "
            f"its certificate's own CA signed it"
        )


# ----------------------------------------------------------------- the checker
class FailurePolicy:
    """Hard-fail or soft-fail when revocation status cannot be known (shared by CRL and OCSP checkers).

    Hard-fail refuses the certificate; soft-fail lets it through and notes why,
    which is what most browsers do and why an attacker who can block the
    responder wins. ``last_note`` says what the last check decided.
    """

    hard_fail: bool
    last_note: str

    def _unavailable(self, why: str) -> str | None:
        if self.hard_fail:
            self.last_note = f"hard-fail: {why}"
            return f"revocation status unknown: {why}"
        self.last_note = f"soft-fail: {why}; let through"
        return None


class CRLChecker(FailurePolicy):
    """A revocation hook for :class:`lab.auth.CertificateAuth`: is ``cert`` on its CA's CRL?

    ``source`` is a CRL file, an ``http://`` URL (a CRL Distribution Point), a
    CRL object, or a callable returning CRL bytes. The CRL is
    verified against the issuer (``issuer=`` or the first certificate of
    ``chain``), cached, and fetched again only after its nextUpdate, as RFC 5280
    verifiers do. A stale CRL (nextUpdate passed, no fresher one available) is a
    refusal with ``hard_fail=True`` (the safe default) and a pass with
    ``hard_fail=False``; either way :attr:`last_note` says what happened.

    Called as ``checker(cert, chain)``: returns None when the certificate is not
    revoked, else a one-line reason.
    """

    #: what :class:`lab.auth.CertificateAuth` reports as its revocation_mode
    mode = "crl"

    def __init__(
        self,
        source,
        *,
        issuer=None,
        hard_fail: bool = True,
        clock: Callable[[], _dt.datetime] | None = None,
    ):
        self.source = source
        self.issuer = getattr(issuer, "cert", issuer)
        self.hard_fail = hard_fail
        self.clock = clock or (lambda: _dt.datetime.now(_dt.timezone.utc))
        self.fetches = 0
        self.last_note = ""
        self._crl: x509.CertificateRevocationList | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        mode = "hard-fail" if self.hard_fail else "soft-fail"
        return f"<CRLChecker {mode}, {self.fetches} fetch(es)>"

    def _fetch(self) -> x509.CertificateRevocationList:
        self.fetches += 1
        src = self.source
        if isinstance(src, x509.CertificateRevocationList):
            return src
        if callable(src):
            return parse_crl(src(), "the downloaded CRL")
        if isinstance(src, str) and src.startswith(("http://", "https://")):
            return download_crl(src)
        return load_crl(src)

    def _current(self) -> x509.CertificateRevocationList:
        """The cached CRL while it is fresh; otherwise fetch again (it may still be stale)."""
        with self._lock:
            if self._crl is None or self.clock() >= self._crl.next_update_utc:
                self._crl = self._fetch()
            return self._crl

    def clear_cache(self) -> None:
        with self._lock:
            self._crl = None

    def __call__(
        self, cert: x509.Certificate, chain: list[x509.Certificate] | None = None
    ) -> str | None:
        issuer = self.issuer or (chain[0] if chain else None)
        try:
            crl = self._current()
        except LabError as exc:
            return self._unavailable(f"no CRL ({exc})")
        if (
            issuer is None
            or crl.issuer != issuer.subject
            or not crl.is_signature_valid(issuer.public_key())
        ):
            return self._unavailable("the CRL is not signed by the certificate's issuer")
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is not None:
            self.last_note = "revoked according to the CRL"
            return f"certificate revoked ({_entry(entry).reason_name}) according to the CRL"
        if crl.next_update_utc is not None and self.clock() >= crl.next_update_utc:
            return self._unavailable("the CRL is stale (its nextUpdate has passed)")
        self.last_note = "not on the CRL"
        return None
