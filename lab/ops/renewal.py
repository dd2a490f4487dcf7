"""Renew a client certificate before it expires, without losing a request.

Why: an expired certificate is the most common mTLS outage, and it is always
self-inflicted: the date was printed in the certificate from day one. The fix is
to renew automatically, early enough that a failed renewal can be retried many
times before the old certificate runs out. step-ca's renewer uses a simple rule,
followed here: **renew once two-thirds of the lifetime has passed** (a 24 h
certificate renews after 16 h and has 8 h of slack; a 90-day one after 60 days).

With renewal automated, certificates can be **short-lived** (minutes or hours).
That is the practical alternative to revocation: a stolen key is useful only
until its certificate expires, and nobody has to publish or fetch a CRL.

* :func:`renew_at` / :func:`needs_renewal`: the two-thirds rule.
* :func:`issue_short_lived`: a client certificate valid from *now* for N seconds
  (no back-dating, so the lifetime is exactly what you asked for).
* :class:`RenewingSession`: a lab client session that rebuilds itself with a
  fresh certificate when one is due. Requests already running finish on the old
  session; new requests use the new one; nothing is dropped.
* :class:`RenewLoop`: a background thread that renews even when the client is
  idle (a client that only renews on its next request could wake up expired).
"""

from __future__ import annotations

import datetime as _dt
import functools
import threading
from dataclasses import dataclass, field
from typing import Callable

from lab.ops.background import PollingThread
from lab.pki import CertificateAuthority, IssuedCertificate, certificate_of
from lab.pki import fields as _fields
from lab.tls import client as _client
from lab.tls.failures import client_view

#: step-ca renews when this fraction of the certificate's lifetime has elapsed.
RENEW_FRACTION = 2 / 3

Clock = Callable[[], _dt.datetime]


#: the lab's one clock (:func:`lab.pki.fields.utcnow`, exact: renewal compares with certificate
#: dates), under the name notebooks and tests use
utcnow = functools.partial(_fields.utcnow, exact=True)
_cert = certificate_of


def lifetime(certificate) -> _dt.timedelta:
    c = _cert(certificate)
    return c.not_valid_after_utc - c.not_valid_before_utc


def renew_at(certificate, fraction: float = RENEW_FRACTION) -> _dt.datetime:
    """The moment ``certificate`` should be renewed: ``fraction`` of its lifetime after notBefore."""
    if not 0 < fraction < 1:
        raise ValueError("fraction must be between 0 and 1 (step-ca uses 2/3)")
    c = _cert(certificate)
    return c.not_valid_before_utc + lifetime(c) * fraction


def needs_renewal(
    certificate, now: _dt.datetime | None = None, fraction: float = RENEW_FRACTION
) -> bool:
    return (now or utcnow()) >= renew_at(certificate, fraction)


def issue_short_lived(
    ca: CertificateAuthority, name: str, seconds: float, **kwargs
) -> IssuedCertificate:
    """A client certificate valid from now for ``seconds`` (no five-minute back-dating).

    Certificates carry whole seconds, so notBefore is this second and notAfter
    ``seconds`` later. Used with seconds in tests and notebooks, minutes or hours
    in real life.
    """
    if seconds <= 0:
        raise ValueError("a certificate must live for a positive number of seconds")
    start = _fields.utcnow()  # whole seconds, as the certificate stores them
    return ca.issue_client(
        name, not_before=start, not_after=start + _dt.timedelta(seconds=seconds), **kwargs
    )


