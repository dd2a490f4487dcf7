"""One connection of the lab server, on cheroot's public classes: handshake, then requests.

* :class:`TLSAdapter`: cheroot's ``BuiltinSSLAdapter`` with the lab's ``SSLContext``. It only
  wraps: cheroot calls ``wrap()`` in its one accepting thread, where a handshake that stalls
  would stop the whole server, so the handshake runs in a worker (:meth:`Connection.handshake`).
* :class:`HeadClock` and :class:`Request`: a deadline for the whole request head.
* :class:`Connection`: cheroot's connection, handshaking first and recording a refusal in the
  server's record (:class:`lab.tls.server.MTLSServer`), and ending a TLS connection with ``close_notify``.

Used by :mod:`lab.tls.server`, whose docstring explains the behaviour under slow clients.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import tempfile
import time
from pathlib import Path

from cheroot.makefile import MakeFile
from cheroot.server import HTTPConnection, HTTPRequest
from cheroot.ssl.builtin import BuiltinSSLAdapter

from lab.pki import write_private
from lab.tls.failures import NO_CLIENT_HELLO, NoClientHello


class TLSAdapter(BuiltinSSLAdapter):
    """cheroot's adapter, holding the lab's context; the handshake itself runs in a worker.

    cheroot's public constructor reads files: it gets the identity through a private temporary
    folder (0700, files 0600, removed at once) and computes its ``SSL_SERVER_*`` variables;
    then its public ``context`` is set to the one :mod:`lab.tls.contexts` built.
    """

    def __init__(self, identity, context: ssl.SSLContext):
        with tempfile.TemporaryDirectory(prefix="mtls-lab-") as folder:
            crt = write_private(Path(folder) / "c.pem", identity.chain_pem)
            key = write_private(Path(folder) / "k.pem", identity.key_pem())
            super().__init__(str(crt), str(key), certificate_chain=str(crt))
        self.context, self.environ_cache = context, {}

    def wrap(self, sock):
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), {}

    def get_environ(self, sock):
        """cheroot's mod_ssl-style variables, computed once per cipher, SNI and client certificate.

        Why: cheroot parses the certificate's dates with strptime and scans every cipher, and
        its SSL_SESSION_ID makes CPython build a session object: 0.7 ms per new connection,
        measured, a fifth of a whole mTLS handshake. SSL_SESSION_ID is per connection, so a
        cached copy would be wrong: it is left out (nothing in the lab reads it).
        """
        key = (sock.cipher(), getattr(sock, "sni", None), sock.getpeercert(binary_form=True))
        env = self.environ_cache.get(key)
        if env is None:
            env = super().get_environ(sock)
            env.pop("SSL_SESSION_ID", None)
            if len(self.environ_cache) >= 256:
                self.environ_cache.clear()
            self.environ_cache[key] = env
        return dict(env)


class HeadClock:
    """A connection's socket, with a deadline for the whole request head while one is set.

    cheroot's stream files read with ``recv_into``; everything else goes to the socket.
    """

    def __init__(self, sock):
        self.sock, self.expires = sock, None

    def __getattr__(self, name):
        return getattr(self.sock, name)

    def recv_into(self, buffer, *args):
        if self.expires is not None:  # past the deadline: only what has arrived (1 ms)
            self.sock.settimeout(max(self.expires - time.monotonic(), 0.001))
        return self.sock.recv_into(buffer, *args)


class Request(HTTPRequest):
    """cheroot's request, reading its head by ``head_timeout`` (cheroot answers 408 if not)."""

    def parse_request(self):
        clock = self.conn.socket
        clock.expires = self.conn.ready_at + self.server.owner.settings.head_timeout
        try:
            super().parse_request()
        finally:
            clock.expires = None
            with contextlib.suppress(OSError):
                clock.settimeout(self.server.timeout)


