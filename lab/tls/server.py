"""Run a Flask (or any WSGI) app over mutual TLS in a background thread.

Why cheroot and not ``app.run(ssl_context=...)``: werkzeug's development server
sends ``Connection: close`` on every response (deliberately, since 2.1.2), so a
requests Session pays a full mTLS handshake per request, and it answers only
30-45 requests/s over TLS on loopback. cheroot (CherryPy's server, maintained,
pure Python) keeps connections alive, sets TCP_NODELAY, runs a worker pool, and
its built-in SSL adapter exposes the client certificate the way Apache mod_ssl
does (``SSL_CLIENT_CERT``, ``SSL_CLIENT_VERIFY``, ``SSL_CLIENT_S_DN``).

What the lab adds on top:

* **The server's own record.** Under TLS 1.3 a rejected client often sees only an
  EOF, racing with the server's alert; what the *server* saw is the truth. Every
  failed handshake is recorded with the peer and OpenSSL's reason
  (:attr:`MTLSServer.handshake_failures`), and every exception raised while
  handling a request is recorded too (:attr:`MTLSServer.errors`) instead of being
  printed to stderr, where it would be lost (or would garble a notebook).
* **Clean lifecycle.** A context manager; ``start`` and ``stop`` are idempotent;
  ``stop`` returns within about a second; every server still running is stopped
  when the interpreter exits. Binds 127.0.0.1 on a free port by default.
* **Hot swap.** :meth:`MTLSServer.set_certificate` replaces the server certificate
  for new connections without a restart (used by the rotation notebook).

New connections are accepted by the server's own acceptor threads
(:class:`_Acceptors`), and the thread that accepts a connection also completes
its TLS handshake and serves its requests: no thread hand-off stands between a
client's connect and its handshake. A client that connects and then stalls
holds one of the ``threads`` acceptors for ``handshake_timeout`` (2 s), and
never blocks other new connections. Eight stalled clients at once still hold all
of them for those two seconds; a production server terminates TLS in nginx or an
async server. Connections kept alive between requests wait in cheroot's
selector and are served by its worker pool. Responses leave in one TLS record
when they fit (:class:`_OneWriteRequest`), through :mod:`lab.socketfile`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import itertools
import logging
import os
import select
import socket
import ssl
import sys
import threading
import time
import traceback as _traceback
import weakref
from dataclasses import dataclass
from typing import Callable

from cheroot import connections, wsgi
from cheroot.server import HTTPConnection, HTTPRequest
from cheroot.ssl.builtin import BuiltinSSLAdapter

from lab.errors import PortInUseError, ServerError
from lab.net import require_loopback
from lab.tls import contexts as tlsconfig
from lab.tls import socketfile

log = logging.getLogger("lab.server")
access_log = logging.getLogger("lab.server.access")

_RUNNING: "weakref.WeakSet[MTLSServer]" = weakref.WeakSet()
_ids = itertools.count(1)


# ------------------------------------------------------------------ the record
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
        text = str(exc)
        if "] " in text:
            text = text.split("] ", 1)[1]
        text = text.split(" (_ssl.c", 1)[0]
        if "http request" in text:
            return "http request: the client spoke plain HTTP to the TLS port"
        return text
    if isinstance(exc, ConnectionResetError):
        return "the client reset the connection during the handshake"
    return f"{type(exc).__name__}: {exc}"


# -------------------------------------------------------------- cheroot glue
class _RecordingSSLAdapter(BuiltinSSLAdapter):
    """cheroot's built-in adapter, with a replaceable context and a record of failures."""

    def __init__(self, context: ssl.SSLContext, owner: "MTLSServer"):
        # The parent constructor insists on certificate *files*; we already have a
        # context, so set what the parent methods use and skip it.
        self.certificate = self.private_key = self.certificate_chain = None
        self.ciphers = None
        self.private_key_password = None
        self._server_env = {}
        self._cached_env: dict[tuple, dict] = {}
        # the server asks for a certificate unless mode="none"; hot swaps keep the mode
        self._asks_for_certificate = context.verify_mode != ssl.CERT_NONE
        self._cache_lock = threading.Lock()
        self.context = context
        self.owner = owner

    def wrap(self, sock):
        # Only wrap here; the handshake runs in _HandshakingConnection.communicate,
        # under handshake_timeout, where a refusal is recorded with its reason.
        tls = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return tls, {}

    def makefile(self, sock, mode="r", bufsize=-1):
        # cheroot's files are built on _pyio; see lab.socketfile for why these are not
        return socketfile.makefile(sock, mode, bufsize)

    def get_environ(self, sock):
        """cheroot's mod_ssl-style variables, without the per-connection session copy.

        Why override: cheroot's version reads ``sock.session`` for SSL_SESSION_ID,
        and on the server side CPython builds a fresh session object (peer
        certificate included) to answer it; it also scans every cipher of the
        context for SSL_CIPHER_ALGKEYSIZE. Measured here, that was 0.35-0.75 ms
        of CPU per connection, before any request is served:
        the largest avoidable part of the gap between this server and a raw ssl
        socket (``python -m lab bench``). This version gives the same variables
        except SSL_SESSION_ID (nothing in the lab reads it) in about a fifth of
        the time. ALGKEYSIZE equals USEKEYSIZE for every cipher OpenSSL 3 offers.
        """
        cipher = sock.cipher()
        der = sock.getpeercert(binary_form=True) if self._asks_for_certificate else None
        env = self._cached_env.get((cipher, der))
        if env is None:
            env = self._make_environ(cipher, der, sock)
            with self._cache_lock:  # handshakes run in parallel threads
                if len(self._cached_env) >= 256:
                    self._cached_env.pop(next(iter(self._cached_env)))
                self._cached_env[(cipher, der)] = env
        return dict(env)

    def _make_environ(self, cipher, der, sock) -> dict:
        """The variables for one cipher and one client certificate, computed once for both.

        Clients reconnect with the same certificate and get the same cipher, and
        cheroot's mod_ssl-style expansion of a certificate parses both validity
        dates with strptime; so the result is cached by (cipher, certificate bytes).
        """
        name, protocol, bits = cipher
        env = {
            "wsgi.url_scheme": "https",
            "HTTPS": "on",
            "SSL_PROTOCOL": protocol,
            "SSL_CIPHER": name,
            "SSL_CIPHER_EXPORT": "",
            "SSL_CIPHER_USEKEYSIZE": bits,
            "SSL_CIPHER_ALGKEYSIZE": bits,
            "SSL_VERSION_INTERFACE": f"{wsgi.Server.version} Python/{sys.version}",
            "SSL_VERSION_LIBRARY": ssl.OPENSSL_VERSION,
            "SSL_CLIENT_VERIFY": "NONE",
        }
        if der:  # the builtin ssl module has verified it, or the handshake would have failed
            env["SSL_CLIENT_VERIFY"] = "SUCCESS"
            env.update(self._make_env_cert_dict("SSL_CLIENT", sock.getpeercert()))
            env["SSL_CLIENT_CERT"] = ssl.DER_cert_to_PEM_cert(der).strip()
        env.update(self._server_env)
        return env


