"""Rotate a running server's certificate without dropping a single request.

Why this module exists: "rotate certificates regularly" (the guide's advice) is
only safe when a rotation is a non-event. A restart drops the requests in flight
and refuses new ones while the process comes back; a hot swap does neither.
:meth:`lab.tls.server.MTLSServer.set_certificate` builds a complete new SSLContext and
puts it in place with one assignment, so every handshake uses either the old
context or the new one, never a half-built one. This module *proves* that claim
instead of asserting it:

* :func:`swap_under_load` keeps a few client threads calling (a bounded number of
  requests, each on a fresh TLS connection so that handshakes straddle the swap),
  swaps the certificate half-way through, and counts failures and which
  certificate every connection was served.
* :func:`open_connection_after_swap` shows what happens to a connection that was
  already open: it keeps the certificate it was established with.
* :class:`CertificateFileWatcher` triggers the swap from a change to the files on
  disk (what cert-manager, step-ca's renewer or certbot produce), and refuses to
  swap to a half-written pair.

The peer certificate is read from a raw :mod:`http.client` connection
(:func:`served_certificate`) because requests does not expose the server
certificate of the connection it used.
"""

from __future__ import annotations

import http.client
import os
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from lab.errors import LabError
from lab.ops.background import PollingThread
from lab.pki import IssuedCertificate, load_pair
from lab.pki.certinfo import thumbprint
from lab.tls import contexts as tlsconfig
from lab.tls.failures import client_view


# ------------------------------------------------------------ one raw call
@dataclass(frozen=True)
class RawCall:
    """One HTTPS request made on its own connection, with the certificate the server presented."""

    status: int | None
    served: x509.Certificate | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and self.status < 400


def _connection(
    url_host: str, port: int, context: ssl.SSLContext, timeout: float
) -> http.client.HTTPSConnection:
    return http.client.HTTPSConnection(url_host, port, context=context, timeout=timeout)


def _peer(conn: http.client.HTTPSConnection) -> x509.Certificate | None:
    der = conn.sock.getpeercert(binary_form=True) if conn.sock is not None else None
    return x509.load_der_x509_certificate(der) if der else None


def served_certificate(
    server, identity, trust, *, path: str = "/api/secure", timeout: float = 5.0
) -> RawCall:
    """Open one new TLS connection to ``server``, call ``path``, return the status and the served certificate.

    A new connection per call is the point: it performs a full handshake, so it
    shows which certificate the server presents *now*.
    """
    ctx = tlsconfig.client_context(identity, trust)
    conn = _connection("localhost", server.port, ctx, timeout)
    try:
        conn.connect()
        served = _peer(conn)  # read now: http.client drops the socket after a "close" response
        conn.request("GET", path, headers={"Connection": "close"})
        resp = conn.getresponse()
        resp.read()
        return RawCall(resp.status, served)
    except Exception as exc:  # noqa: BLE001 - a failed call is a result to count, not a crash
        return RawCall(None, None, client_view(exc))
    finally:
        conn.close()


# --------------------------------------------------------- swap under load
@dataclass
class SwapResult:
    """What a concurrent client loop saw while the server certificate was swapped."""

    requests: int
    failed: int
    old_served: int
    new_served: int
    #: connections *opened after the swap returned* that were still served the old certificate
    stale_after_swap: int
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [
            f"{self.requests} requests, {self.failed} failed",
            f"both certificates were served during the run: {_yes(self.old_served and self.new_served)}",
            f"every connection opened after the swap got the new certificate: {_yes(self.stale_after_swap == 0)}",
        ]
        lines += [f"error: {e}" for e in sorted(set(self.errors))]
        return "\n".join(lines)

    __repr__ = __str__


def _yes(flag) -> str:
    return "yes" if flag else "no"


