"""Is a CRL or an OCSP answer still current: fresh, due for its successor, or stale.

Why a module of its own: both revocation answers carry a window (thisUpdate to
nextUpdate, RFC 5280 §5.1.2.4-5 and RFC 6960 §4.2.2.1), and past nextUpdate a verifier
that checks them refuses *every* certificate under the CA (OpenSSL: "CRL has expired").
The same judgement serves notebook 10's monitoring figures and ``pki status``.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from cryptography import x509

from lab.pki.fields import utcnow


@dataclass(frozen=True)
class Freshness:
    """How a CRL or an OCSP answer stands against its own validity window."""

    state: str  # fresh, due (in the last quarter of its window), stale, unknown (no nextUpdate)
    next_update: _dt.datetime | None
    remaining: _dt.timedelta | None

    def __str__(self) -> str:
        if self.remaining is None:
            return "unknown: no nextUpdate, so a verifier cannot tell when it stops being current"
        hours = abs(self.remaining.total_seconds()) / 3600
        span = f"{hours / 24:.0f} days" if hours >= 48 else f"{hours:.0f} hour"
        span += "s" if span != "1 hour" and hours < 48 else ""
        return _SAYS[self.state].format(span=span)


_SAYS = {
    "fresh": "fresh: {span} until nextUpdate",
    "due": "due: {span} left; publish the next one now",
    "stale": "stale: nextUpdate passed {span} ago; verifiers that check it refuse every client",
}


def freshness(item, *, now: _dt.datetime | None = None) -> Freshness:
    """Judge a CRL (``last_update_utc``/``next_update_utc``) or an OCSP result (``this_update``/``next_update``).

    ``due`` means less than a quarter of the window remains: the time to
    re-sign the CRL (or notice that the responder stopped answering) before
    verifiers start refusing.
    """
    now = now or utcnow(exact=True)
    if isinstance(item, x509.CertificateRevocationList):
        this_update, next_update = item.last_update_utc, item.next_update_utc
    else:
        this_update, next_update = item.this_update, item.next_update
    if next_update is None:
        return Freshness("unknown", None, None)
    remaining = next_update - now
    if remaining.total_seconds() <= 0:
        return Freshness("stale", next_update, remaining)
    state = "due" if remaining <= (next_update - this_update) / 4 else "fresh"
    return Freshness(state, next_update, remaining)