def _peer(sock) -> str:
    try:
        host, port = sock.getpeername()[:2]
        return f"{host}:{port}"
    except OSError:
        return "unknown peer"


class _OneWriteRequest(HTTPRequest):
    """cheroot's request, sending the response head in the same TLS record as the body.

    cheroot writes the head as soon as the application's first body chunk is
    ready, then the chunk: two TLS records, two system calls, and a client that
    wakes up for a head it cannot use yet. Holding the head until the next write
    (or the end of the response, for an empty body) sends a small response in one
    record. Streaming responses still stream: only the head waits, and only for
    the first chunk.
    """

    def send_headers(self):
        self.conn.wfile.hold_next()
        super().send_headers()

    def respond(self):
        try:
            super().respond()
        finally:
            self.conn.wfile.release()


class _HandshakingConnection(HTTPConnection):
    """cheroot's connection: completes the TLS handshake first, then serves requests.

    After a keep-alive response the thread serving it waits up to ``KEEPALIVE_LINGER`` for the
    client's next request before handing the connection back to cheroot's
    selector. A client calling in a loop (a requests Session, the lab's usual
    client) sends its next request within a fraction of a millisecond; without
    the wait, each request would cost a selector wake-up and two thread
    hand-offs, which was about half the per-request time of a keep-alive call.
    """

    KEEPALIVE_LINGER = 0.002  # seconds; an idle connection holds its thread this long at most
    RequestHandlerClass = _OneWriteRequest
    _handshake_done = False

    def __init__(self, server, sock, makefile=socketfile.makefile):
        # cheroot's __init__ does the same, and also wraps two peer-credential
        # methods in per-connection lru_caches; those serve UNIX sockets only and
        # cost about 10 us on every new connection, before its handshake can start.
        self.server = server
        self.socket = sock
        self.rfile = makefile(sock, "rb", self.rbufsize)
        self.wfile = makefile(sock, "wb", self.wbufsize)
        self.requests_seen = 0
        self.peercreds_enabled = self.peercreds_resolve_enabled = False

    def communicate(self):
        if not self._handshake_done:
            if not self.server.owner._complete_handshake(self):
                return False  # refused and recorded; cheroot closes the connection
            self._handshake_done = True
        while True:
            if not super().communicate():
                return False
            if not self._next_request_waiting():
                return True  # back to the selector until the client speaks again

    def _next_request_waiting(self) -> bool:
        if self.rfile.has_data() or self.socket.pending():
            return True
        try:
            ready, _, _ = select.select([self.socket], [], [], self.KEEPALIVE_LINGER)
        except (OSError, ValueError):  # closed meanwhile
            return False
        return bool(ready) and self.server.ready


