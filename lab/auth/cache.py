"""A validation cache for client certificates, like ASP.NET Core's ``AddCertificateCache``.

Why: a keep-alive connection carries many requests with the same certificate, and
a busy service sees the same few hundred client certificates all day. Building the
chain against a custom trust store, asking a revocation service and running the
user's event callbacks on every request is wasted work when nothing changed. So
the outcome of validating a certificate is kept, keyed by its SHA-256 thumbprint
(two certificates share a thumbprint only if they are byte-identical).

Three rules keep the cache from ever being the weak spot:

* **Bounded.** At most ``size`` entries; the least recently used goes first, so a
  flood of distinct certificates cannot grow memory without limit.
* **Expiring.** An entry lives ``ttl`` seconds (ASP.NET's default: 2 minutes,
  sliding=False here so a revoked certificate is re-checked within ``ttl``).
* **Never past the certificate's own end.** An entry expires no later than the
  certificate's ``notAfter``, so an expired certificate is never answered from
  the cache, whatever the ``ttl``.

The clock is injectable (``clock=``), so tests move time instead of sleeping.
"""

from __future__ import annotations

import datetime as _dt
import threading
from collections import OrderedDict
from typing import Any, Callable

from cryptography import x509

from lab.pki.certinfo import thumbprint
from lab.pki.fields import utcnow


class CertificateCache:
    """Thumbprint -> validation outcome, bounded, expiring, never beyond ``notAfter``.

    ``size`` mirrors ASP.NET's ``CacheSize`` (1024), ``ttl`` its
    ``CacheEntryExpiration`` (2 minutes).
    """

    def __init__(
        self,
        size: int = 1024,
        ttl: float = 120.0,
        clock: Callable[[], _dt.datetime] = lambda: utcnow(exact=True),
    ):
        if size < 1 or ttl <= 0:
            raise ValueError(
                "the cache size and ttl must be positive (use cache=None for no cache)"
            )
        self.size, self.ttl, self.clock = size, _dt.timedelta(seconds=ttl), clock
        self.hits = self.misses = 0
        self._entries: OrderedDict[str, tuple[Any, _dt.datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"<CertificateCache {len(self._entries)}/{self.size} ttl={self.ttl.total_seconds():g}s "
            f"hits={self.hits} misses={self.misses}>"
        )

    def get(self, cert: x509.Certificate) -> Any | None:
        """The cached outcome for ``cert``, or None (a miss, or an expired entry)."""
        key, now = thumbprint(cert), self.clock()
        with self._lock:
            value, expires = self._entries.get(key, (None, now))
            if now >= expires:  # expires is never past notAfter: an expired certificate misses
                self._entries.pop(key, None)
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return value

    def put(self, cert: x509.Certificate, value: Any) -> None:
        """Remember ``value`` for ``cert`` until ``ttl`` passes or the certificate expires, whichever is first."""
        now = self.clock()
        if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
            return  # an outcome for a certificate outside its window is never stored
        key = thumbprint(cert)
        with self._lock:
            self._entries[key] = (value, min(now + self.ttl, cert.not_valid_after_utc))
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