def swap_under_load(
    server,
    new_certificate,
    *,
    identity,
    trust,
    threads: int = 4,
    requests_per_thread: int = 25,
    swap_after: int | None = None,
    path: str = "/api/secure",
    password: str | bytes | None = None,
) -> SwapResult:
    """Call ``server`` from ``threads`` threads, swap its certificate mid-run, count the failures.

    Every request opens its own connection (a full handshake), the harshest case
    for a swap: handshakes happen just before, during and after it. The swap is
    triggered by progress, not by a clock, once ``swap_after`` requests have
    completed (half of them by default), so the run has the same shape on a fast
    or a busy machine. The total is fixed: ``threads * requests_per_thread``.
    Requests keep going while the new context is built, one round per thread at
    most; later ones wait for the swap, so that some connections always open after
    it (on a busy machine the workers could otherwise finish before the swapper
    thread runs, and the run would prove nothing about the new certificate).
    """
    total = threads * requests_per_thread
    swap_after = total // 2 if swap_after is None else swap_after
    old_tp = _served_thumbprint(server, identity, trust)
    new_tp = thumbprint(_leaf(new_certificate, password))
    lock = threading.Lock()
    done = 0
    swapped = threading.Event()
    counts = {"failed": 0, "old": 0, "new": 0, "stale": 0}
    errors: list[str] = []
    ctx = tlsconfig.client_context(identity, trust)
    trigger = threading.Event()

    started = 0

    def one_request() -> None:
        nonlocal done, started
        with lock:
            started += 1
            held_back = started > swap_after + threads
        if held_back:
            swapped.wait(timeout=30.0)
        opened_after_swap = swapped.is_set()
        served = None
        conn = _connection("localhost", server.port, ctx, 10.0)
        try:
            conn.connect()
            served = _peer(conn)
            conn.request("GET", path, headers={"Connection": "close"})
            resp = conn.getresponse()
            resp.read()
            ok = resp.status < 400
            err = "" if ok else f"HTTP {resp.status}"
        except Exception as exc:  # noqa: BLE001 - counted, that is the measurement
            ok, err = False, client_view(exc)
        finally:
            conn.close()
        tp = thumbprint(served) if served is not None else None
        with lock:
            done += 1
            if not ok:
                counts["failed"] += 1
                errors.append(err)
            if tp == old_tp:
                counts["old"] += 1
                if opened_after_swap:
                    counts["stale"] += 1
            elif tp == new_tp:
                counts["new"] += 1
            if done >= swap_after:
                trigger.set()

    def worker() -> None:
        for _ in range(requests_per_thread):
            one_request()

    def swapper() -> None:
        trigger.wait()
        server.set_certificate(new_certificate, password=password)
        swapped.set()

    swap_thread = threading.Thread(target=swapper, daemon=True, name="lab-rotation-swap")
    swap_thread.start()
    workers = [
        threading.Thread(target=worker, daemon=True, name=f"lab-rotation-load-{i}")
        for i in range(threads)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    trigger.set()  # swap_after >= total: swap at the end rather than never
    swap_thread.join()
    return SwapResult(
        total, counts["failed"], counts["old"], counts["new"], counts["stale"], errors
    )


def _leaf(certificate, password=None) -> x509.Certificate:
    return tlsconfig.as_identity(certificate, password).cert


def _served_thumbprint(server, identity, trust) -> str:
    call = served_certificate(server, identity, trust)
    if call.served is None:
        raise LabError(
            f"the server could not be reached before the swap ({call.error}); "
            f"check that it is running and that identity and trust are right"
        )
    return thumbprint(call.served)


# ---------------------------------------------------- connections already open
@dataclass
class OpenConnectionReport:
    """Which certificate an already-open connection and a new one saw after a swap."""

    before: x509.Certificate
    open_after: x509.Certificate
    new_after: x509.Certificate
    open_status: int

    @property
    def open_kept_old(self) -> bool:
        return thumbprint(self.open_after) == thumbprint(self.before)

    @property
    def new_got_new(self) -> bool:
        return thumbprint(self.new_after) != thumbprint(self.before)

    def __str__(self) -> str:
        return "\n".join(
            [
                f"connection opened before the swap, next request after it: HTTP {self.open_status}, "
                f"{'still the OLD certificate' if self.open_kept_old else 'the new certificate'}",
                f"connection opened after the swap: "
                f"{'the NEW certificate' if self.new_got_new else 'still the old certificate'}",
            ]
        )

    __repr__ = __str__


def open_connection_after_swap(
    server, new_certificate, *, identity, trust, path: str = "/api/secure"
) -> OpenConnectionReport:
    """Keep one keep-alive connection open across a swap, then open a fresh one.

    TLS authenticates a connection once, at the handshake. A swap changes what
    *new* handshakes present; a connection already open keeps its certificate
    until it closes (cheroot closes idle keep-alive connections after 10 s, a
    client pool reconnects when it wants). That is also why a rotation is not
    finished until the old connections have drained.
    """
    ctx = tlsconfig.client_context(identity, trust)
    conn = _connection("localhost", server.port, ctx, 10.0)
    try:
        conn.request("GET", path)
        conn.getresponse().read()
        before = _peer(conn)
        server.set_certificate(new_certificate)
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        open_after = _peer(conn)
        status = resp.status
    finally:
        conn.close()
    fresh = served_certificate(server, identity, trust, path=path)
    if fresh.served is None:
        raise LabError(f"a new connection after the swap failed ({fresh.error})")
    return OpenConnectionReport(before, open_after, fresh.served, status)


# -------------------------------------------------------- file-triggered swap
class CertificateFileWatcher(PollingThread):
    """Hot-swap ``server``'s certificate whenever its certificate or key file changes.

    Polls the files' modification times (no extra dependency, works on every
    filesystem). A renewal tool writes two files, not one, so the watcher may wake
    up between them: it loads the pair and, if the key does not match the
    certificate (or a file is half-written), it keeps serving the old certificate
    and tries again at the next poll. A rotation must never swap to a broken pair.

    >>> with CertificateFileWatcher(server, "certs/server.crt", "certs/server.key"):
    ...     renew_files()            # the server picks the new pair up by itself
    """

    thread_name = "lab-cert-watcher"

    def __init__(
        self, server, cert_file, key_file, *, password: str | bytes | None = None, poll: float = 0.1
    ):
        super().__init__(poll=poll)
        self.server = server
        self.cert_file = Path(cert_file)
        self.key_file = Path(key_file)
        self.password = password
        #: how many times the server certificate was replaced from the files
        self.reloads = 0
        #: why a change was not (yet) applied, one entry per refused attempt
        self.refused: list[str] = []
        self._seen = self._stamp()
        self._changed = threading.Condition()

    def _stamp(self):
        try:
            return tuple(os.stat(p).st_mtime_ns for p in (self.cert_file, self.key_file))
        except FileNotFoundError:
            return None

    def check_now(self) -> bool:
        """Reload if the files changed since the last reload; True when the server was swapped."""
        stamp = self._stamp()
        if stamp is None or stamp == self._seen:
            return False
        try:
            pair = load_pair(self.cert_file, self.key_file, self.password)
        except LabError as exc:
            reason = str(exc)
            if not self.refused or self.refused[-1] != reason:
                self.refused.append(reason)
            return False  # keep the old certificate; the next poll tries again
        self.server.set_certificate(pair)
        self._seen = stamp
        with self._changed:
            self.reloads += 1
            self._changed.notify_all()
        return True

    def tick(self) -> None:
        try:
            self.check_now()
        except Exception as exc:  # noqa: BLE001 - recorded on the server, never lost
            self.server._record_error(
                "certificate file watcher", f"{type(exc).__name__}: {exc}", ""
            )

    def wait_for_reload(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Wait until ``reloads`` reaches ``count``; True when it did."""
        with self._changed:
            return self._changed.wait_for(lambda: self.reloads >= count, timeout=timeout)


def replace_files(identity: IssuedCertificate, stem: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``stem.crt``/``stem.key`` the way a renewal tool should: each file replaced atomically.

    Each file is written beside its target and renamed over it, so a reader sees
    the old file or the new one, never half of one. The key goes first: until the
    certificate follows, the watcher sees a mismatched pair and keeps the old one.
    """
    stem = Path(stem)
    tmp = stem.with_name(stem.name + ".new")
    crt_tmp, key_tmp = identity.write(tmp)
    key_final = stem.with_name(stem.name + ".key")
    crt_final = stem.with_name(stem.name + ".crt")
    os.replace(key_tmp, key_final)
    os.replace(crt_tmp, crt_final)
    return crt_final, key_final


__all__ = [
    "served_certificate",
    "RawCall",
    "swap_under_load",
    "SwapResult",
    "open_connection_after_swap",
    "OpenConnectionReport",
    "CertificateFileWatcher",
    "replace_files",
]