_PLAIN_HTTP_BODY = b"This port speaks HTTPS only: use https:// for this address."
_PLAIN_HTTP_ANSWER = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_PLAIN_HTTP_BODY), _PLAIN_HTTP_BODY)
)


def _answer_plain_http(sock, linger: float = 1.0) -> None:
    """Tell a plain-HTTP client, in plain HTTP, that this port speaks HTTPS; then close gently.

    The gentle part matters: closing a socket with unread input makes the kernel
    send a reset, which can reach the client before it reads the answer. So shut
    down our side, then read and discard what the client still sends, for at most
    ``linger`` seconds, before the connection is closed (Apache's lingering close).
    """
    with contextlib.suppress(OSError):
        os.write(sock.fileno(), _PLAIN_HTTP_ANSWER)
        sock.shutdown(socket.SHUT_WR)  # also detaches the TLS layer: recv below is plain
        deadline = time.monotonic() + linger
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            if not sock.recv(4096):
                break


class _IdleConnections(connections.ConnectionManager):
    """cheroot's manager of idle keep-alive connections, without the listening socket.

    New connections are taken by :class:`MTLSServer`'s acceptor threads, not by
    this selector loop; it only watches connections waiting for their next
    request, and hands them to cheroot's worker pool when one arrives.
    """

    def __init__(self, server):
        super().__init__(server)
        self._selector.unregister(server.socket.fileno())

    @property
    def _num_connections(self):
        return len(self._selector)  # cheroot subtracts one for the listening socket


class _LabWSGIServer(wsgi.Server):
    """Routes cheroot's stderr chatter into the owner's record or the logger."""

    owner: "MTLSServer"
    # cheroot's connection loop selects with this timeout and only then notices a
    # stop request, so stop() took 0.5 s (the default) on every server: every
    # `with MTLSServer(...)` cell and test paid half a second. 0.05 s makes stop()
    # take ~50 ms at the cost of 20 idle wake-ups a second per running server.
    expiration_interval = 0.05

    def prepare(self):
        super().prepare()
        cheroots_own, self._connections = self._connections, _IdleConnections(self)
        cheroots_own._selector.close()
        # The acceptor waiting in accept() wakes this often to notice stop().
        self.socket.settimeout(self.expiration_interval)

    def error_log(self, msg="", level=20, traceback=False):
        if traceback or level >= logging.ERROR:
            tb = _traceback.format_exc() if traceback else ""
            self.owner._record_error("server", str(msg), tb)
        else:
            log.debug("%s", msg)

    def serve(self):
        # cheroot starts its helper thread for unservicable connections as a
        # non-daemon thread; a forgotten server would then hang interpreter exit.
        threading.Thread(
            target=self._serve_unservicable, daemon=True, name=f"lab-server-{self.owner.id}-503"
        ).start()
        while self.ready and not self.interrupt:
            try:
                self._connections.run(self.expiration_interval)
            except Exception:  # noqa: BLE001 - recorded and surfaced, never lost
                self.error_log("error in the server loop", level=logging.ERROR, traceback=True)


