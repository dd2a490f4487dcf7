"""The raw ``ssl`` baseline, and Nagle's algorithm demonstrated on plain TCP.

The lab server's own figures (mTLS, server-only TLS and plain HTTP) all come from
:class:`lab.tls.server.MTLSServer`, with ``mode="none"`` or ``tls=False``: one request path,
so that two figures differ by what TLS costs and nothing else.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time

from lab.bench import clients

RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
    b"Connection: close\r\n\r\nok\n"
)


class RawServer:
    """The baseline: the least a Python TLS server can do per connection.

    One thread: accept, TCP_NODELAY, handshake, read the request head, send a
    fixed response, close. No HTTP parsing, no WSGI, no thread handoff. With
    ``context=None`` it serves plain TCP. :attr:`handshakes` and :attr:`resumed`
    are the server's own count; :attr:`errors` keeps every failure.
    """

    def __init__(self, context: ssl.SSLContext | None):
        self.context = context
        self.handshakes = 0
        self.resumed = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def __enter__(self) -> "RawServer":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sock.settimeout(0.1)  # lets the loop notice stop() promptly
        self._sock, self.port = sock, sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True, name="lab-bench-raw")
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._sock is not None:
            self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                self._handle(conn)
            except (OSError, ssl.SSLError) as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
                conn.close()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        clients.nodelay(conn)
        if self.context is not None:
            conn = self.context.wrap_socket(conn, server_side=True)
            self.handshakes += 1
            self.resumed += bool(conn.session_reused)
        with conn:
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buf += chunk
            conn.sendall(RESPONSE)


def two_write_exchange(nodelay: bool, requests: int = 10) -> float:
    """Seconds per request when the server answers in two small writes (head, then body).

    Why it matters: with Nagle's algorithm on (no TCP_NODELAY), the kernel holds
    the second small write until the first is acknowledged, and the client's
    kernel delays that ACK (up to 40 ms on Linux) hoping to piggyback it on
    data. Each exchange stalls. werkzeug's TLS server met exactly this (small
    TLS records); the lab server, cheroot and this module set TCP_NODELAY.
    Plain TCP on loopback, one connection, ``requests`` bounded exchanges.
    """
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = listener.accept()
        if nodelay:
            clients.nodelay(conn)
        with conn:
            while conn.recv(4096):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n")
                conn.sendall(b"ok\n")

    thread = threading.Thread(target=serve, daemon=True, name="lab-bench-nagle")
    thread.start()
    try:
        with socket.create_connection(listener.getsockname(), timeout=10) as sock:
            clients.nodelay(sock)  # the client side is not the one that stalls here
            start = time.perf_counter()
            for _ in range(max(1, requests)):
                sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                clients.read_response(sock)
            elapsed = time.perf_counter() - start
    finally:
        thread.join(timeout=2)
        listener.close()
    return elapsed / max(1, requests)