class RenewingSession:
    """A lab client session whose certificate renews itself at two-thirds of its lifetime.

    ``issue`` is how a new certificate is obtained (in production: a CSR sent to
    the CA over mTLS with the current certificate, as ``step ca renew`` does; here:
    a call to a lab CA). ``clock`` is injectable so the decision can be tested at
    any moment of a certificate's life without waiting for it.

    >>> s = RenewingSession(lambda: issue_short_lived(ca, "alice", 300), trust=ca)
    >>> s.get(url)     # renews first when the current certificate is due
    """

    def __init__(
        self,
        issue: Callable[[], IssuedCertificate],
        trust,
        *,
        fraction: float = RENEW_FRACTION,
        clock: Clock = utcnow,
    ):
        self._issue = issue
        self.trust = trust
        self.fraction = fraction
        self.clock = clock
        self._lock = threading.Lock()
        self._retired: list[_client.MTLSSession] = []
        #: every certificate this session has used, oldest first
        self.history: list[IssuedCertificate] = []
        self.renew_errors: list[str] = []
        self._install(issue())

    def _install(self, certificate: IssuedCertificate) -> None:
        self.certificate = certificate
        self.history.append(certificate)
        self.session = _client.session(certificate, self.trust)

    @property
    def renewals(self) -> int:
        return len(self.history) - 1

    @property
    def renew_at(self) -> _dt.datetime:
        return renew_at(self.certificate, self.fraction)

    def renew_if_due(self) -> bool:
        """Renew when the current certificate has passed two-thirds of its life; True if it did."""
        if self.clock() < self.renew_at:
            return False
        with self._lock:
            if self.clock() < self.renew_at:  # another thread renewed while we waited
                return False
            return self._renew_locked()

    def renew(self) -> bool:
        """Renew now, whatever the date (e.g. after a key compromise)."""
        with self._lock:
            return self._renew_locked()

    def _renew_locked(self) -> bool:
        try:
            fresh = self._issue()
        except Exception as exc:  # noqa: BLE001 - keep the current certificate, retry later
            self.renew_errors.append(f"{type(exc).__name__}: {exc}")
            return False
        old = self.session
        self._install(fresh)
        # Requests still running on the old session finish there; it is closed
        # with this one, not now, so nothing in flight is cut.
        self._retired.append(old)
        return True

    def request(self, method: str, url: str, **kwargs):
        self.renew_if_due()
        return self.session.request(method, url, **kwargs)

    def get(self, url: str, **kwargs):
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs):
        return self.request("POST", url, **kwargs)

    def close(self) -> None:
        for s in [*self._retired, self.session]:
            s.close()
        self._retired.clear()

    def __enter__(self) -> "RenewingSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class RenewLoop(PollingThread):
    """Renew in the background, so an idle client never wakes up with an expired certificate.

    Wakes every ``poll`` seconds and asks ``target.renew_if_due()``. Stoppable
    (``stop()`` or the ``with`` block), and a daemon thread, so a forgotten loop
    never keeps the interpreter alive.
    """

    thread_name = "lab-renew-loop"

    def __init__(self, target: RenewingSession, *, poll: float = 0.1):
        super().__init__(poll=poll)
        self.target = target

    def tick(self) -> None:
        self.target.renew_if_due()


@dataclass
class CallTally:
    """The outcome of :func:`call_repeatedly`: a fixed number of requests and how many failed."""

    requests: int
    failed: int
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(
            [
                f"{self.requests} requests, {self.failed} failed",
                *(f"error: {e}" for e in sorted(set(self.errors))),
            ]
        )

    __repr__ = __str__


def call_repeatedly(
    session, url: str, *, threads: int = 3, requests_per_thread: int = 20, pause: float = 0.15
) -> CallTally:
    """GET ``url`` from ``threads`` threads, ``requests_per_thread`` times each, ``pause`` s apart.

    The count is fixed; the pause only stretches the run over a certificate's
    renewal point (with a 3 s certificate, 20 calls 0.15 s apart span more than
    the 2 s after which it renews).
    """
    lock = threading.Lock()
    tally = CallTally(threads * requests_per_thread, 0)
    stop = threading.Event()

    def worker() -> None:
        for _ in range(requests_per_thread):
            try:
                r = session.get(url, timeout=10)
                err = "" if r.status_code < 400 else f"HTTP {r.status_code}"
            except Exception as exc:  # noqa: BLE001 - counted: that is the measurement
                err = client_view(exc)
            if err:
                with lock:
                    tally.failed += 1
                    tally.errors.append(err)
            stop.wait(pause)

    workers = [
        threading.Thread(target=worker, daemon=True, name=f"lab-renewal-load-{i}")
        for i in range(threads)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return tally


def describe_schedule(certificate, fraction: float = RENEW_FRACTION) -> str:
    """One stable line: lifetime, when renewal is due, how much slack is left for retries."""
    life = lifetime(certificate)
    due = life * fraction
    return (
        f"lifetime {_span(life)}: renew after {_span(due)}, "
        f"leaving {_span(life - due)} to retry before it expires"
    )


def _span(td: _dt.timedelta) -> str:
    """A duration in the largest unit that divides it: "90 days", "16 hours", "200 seconds"."""
    s = td.total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if s >= size and abs(s / size - round(s / size)) < 1e-6:
            v = round(s / size)
            return f"{v} {unit}{'' if v == 1 else 's'}"
    return f"{s:g} second{'' if s == 1 else 's'}"


__all__ = [
    "RENEW_FRACTION",
    "renew_at",
    "needs_renewal",
    "lifetime",
    "issue_short_lived",
    "RenewingSession",
    "RenewLoop",
    "describe_schedule",
    "call_repeatedly",
    "CallTally",
]