class _Acceptors:
    """Threads that accept new connections and serve them, each its own (leader/followers).

    Why not cheroot's way: cheroot's selector thread accepts a connection and
    queues it for a worker thread, so every new connection waits for one thread
    hand-off (a wake-up, and the GIL changing hands) before its handshake can
    start. Measured in paired runs against the raw ``ssl`` baseline, removing
    it gained 1-2 % (0.88 against 0.875, 0.91 against 0.89): small, because a
    client spends that time building its ClientHello anyway, but on every new
    connection. Here one thread at a time (the leader,
    holding the accept lock) waits in ``accept()``; when a client connects it
    hands the lock to the next thread and handshakes and serves that connection
    itself. Only one thread ever waits in ``accept()``, so a new connection wakes
    one thread, not all of them. A connection still open after its requests
    (keep-alive) goes to cheroot's selector and worker pool, as before.
    """

    def __init__(self, server: _LabWSGIServer, count: int):
        self.server = server
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(
                target=self._run, daemon=True, name=f"lab-server-{server.owner.id}-accept-{i}"
            )
            for i in range(max(1, count))
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        server = self.server
        while server.ready:
            try:
                accepted = self._accept()
                if accepted is not None:
                    self._serve(*accepted)
            except Exception:  # noqa: BLE001 - recorded and surfaced, never lost
                server.error_log("error in an acceptor thread", level=logging.ERROR, traceback=True)

    def _accept(self):
        server = self.server
        with self._lock:
            while server.ready:
                try:
                    return server.socket.accept()
                except socket.timeout:
                    continue
                except (OSError, AttributeError):  # closed (or set to None) by stop()
                    return None
        return None

    def _serve(self, sock, addr) -> None:
        """What cheroot's accept loop and worker do for a new connection, in one thread."""
        server = self.server
        if not server.ready:  # stop() touches the socket to wake accept(); that is not a client
            sock.close()
            return
        try:  # no timeout to set yet: wrapping does no I/O, the handshake sets its own
            tls, ssl_env = server.ssl_adapter.wrap(sock)
        except OSError:
            sock.close()
            return
        conn = server.ConnectionClass(server, tls, server.ssl_adapter.makefile)
        conn.remote_addr, conn.remote_port = addr[0], addr[1]
        conn.ssl_env = ssl_env
        keep_open = False
        try:
            keep_open = conn.communicate()
        except ConnectionError:
            pass  # the client went away; cheroot's worker drops these quietly too
        finally:
            if keep_open:
                server.put_conn(conn)  # closes it instead when the server is stopping
            else:
                conn.close()


