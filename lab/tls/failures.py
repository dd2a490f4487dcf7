"""A client-side TLS or HTTP failure, in one stable line.

requests wraps the ssl or socket error several layers deep, with ports and object ids
in its message. :func:`client_view` digs to the error underneath and says what the
client saw in words that are the same on every run: the line a log, a renewal loop or
a notebook can show. The mTLS core's own; :mod:`lab.course.observe` builds on it.
"""

from __future__ import annotations

import re
import socket
import ssl

import requests

#: What the client sees when the server hangs up during or right after the handshake.
CLOSED_BY_SERVER = "the server closed the connection during the handshake (TLS alert or EOF)"


def innermost(exc: BaseException) -> BaseException:
    """Dig through requests/urllib3 wrappers to the ssl or socket error underneath."""
    seen = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(
            cur,
            (
                ssl.SSLError,
                ConnectionResetError,
                ConnectionRefusedError,
                BrokenPipeError,
                socket.timeout,
                TimeoutError,
            ),
        ):
            return cur
        nxt = getattr(cur, "reason", None)
        if not isinstance(nxt, BaseException):
            nxt = cur.args[0] if cur.args and isinstance(cur.args[0], BaseException) else None
        if (
            nxt is None
            and len(getattr(cur, "args", ())) > 1
            and isinstance(cur.args[1], BaseException)
        ):
            nxt = cur.args[1]
        cur = nxt or cur.__cause__ or cur.__context__
    return exc


def client_view(exc: BaseException) -> str:
    """A stable one-line account of a client-side failure (no ports, no line numbers)."""
    inner = innermost(exc)
    if isinstance(inner, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {inner.verify_message}"
    if isinstance(inner, (ConnectionRefusedError,)):
        return "connection refused: nothing is listening on that port"
    if isinstance(inner, (socket.timeout, TimeoutError)) or isinstance(exc, requests.Timeout):
        return "timed out waiting for the server"
    text = str(inner)
    if isinstance(inner, ssl.SSLError):
        if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
            return "TLS handshake failed: wrong version number (the server did not answer in TLS)"
        if "UNSUPPORTED_PROTOCOL" in text or "PROTOCOL_VERSION" in text or "NO_PROTOCOLS" in text:
            return "TLS handshake failed: no protocol version in common"
        if "ALERT" in text or "EOF" in text or "UNEXPECTED_EOF" in text:
            return CLOSED_BY_SERVER
        if "] " in text:
            text = text.split("] ", 1)[1]
        return "TLS error: " + text.split(" (_ssl.c", 1)[0]
    if isinstance(inner, (ConnectionResetError, BrokenPipeError)):
        return CLOSED_BY_SERVER
    if isinstance(exc, requests.exceptions.ConnectionError) and "RemoteDisconnected" in str(exc):
        return CLOSED_BY_SERVER
    return f"{type(inner).__name__}: {scrub(text)}"


def scrub(text: str) -> str:
    """Drop the volatile parts of an error message: ports, object ids, C line numbers."""
    text = re.sub(r"(localhost|127\.0\.0\.1|\[::1\]):\d+", r"\1:PORT", text)
    text = re.sub(r"port=\d+", "port=PORT", text)
    text = re.sub(r" at 0x[0-9a-f]+", "", text)
    return re.sub(r" \(_ssl\.c:\d+\)", "", text)
