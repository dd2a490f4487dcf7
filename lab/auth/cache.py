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
  certificate's ``notAfter``, and :meth:`get` refuses an entry whose certificate
  is outside its validity window at the time of the lookup. An expired
  certificate is never answered from the cache, whatever the ``ttl``.

The clock is injectable (``clock=``), so tests move time instead of sleeping.
"""

from __future__ import annotations

import datetime as _dt
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

from cryptography import x509

from lab.pki.certinfo import thumbprint
from lab.pki.fields import utcnow


@dataclass(frozen=True)
class _Entry:
    value: Any
    expires: _dt.datetime
    not_before: _dt.datetime
    not_after: _dt.datetime


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    expirations: int = 0

    def __str__(self) -> str:
        return (
            f"hits={self.hits} misses={self.misses} evictions={self.evictions} "
            f"expirations={self.expirations}"
        )


class CertificateCache:
    """Thumbprint -> validation outcome, bounded, expiring, never beyond ``notAfter``.

    ``size`` mirrors ASP.NET's ``CacheSize`` (1024), ``ttl`` its
    ``CacheEntryExpiration`` (2 minutes).
    """

    def __init__(
        self,
        size: int = 1024,
        ttl: float | _dt.timedelta = 120.0,
        clock: Callable[[], _dt.datetime] = lambda: utcnow(exact=True),
    ):
        if size < 1:
            raise ValueError("the cache size must be at least 1 (use cache=None for no cache)")
        self.size = size
        self.ttl = ttl if isinstance(ttl, _dt.timedelta) else _dt.timedelta(seconds=ttl)
        if self.ttl <= _dt.timedelta(0):
            raise ValueError("the cache ttl must be positive (use cache=None for no cache)")
        self.clock = clock
        self.stats = CacheStats()
        self._entries: "OrderedDict[str, _Entry]" = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __repr__(self) -> str:
        return f"<CertificateCache {len(self)}/{self.size} ttl={self.ttl.total_seconds():g}s {self.stats}>"

    def get(self, cert: x509.Certificate) -> Any | None:
        """The cached outcome for ``cert``, or None (a miss, an expired entry, or an expired certificate)."""
        key = thumbprint(cert)
        now = self.clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.stats.misses += 1
                return None
            if now >= entry.expires or not (entry.not_before <= now <= entry.not_after):
                del self._entries[key]
                self.stats.expirations += 1
                self.stats.misses += 1
                return None
            self._entries.move_to_end(key)
            self.stats.hits += 1
            return entry.value

    def put(self, cert: x509.Certificate, value: Any) -> None:
        """Remember ``value`` for ``cert`` until ``ttl`` passes or the certificate expires, whichever is first."""
        now = self.clock()
        not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
        if not (not_before <= now <= not_after):
            return  # an outcome for a certificate outside its window is never stored
        entry = _Entry(value, min(now + self.ttl, not_after), not_before, not_after)
        key = thumbprint(cert)
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
                self.stats.evictions += 1