# ------------------------------------------------------------------- server
class MTLSServer:
    """A WSGI app served over HTTPS with client-certificate authentication.

    >>> with MTLSServer(app, certificate=srv, trust=ca) as s:
    ...     client.session(alice, trust=ca).get(s.url + "/api/secure")

    ``mode`` is "require" (Kestrel's RequireCertificate), "optional"
    (AllowCertificate) or "none" (NoCertificate). ``trust`` is what client
    certificates must chain to: lab CAs, certificates, PEM bytes or file paths.
    ``threads`` is both the number of acceptor threads (new connections being
    handshaken and served at once) and the size of cheroot's pool for requests
    on kept-alive connections. ``profile`` is the TLS policy: Mozilla's "intermediate"
    (default) or "modern" (TLS 1.3 only), see :mod:`lab.tls.policy`.
    """

    def __init__(
        self,
        app,
        certificate,
        trust=None,
        *,
        mode: str = "require",
        host: str = "127.0.0.1",
        port: int = 0,
        min_version: str = "1.2",
        max_version: str | None = None,
        crl=None,
        crl_check: str = "leaf",
        password: str | bytes | None = None,
        threads: int = 8,
        handshake_timeout: float = 2.0,
        log_requests: bool = False,
        raise_errors: bool = True,
        profile: str = "intermediate",
        on_handshake_failure: Callable[[HandshakeFailure], None] | None = None,
    ):
        require_loopback(host)
        self.id = next(_ids)
        self.app = app
        self.mode = mode
        self.host = host
        self.requested_port = port
        self.threads = threads
        self.handshake_timeout = handshake_timeout
        self.log_requests = log_requests
        self.raise_errors = raise_errors
        self.on_handshake_failure = on_handshake_failure
        self._tls_options = dict(
            trust=trust,
            mode=mode,
            min_version=min_version,
            max_version=max_version,
            crl=crl,
            crl_check=crl_check,
            password=password,
            profile=profile,
        )
        self.context = tlsconfig.server_context(certificate, **self._tls_options)
        self.handshake_failures: list[HandshakeFailure] = []
        self.errors: list[ServerErrorRecord] = []
        self.handshakes = 0
        self._lock = threading.Condition()
        self._server: _LabWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._acceptors: _Acceptors | None = None
        self._port: int | None = None
        _watch_flask_errors(app, self)

    # ----------------------------------------------------------- lifecycle
    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> "MTLSServer":
        """Bind and start serving in a daemon thread (no-op when already running)."""
        if self._server is not None:
            return self
        server = _LabWSGIServer(
            (self.host, self.requested_port),
            self._wsgi_app,
            numthreads=self.threads,
            server_name="mtls-lab",
            shutdown_timeout=1,
            timeout=10,
        )
        server.owner = self
        server.ConnectionClass = _HandshakingConnection
        server.ssl_adapter = _RecordingSSLAdapter(self.context, self)
        try:
            server.prepare()
        except OSError as exc:
            if "in use" in str(exc).lower() or getattr(exc, "errno", None) == 98:
                raise PortInUseError(
                    f"port {self.requested_port} on {self.host} is already in use; stop the other "
                    f"server or choose another port (0 picks a free one)"
                ) from None
            raise ServerError(
                f"could not start the server on {self.host}:{self.requested_port}: {exc}"
            ) from None
        self._port = server.socket.getsockname()[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve, daemon=True, name=f"lab-server-{self.id}"
        )
        self._thread.start()
        self._acceptors = _Acceptors(server, self.threads)
        self._acceptors.start()
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
        except Exception as exc:  # noqa: BLE001
            self._record_error("stop", repr(exc), _traceback.format_exc())
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        if self._acceptors is not None:
            self._acceptors.join(timeout=2)
            self._acceptors = None

    def __enter__(self) -> "MTLSServer":
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop()
        if exc_type is None and self.raise_errors and self.errors:
            raise ServerError(
                "the server recorded errors while handling requests:\n" + self.error_summary()
            )

    def __repr__(self) -> str:
        state = f"running at {self.url}" if self.running else "stopped"
        return f"<MTLSServer mode={self.mode} {state}>"

    # ------------------------------------------------------------- address
    @property
    def port(self) -> int:
        if self._port is None:
            raise ServerError("the server has not been started yet; call start() or use `with`")
        return self._port

    @property
    def url(self) -> str:
        host = (
            "localhost"
            if self.host in ("127.0.0.1", "localhost")
            else (f"[{self.host}]" if ":" in self.host else self.host)
        )
        return f"https://{host}:{self.port}"

    # ---------------------------------------------------------- hot swap
    def set_certificate(self, certificate, password: str | bytes | None = None) -> None:
        """Present ``certificate`` on every *new* connection from now on.

        Connections already open keep the certificate they were established with;
        no request is refused during the swap (the new context is complete before
        it replaces the old one in a single assignment).
        """
        ctx = tlsconfig.server_context(certificate, **{**self._tls_options, "password": password})
        self.context = ctx
        if self._server is not None:
            self._server.ssl_adapter.context = ctx

    # ------------------------------------------------------------ record
    def _complete_handshake(self, conn) -> bool:
        """Run the TLS handshake of a new connection (in its acceptor thread); record a refusal."""
        sock = conn.socket
        # the address accept() returned: no getpeername() call, and still known
        # when the client has already reset the connection
        peer = f"{conn.remote_addr}:{conn.remote_port}" if conn.remote_addr else _peer(sock)
        sock.settimeout(self.handshake_timeout)
        try:
            sock.do_handshake()
        except (
            ssl.SSLError,
            OSError,
        ) as exc:  # refused, reset, timed out, EOF before the ClientHello
            self._record_failure(peer, exc)
            if isinstance(exc, ssl.SSLError) and "http request" in str(exc):
                _answer_plain_http(sock)
            return False
        sock.settimeout(conn.server.timeout)
        conn.ssl_env = conn.server.ssl_adapter.get_environ(sock)
        self._record_success()
        return True

    def _record_failure(self, peer: str, exc: BaseException) -> None:
        if self._server is None or not self._server.ready:
            return  # stop() pokes its own socket; that is not a client
        failure = HandshakeFailure(
            peer, handshake_reason(exc), str(exc), _dt.datetime.now(_dt.timezone.utc)
        )
        with self._lock:
            self.handshake_failures.append(failure)
            self._lock.notify_all()
        log.info("%s", failure)
        if self.on_handshake_failure:
            self.on_handshake_failure(failure)

    def _record_success(self) -> None:
        with self._lock:
            self.handshakes += 1

    def _record_error(self, where: str, error: str, tb: str) -> None:
        with self._lock:
            self.errors.append(
                ServerErrorRecord(where, error, tb, _dt.datetime.now(_dt.timezone.utc))
            )
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

    # ---------------------------------------------------------------- wsgi
    def _wsgi_app(self, environ, start_response):
        if self.log_requests:
            access_log.info(
                "%s %s %s",
                environ.get("REMOTE_ADDR"),
                environ.get("REQUEST_METHOD"),
                environ.get("PATH_INFO"),
            )
        try:
            return self.app(environ, start_response)
        except Exception as exc:  # noqa: BLE001 - recorded and answered, never lost
            self._record_error(
                f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}",
                f"{type(exc).__name__}: {exc}",
                _traceback.format_exc(),
            )
            body = b"internal server error (recorded in the lab server's errors)"
            start_response(
                "500 Internal Server Error",
                [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
                sys.exc_info(),
            )
            return [body]


def _watch_flask_errors(app, server: MTLSServer) -> None:
    """Record exceptions a Flask view raises (Flask turns them into a 500 and logs them)."""
    try:
        import flask
        from flask.logging import default_handler
    except ImportError:  # pragma: no cover - flask is a dependency
        return
    if not isinstance(app, flask.Flask):
        return

    servers = app.extensions.get("lab.servers")
    if servers is None:
        servers = app.extensions["lab.servers"] = weakref.WeakSet()

        def record(sender, exception, **extra):
            where = f"{flask.request.method} {flask.request.path}"
            tb = "".join(
                _traceback.format_exception(type(exception), exception, exception.__traceback__)
            )
            for owner in list(servers):
                if owner.running:
                    owner._record_error(where, f"{type(exception).__name__}: {exception}", tb)

        flask.got_request_exception.connect(record, app, weak=False)
        # Flask would also print the traceback to stderr from a background thread,
        # where it lands in whichever notebook cell runs next. It is in the record now.
        # A NullHandler too: with no handler at all, logging's "last resort" would
        # still print the error to stderr.
        app.logger.removeHandler(default_handler)
        app.logger.addHandler(logging.NullHandler())
        app.logger.propagate = False
    servers.add(server)


def running_servers() -> list[MTLSServer]:
    return list(_RUNNING)


def stop_all() -> None:
    """Stop every lab server still running (called at interpreter exit, and by `lab reset`)."""
    for server in list(_RUNNING):
        server.stop()


# Stop servers *before* the interpreter joins non-daemon threads (cheroot's worker
# pool), or a forgotten server would hang the exit of a script or kernel.
if hasattr(threading, "_register_atexit"):
    threading._register_atexit(stop_all)  # noqa: SLF001
else:  # pragma: no cover
    import atexit

    atexit.register(stop_all)
