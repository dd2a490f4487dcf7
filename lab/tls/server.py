"""Run a Flask (or any WSGI) app over mutual TLS in a background thread, on cheroot.

Why cheroot and not ``app.run(ssl_context=...)``: werkzeug's development server sends
``Connection: close`` on every response, so a requests Session pays a full handshake per
request. cheroot (CherryPy's server) keeps connections alive, sets TCP_NODELAY, runs a worker
pool and hands the client certificate to the app as Apache mod_ssl does (``SSL_CLIENT_CERT``,
``SSL_CLIENT_S_DN``). The lab uses its public API: a ``BuiltinSSLAdapter``, a connection and a
request subclass; cheroot's own connection manager, worker pool and stream files.

The lab adds the server's own record (:class:`MTLSServer`'s: every refused handshake with
OpenSSL's reason, every request error), a clean lifecycle (context manager, idempotent
start/stop, daemon threads only, servers stopped at interpreter exit), loopback-only
binding, :meth:`MTLSServer.set_certificate` for rotation, and ``tls=False``: the same server
without TLS, so that comparing the two measures TLS and nothing else.

Slow clients, and the limit of this design. cheroot's selector thread accepts and never
waits for a client: the handshake runs in a worker, bounded as a whole by ``handshake_timeout``
(:mod:`lab.tls.connection`); a handshaken connection waits for its request in the selector
unless another worker is idle, so idle clients never take the last worker; the whole request
head must arrive within ``head_timeout`` (nginx's ``client_header_timeout``), or cheroot
answers 408 and closes. Still, this is a thread-per-connection server: a client that stalls
its handshake or drips its request holds a worker thread until its timeout. Measured against
``lab serve`` on a 2-core machine: with 64 reconnecting clients stalling their handshakes,
2 of 3 legitimate curl calls timed out at 10 s (the server recovered afterwards); with 16 to
48 clients dripping their request heads, legitimate calls took 4 to 9 s. A request
body has only cheroot's per-read ``timeout`` (``read_timeout``, 10 s). That is what an event-driven proxy is
for: a service that strangers can reach puts nginx in front (notebook 07), which holds slow
clients in an event loop and passes on only whole requests.

The record, and why: under TLS 1.3 a refused client often sees only an EOF, racing with the
server's alert; what the *server* saw is the truth. And an exception raised while handling
a request is kept in the record instead of being printed to stderr from a background thread,
where it would be lost (or would garble whichever notebook cell runs next).
"""

from __future__ import annotations

import atexit
import logging
import sys
import threading
import time
import traceback as _traceback
import weakref
from dataclasses import dataclass

import flask
from cheroot import wsgi

from lab.errors import ServerError
from lab.net import require_loopback
from lab.pki import load_identity
from lab.tls import contexts as tlsconfig
from lab.tls.connection import Connection, TLSAdapter
from lab.tls.failures import handshake_reason

_RUNNING: "weakref.WeakSet[MTLSServer]" = weakref.WeakSet()


@dataclass(frozen=True)
class HandshakeFailure:
    """One refused TLS handshake, as the server saw it."""

    peer: str
    reason: str

    def __str__(self) -> str:
        return f"handshake from {self.peer} failed: {self.reason}"


@dataclass(frozen=True)
class ServerErrorRecord:
    """An exception raised while the server handled a request (or in its own thread)."""

    where: str
    error: str
    traceback: str

    def __str__(self) -> str:
        return f"{self.where}: {self.error}"


class _Server(wsgi.Server):
    """cheroot's WSGI server, stamping ready connections and routing its log to the record."""

    owner: "MTLSServer"
    expiration_interval = 0.05  # how often the selector notices stop(): stop takes ~50 ms

    def process_conn(self, conn):
        conn.ready_at = time.monotonic()
        super().process_conn(conn)

    def error_log(self, msg="", level=20, traceback=False):
        if traceback or level >= logging.ERROR:
            tb = _traceback.format_exc() if traceback else ""
            self.owner._record_error("server", str(msg), tb)


