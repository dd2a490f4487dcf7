"""The one client of every compared figure: an HTTP/1.1 GET over ``socket`` + ``ssl``.

Why not requests for the compared figures: it adds a few hundred microseconds of its own
Python per request (header merging, pool lookup, response parsing), the order of the server
overhead being measured, and it cannot resume a TLS session: urllib3 creates each connection
with ``SSLContext.wrap_socket`` and never passes ``session=``, and Python's ``ssl`` keeps no
client-side session cache. :func:`lab.bench.run` reports requests' figures in a group of
their own.
"""

from __future__ import annotations

import socket
import ssl

from lab.errors import LabError


class BenchError(LabError, RuntimeError):
    """A benchmark request failed: the figures would be meaningless, so none are given."""


def nodelay(sock: socket.socket) -> None:
    """Turn Nagle's algorithm off (see :func:`lab.bench.servers.two_write_exchange`)."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def read_response(sock) -> tuple[int, bytes]:
    """Read one HTTP/1.1 response framed by Content-Length; return (status, body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise BenchError("the server closed the connection before a complete response")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        raise BenchError(f"not an HTTP response: {lines[0][:60]!r}") from None
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length is None:
        raise BenchError("the response has no Content-Length; the benchmark client needs one")
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise BenchError("the server closed the connection in the middle of a response body")
        body += chunk
    return status, body


class HTTPClient:
    """A GET over ``socket`` + ``ssl``, on a new connection each time or on one kept alive.

    ``context=None`` speaks plain HTTP. With ``resume=True`` each new connection offers the
    session of the previous one (``wrap_socket(session=...)``), which is how a Python ``ssl``
    client resumes; :attr:`resumed` counts the connections the server actually resumed.
    """

    def __init__(
        self,
        port: int,
        context: ssl.SSLContext | None = None,
        *,
        path: str = "/healthz",
        resume: bool = False,
        server_hostname: str = "localhost",
    ):
        self.port = port
        self.context = context
        self.resume = resume
        self.server_hostname = server_hostname
        self.session: ssl.SSLSession | None = None
        self.connections = 0
        self.resumed = 0
        self.requests = 0
        self._sock = None
        host = f"Host: {server_hostname}:{port}\r\n"
        self._close_request = f"GET {path} HTTP/1.1\r\n{host}Connection: close\r\n\r\n".encode()
        self._keepalive_request = f"GET {path} HTTP/1.1\r\n{host}\r\n".encode()

    def _connect(self):
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        nodelay(raw)
        self.connections += 1
        if self.context is None:
            return raw
        try:
            sock = self.context.wrap_socket(
                raw,
                server_hostname=self.server_hostname,
                session=self.session if self.resume else None,
            )
        except BaseException:
            raw.close()
            raise
        if sock.session_reused:
            self.resumed += 1
        return sock

    def _exchange(self, sock, request: bytes) -> bytes:
        sock.sendall(request)
        status, body = read_response(sock)
        if status != 200:
            raise BenchError(f"the server answered {status} instead of 200: {body[:80]!r}")
        self.requests += 1
        return body

    def new_connection(self) -> bytes:
        """Connect (full handshake, or resumed), one request, close."""
        sock = self._connect()
        try:
            body = self._exchange(sock, self._close_request)
            if self.resume and self.context is not None:
                # Under TLS 1.3 the ticket arrives after the handshake; it has been
                # read together with the response, so the session is complete now.
                self.session = sock.session
            return body
        finally:
            sock.close()

    def keepalive(self) -> bytes:
        """One request on the connection kept open since the first call (opened if needed)."""
        if self._sock is None:
            self._sock = self._connect()
        return self._exchange(self._sock, self._keepalive_request)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
