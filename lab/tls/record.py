"""The lab server's own record: every refused handshake with OpenSSL's reason, every error.

Why a record: under TLS 1.3 a refused client often sees only an EOF, racing with the
server's alert; what the *server* saw is the truth. And an exception raised while handling
a request is kept here instead of being printed to stderr from a background thread, where
it would be lost (or would garble whichever notebook cell runs next).
:class:`~lab.tls.server.MTLSServer` is a :class:`ServerRecord`.
"""

from __future__ import annotations

import datetime as _dt
import logging
import socket
import ssl
import threading
import traceback as _traceback
import weakref
from dataclasses import dataclass
from typing import Callable

from lab.errors import ServerError

log = logging.getLogger("lab.server")


@dataclass(frozen=True)
class HandshakeFailure:
    """One refused TLS handshake, as the server saw it."""

    peer: str
    reason: str
    openssl_error: str
    at: _dt.datetime

    def __str__(self) -> str:
        return f"handshake from {self.peer} failed: {self.reason}"


@dataclass(frozen=True)
class ServerErrorRecord:
    """An exception raised while the server handled a request (or in its own thread)."""

    where: str
    error: str
    traceback: str
    at: _dt.datetime

    def __str__(self) -> str:
        return f"{self.where}: {self.error}"


def handshake_reason(exc: BaseException) -> str:
    """OpenSSL's reason for a failed handshake, in its own lowercase words.

    ``[SSL: PEER_DID_NOT_RETURN_A_CERTIFICATE] peer did not return a certificate
    (_ssl.c:2580)`` becomes ``peer did not return a certificate``; a verification
    failure becomes ``certificate verify failed: certificate has expired``.
    """
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "handshake timed out (the client connected but never completed the handshake)"
    if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)) or (
        isinstance(exc, ssl.SSLError) and "EOF" in str(exc)
    ):
        return "the client closed the connection during the handshake"
    if isinstance(exc, ssl.SSLError):
        text = str(exc).split("] ", 1)[-1].split(" (_ssl.c", 1)[0]
        if "http request" in text:
            return "http request: the client spoke plain HTTP to the TLS port"
        return text
    if isinstance(exc, ConnectionResetError):
        return "the client reset the connection during the handshake"
    return f"{type(exc).__name__}: {exc}"


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


class ServerRecord:
    """What a server saw: handshakes (full and resumed), refused handshakes, errors; thread-safe."""

    running = False
    on_handshake_failure: Callable[[HandshakeFailure], None] | None = None

    def __init__(self):
        self.handshake_failures: list[HandshakeFailure] = []
        self.errors: list[ServerErrorRecord] = []
        self.handshakes = 0
        #: handshakes that resumed an earlier session: no certificate was sent or checked
        self.resumed = 0
        self._lock = threading.Condition()

    def _record_success(self, resumed: bool = False) -> None:
        with self._lock:
            self.handshakes += 1
            self.resumed += bool(resumed)

    def _record_failure(self, peer: str, exc: BaseException) -> None:
        if not self.running:
            return  # stopping: cheroot pokes its own socket, and that is not a client
        failure = HandshakeFailure(peer, handshake_reason(exc), str(exc), _now())
        with self._lock:
            self.handshake_failures.append(failure)
            self._lock.notify_all()
        log.info("%s", failure)
        if self.on_handshake_failure:
            self.on_handshake_failure(failure)

    def _record_error(self, where: str, error: str, tb: str) -> None:
        with self._lock:
            self.errors.append(ServerErrorRecord(where, error, tb, _now()))
            self._lock.notify_all()
        log.debug("%s: %s", where, error)

    def wait_for_handshake_failure(
        self, after: int = 0, timeout: float = 3.0
    ) -> HandshakeFailure | None:
        """The first failure recorded at index ``after`` or later, waiting up to ``timeout``.

        The client may see its error before the server thread has recorded the
        reason, so read ``n = len(s.handshake_failures)`` before the call and
        ``s.wait_for_handshake_failure(after=n)`` afterwards.
        """
        with self._lock:
            self._lock.wait_for(lambda: len(self.handshake_failures) > after, timeout=timeout)
            return self.handshake_failures[after] if len(self.handshake_failures) > after else None

    def handshake_summary(self) -> str:
        """The record of refused handshakes, one line each (peer ports vary, reasons do not)."""
        with self._lock:
            failures = list(self.handshake_failures)
        if not failures:
            return "no failed handshakes"
        return "\n".join(f"{i}. {f.reason}" for i, f in enumerate(failures, 1))

    def error_summary(self) -> str:
        with self._lock:
            errs = list(self.errors)
        if not errs:
            return "no errors"
        return "\n".join(
            f"- {e}" + (f"\n{e.traceback.rstrip()}" if e.traceback else "") for e in errs
        )

    def check(self) -> None:
        """Raise :class:`ServerError` if any request raised an exception on the server."""
        if self.errors:
            raise ServerError(
                "the server recorded errors while handling requests:\n" + self.error_summary()
            )


def watch_flask_errors(app, record: ServerRecord) -> None:
    """Record exceptions a Flask view raises (Flask turns them into a 500 and logs them)."""
    try:
        import flask
        from flask.logging import default_handler
    except ImportError:  # pragma: no cover - flask is a dependency
        return
    if not isinstance(app, flask.Flask):
        return
    records = app.extensions.get("lab.servers")
    if records is None:
        records = app.extensions["lab.servers"] = weakref.WeakSet()

        def on_exception(sender, exception, **extra):
            where = f"{flask.request.method} {flask.request.path}"
            tb = "".join(_traceback.format_exception(exception))
            for owner in list(records):
                if owner.running:
                    owner._record_error(where, f"{type(exception).__name__}: {exception}", tb)

        flask.got_request_exception.connect(on_exception, app, weak=False)
        # Flask would also print the traceback to stderr from a background thread, where it
        # lands in whichever notebook cell runs next; it is in the record now. A NullHandler
        # too: with no handler at all, logging's "last resort" would still print it.
        app.logger.removeHandler(default_handler)
        app.logger.addHandler(logging.NullHandler())
        app.logger.propagate = False
    records.add(record)