@dataclass(frozen=True)
class ServerSettings:
    """What most servers leave at its default: the keywords of :class:`MTLSServer` past the first few.

    ``threads`` is the size of cheroot's worker pool; ``handshake_timeout`` bounds a whole
    handshake and ``head_timeout`` the request head (see the module's docstring on slow
    clients), ``read_timeout`` every later read (a request body, an idle keep-alive
    connection). ``profile`` is the TLS policy: Mozilla's "intermediate" (default) or "modern"
    (TLS 1.3 only), see :mod:`lab.tls.policy`. ``crl_check`` is "leaf" or "chain" (with
    ``crl=``). ``raise_errors``: leaving the ``with`` block raises what the app raised.
    """

    host: str = "127.0.0.1"
    port: int = 0
    min_version: str = "1.2"
    profile: str = "intermediate"
    crl_check: str = "leaf"
    threads: int = 8
    handshake_timeout: float = 2.0
    head_timeout: float = 5.0
    read_timeout: float = 10.0
    raise_errors: bool = True


class MTLSServer:
    """A WSGI app served over HTTPS with client-certificate authentication, and its record.

    >>> with MTLSServer(app, certificate=srv, trust=ca) as s:
    ...     client.session(alice, trust=ca).get(s.url + "/api/secure")

    ``mode`` is "require" (Kestrel's RequireCertificate), "optional" (AllowCertificate)
    or "none" (NoCertificate). ``trust`` is what client certificates must chain to;
    ``crl`` a PEM CRL file OpenSSL checks them against. ``tls=False`` serves plain HTTP
    with the same code (no certificate needed): the fair baseline for what TLS costs.
    Every other keyword is a :class:`ServerSettings` field (``host``, ``port``,
    ``min_version``, ``profile``, ``threads`` ...).

    The record, thread-safe: ``handshakes`` (and ``resumed``, those that resumed an earlier
    session: no certificate was sent or checked), ``handshake_failures``, ``errors``.
    """

    def __init__(
        self, app, certificate=None, trust=None, *, mode="require", crl=None, tls=True, **settings
    ):
        self.settings = options = ServerSettings(**settings)
        require_loopback(options.host)
        if tls and certificate is None:
            raise ServerError("an HTTPS server needs a certificate (or pass tls=False)")
        self.app, self.mode, self.host, self.tls = app, mode, options.host, tls
        self.context = None
        self._context_options = dict(
            trust=trust,
            mode=mode,
            min_version=options.min_version,
            crl=crl,
            crl_check=options.crl_check,
            profile=options.profile,
        )
        if tls:
            self._identity = load_identity(certificate)
            self.context = tlsconfig.server_context(self._identity, **self._context_options)
        self.handshake_failures: list[HandshakeFailure] = []
        self.errors: list[ServerErrorRecord] = []
        self.handshakes = self.resumed = 0
        self._lock = threading.Condition()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        if isinstance(app, flask.Flask):
            # Flask would turn a view's exception into its own 500 page and print the traceback
            # to stderr from a background thread, where it lands in whichever notebook cell runs
            # next. Propagated, it reaches _wsgi_app instead: recorded, and answered with a 500.
            app.config["PROPAGATE_EXCEPTIONS"] = True

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> "MTLSServer":
        """Bind and serve in a daemon thread (no-op when already running)."""
        if self._server is not None:
            return self
        port, threads = self.settings.port, self.settings.threads
        server = _Server((self.host, port), self._wsgi_app, numthreads=threads)
        server.server_name, server.shutdown_timeout, server.owner = "mtls-lab", 1, self
        server.timeout = self.settings.read_timeout
        if self.tls:
            server.ssl_adapter = TLSAdapter(self._identity, self.context)
        server.ConnectionClass = Connection
        bound, failed = threading.Event(), []

        def run():  # prepare() here: cheroot's threads inherit this thread's daemon flag
            try:
                server.prepare()
            except OSError as exc:
                failed.append(exc)
            bound.set()
            if not failed:
                server.serve()

        self._thread = threading.Thread(target=run, daemon=True, name="lab-server")
        self._thread.start()
        bound.wait()
        if failed:
            self._thread = None
            where = f"{self.host}:{port}"
            if getattr(failed[0], "errno", None) == 98 or "in use" in str(failed[0]).lower():
                raise ServerError(
                    f"port {port} on {self.host} is already in use; stop the other "
                    "server or choose another port (0 picks a free one)"
                )
            raise ServerError(f"could not start the server on {where}: {failed[0]}")
        self._port = server.socket.getsockname()[1]
        self._server = server
        _RUNNING.add(self)
        return self

    def stop(self) -> None:
        """Stop serving and close every connection (idempotent, about a second at most)."""
        server, self._server = self._server, None
        if server is None:
            return
        _RUNNING.discard(self)
        try:
            server.stop()
        except Exception as exc:
            self._record_error("stop", repr(exc), _traceback.format_exc())
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    def __enter__(self) -> "MTLSServer":
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop()
        if exc_type is None and self.settings.raise_errors:
            self.check()

    def __repr__(self) -> str:
        state = f"running at {self.url}" if self.running else "stopped"
        return f"<MTLSServer mode={self.mode if self.tls else 'plain'} {state}>"

    @property
    def port(self) -> int:
        if self._port is None:
            raise ServerError("the server has not been started yet; call start() or use `with`")
        return self._port

    @property
    def url(self) -> str:
        host = self.host if self.host not in ("127.0.0.1", "localhost") else "localhost"
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def set_certificate(self, certificate) -> None:
        """Present ``certificate`` on every *new* connection from now on.

        Connections already open keep theirs; the new adapter is complete before it
        replaces the old one in a single assignment, so no connection is refused.
        """
        identity = load_identity(certificate)
        context = tlsconfig.server_context(identity, **self._context_options)
        self._identity, self.context = identity, context
        if self._server is not None:
            self._server.ssl_adapter = TLSAdapter(identity, context)

    def _record_success(self, resumed: bool = False) -> None:
        with self._lock:
            self.handshakes += 1
            self.resumed += bool(resumed)

    def _record_failure(self, peer: str, exc: BaseException) -> None:
        if not self.running:
            return  # stopping: cheroot pokes its own socket, and that is not a client
        failure = HandshakeFailure(peer, handshake_reason(exc))
        with self._lock:
            self.handshake_failures.append(failure)
            self._lock.notify_all()

    def _record_error(self, where: str, error: str, tb: str) -> None:
        with self._lock:
            self.errors.append(ServerErrorRecord(where, error, tb))
            self._lock.notify_all()

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

    def check(self) -> None:
        """Raise :class:`ServerError` if any request raised an exception on the server."""
        with self._lock:
            errors = [f"\n- {e}\n{e.traceback.rstrip()}".rstrip() for e in self.errors]
        if errors:
            raise ServerError(
                "the server recorded errors while handling requests:" + "".join(errors)
            )

    def _wsgi_app(self, environ, start_response):
        try:
            return self.app(environ, start_response)
        except Exception as exc:  # recorded and answered, never lost
            where = f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"
            self._record_error(where, f"{type(exc).__name__}: {exc}", _traceback.format_exc())
            body = b"internal server error (recorded in the lab server's errors)"
            headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
            start_response("500 Internal Server Error", headers, sys.exc_info())
            return [body]


@atexit.register
def stop_all() -> None:
    """Stop every lab server this process still runs, at interpreter exit: every thread of a
    server is a daemon, so the interpreter reaches its atexit hooks without waiting for them,
    and this one closes the servers' sockets cleanly."""
    for server in list(_RUNNING):
        server.stop()