class Connection(HTTPConnection):
    """cheroot's connection: the TLS handshake first (in a worker), then requests."""

    RequestHandlerClass = Request
    ready_at = 0.0  # when cheroot queued it for a worker (stamped by the server)

    def __init__(self, server, sock, makefile=MakeFile):
        super().__init__(server, HeadClock(sock), makefile)
        self.new, self.secured = True, False

    def close(self):
        """Send TLS ``close_notify`` before cheroot closes the socket (RFC 8446 section 6.1).

        Without it a client cannot tell the end of the data from a cut connection: OpenSSL 3
        reports "unexpected eof while reading". ``unwrap()`` sends the alert and then waits for
        the peer's; the socket is made non-blocking first, so the alert goes out if the
        socket can take it at once and nobody waits for an answer. cheroot also closes idle
        connections from its one selector thread, where any wait would hold up every client.
        """
        if self.secured:
            self.secured = False
            with contextlib.suppress(OSError, ValueError):  # ssl.SSLError is an OSError
                self.socket.settimeout(0)
                self.socket.sock.unwrap()
        super().close()

    def communicate(self):
        if self.new:
            self.new = False
            if not self.handshake():
                return False
            # Wait for the request in this worker only while another one is idle; else in
            # the selector (True), holding no thread. So slow clients never hold the last one.
            if not self.server.requests.idle:
                return True
            self.ready_at = time.monotonic()
        return super().communicate()

    def handshake(self) -> bool:
        """Complete the TLS handshake, under ``handshake_timeout``; record a refusal."""
        sock, server, record = self.socket, self.server, self.server.owner
        if server.ssl_adapter is None:
            return True  # plain HTTP (tls=False): nothing to shake hands on
        deadline = time.monotonic() + record.settings.handshake_timeout
        sock.settimeout(record.settings.handshake_timeout)
        try:
            if not first_byte(sock):
                raise NoClientHello(NO_CLIENT_HELLO)
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            sock.do_handshake()  # CPython bounds the whole call by the socket's timeout
        except (ssl.SSLError, OSError) as exc:  # refused, reset, timed out, EOF
            record._record_failure(f"{self.remote_addr}:{self.remote_port}", exc)
            if isinstance(exc, ssl.SSLError) and "http request" in str(exc):
                answer_plain_http(sock)
            return False
        sock.settimeout(server.timeout)
        self.secured = True
        self.ssl_env = server.ssl_adapter.get_environ(sock.sock)
        record._record_success(resumed=sock.session_reused)
        return True


def first_byte(sock) -> bytes:
    """Wait for the client's first byte and look at it without taking it (``MSG_PEEK``).

    Why: OpenSSL reports a connection closed before the ClientHello with the same EOF as one
    cut in the middle of the handshake. A client that cannot load its own key (curl, requests)
    connects and closes without sending anything: that is not a refusal by this server. The
    peek goes through a duplicate of the descriptor, as an ``SSLSocket`` refuses ``recv`` flags;
    it waits under the socket's timeout (``handshake_timeout``).
    """
    with socket.fromfd(sock.fileno(), sock.family, sock.type) as raw:
        raw.settimeout(sock.gettimeout())
        return raw.recv(1, socket.MSG_PEEK)


_USE_HTTPS = b"This port speaks HTTPS only: use https:// for this address."
_USE_HTTPS = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n" + (
    b"Content-Length: %d\r\n\r\n%s" % (len(_USE_HTTPS), _USE_HTTPS)
)


def answer_plain_http(sock, linger: float = 1.0) -> None:
    """Tell a plain-HTTP client, in plain HTTP, to use HTTPS; then close gently.

    Closing with unread input makes the kernel send a reset, which can overtake the answer;
    so shut down our side and read what the client still sends, for ``linger`` s at most.
    """
    with contextlib.suppress(OSError):
        os.write(sock.fileno(), _USE_HTTPS)
        sock.shutdown(socket.SHUT_WR)  # also detaches the TLS layer: the reads below are plain
        deadline = time.monotonic() + linger
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            if not sock.recv(4096):
                break
