"""Revocation hooks for :class:`lab.auth.CertificateAuth`: a CRL checker and an OCSP checker.

Each is a callable ``(cert, chain) -> None | reason`` with the same answer to the
one hard question, what to do when the status cannot be known
(:class:`FailurePolicy`: hard-fail refuses, soft-fail lets through and says so).
"""

from __future__ import annotations

import datetime as _dt
import threading
from typing import Callable

from cryptography import x509

from lab.errors import LabError
from lab.revocation.crl import download_crl, load_crl, parse_crl, reason_name, revoked_reason
from lab.revocation.ocsp_client import OCSPResult, OCSPUnavailable, query


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
            return (
                f"certificate revoked ({reason_name(revoked_reason(entry))}) according to the CRL"
            )
        if crl.next_update_utc is not None and self.clock() >= crl.next_update_utc:
            return self._unavailable("the CRL is stale (its nextUpdate has passed)")
        self.last_note = "not on the CRL"
        return None


# ------------------------------------------------------------------- checker
class OCSPChecker(FailurePolicy):
    """A revocation hook for :class:`lab.auth.CertificateAuth` that asks an OCSP responder.

    ``checker(cert, chain)`` returns None when the responder says "good", else
    a one-line reason. The issuer is ``issuer=`` or the first certificate of
    ``chain``; the URL is ``url=`` or the certificate's AIA. Answers are cached
    per serial until their nextUpdate (so a revocation can go unnoticed that
    long: the price of caching). When no usable answer comes back,
    ``hard_fail=True`` refuses and ``hard_fail=False`` lets the certificate
    through; :attr:`last_note` says which happened.
    """

    #: what :class:`lab.auth.CertificateAuth` reports as its revocation_mode
    mode = "ocsp"

    def __init__(
        self,
        url: str | None = None,
        *,
        issuer=None,
        hard_fail: bool = True,
        timeout: float = 2.0,
        nonce: bool = True,
        clock: Callable[[], _dt.datetime] | None = None,
    ):
        self.url = url
        self.issuer = getattr(issuer, "cert", issuer)
        self.hard_fail = hard_fail
        self.timeout = timeout
        self.nonce = nonce
        self.clock = clock or (lambda: _dt.datetime.now(_dt.timezone.utc))
        self.queries = 0
        self.last_note = ""
        self._cache: dict[tuple, OCSPResult] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        mode = "hard-fail" if self.hard_fail else "soft-fail"
        return f"<OCSPChecker {mode}, {self.queries} query(ies), {len(self._cache)} cached>"

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def status(self, cert: x509.Certificate, issuer: x509.Certificate) -> OCSPResult:
        """The cached answer while it is fresh, else a new query (may raise OCSPUnavailable)."""
        key = (issuer.subject.public_bytes(), cert.serial_number)
        with self._lock:
            cached = self._cache.get(key)
        # No nextUpdate means "newer information is always available": never cache that.
        if (
            cached is not None
            and cached.next_update is not None
            and self.clock() < cached.next_update
        ):
            return cached
        self.queries += 1
        result = query(
            cert, issuer, self.url, timeout=self.timeout, nonce=self.nonce, clock=self.clock
        )
        with self._lock:
            self._cache[key] = result
        return result

    def __call__(
        self, cert: x509.Certificate, chain: list[x509.Certificate] | None = None
    ) -> str | None:
        issuer = self.issuer or (chain[0] if chain else None)
        if issuer is None:
            return self._unavailable(
                "the issuer's certificate is needed to ask OCSP and none was given"
            )
        try:
            result = self.status(cert, issuer)
        except OCSPUnavailable as exc:
            return self._unavailable(str(exc))
        if result.status == "good":
            self.last_note = "OCSP says good"
            return None
        if result.status == "revoked":
            self.last_note = f"OCSP says revoked ({result.reason})"
            return f"certificate revoked ({result.reason}) according to OCSP"
        return self._unavailable("the OCSP responder does not know this certificate (unknown)")
