"""A failed TLS handshake or HTTP call, in one stable line: the server's view and the client's.

:func:`handshake_reason` is OpenSSL's reason for a handshake the server refused, as the
server's record keeps it. requests wraps the ssl or socket error several layers deep,
with ports and object ids in its message; :func:`client_view` digs to the error
underneath and says what the client saw in words that are the same on every run: the
line a log, a renewal loop or a notebook can show. :mod:`lab.course.observe` builds on both.
"""

from __future__ import annotations

import re
import socket
import ssl

import requests

NO_CLIENT_HELLO = (
    "the client closed the TCP connection before sending a ClientHello (no handshake began)"
)


class NoClientHello(ConnectionAbortedError):
    """The client connected and closed without a byte: its TLS library never started."""


def openssl_words(exc: ssl.SSLError) -> str:
    """``[SSL: X] some reason (_ssl.c:2580)`` without the code and the C line: ``some reason``."""
    return str(exc).split("] ", 1)[-1].split(" (_ssl.c", 1)[0]


def handshake_reason(exc: BaseException) -> str:
    """OpenSSL's reason for a failed handshake, in its own lowercase words.

    ``[SSL: PEER_DID_NOT_RETURN_A_CERTIFICATE] peer did not return a certificate
    (_ssl.c:2580)`` becomes ``peer did not return a certificate``; a verification
    failure becomes ``certificate verify failed: certificate has expired``.
    """
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, NoClientHello):
        return str(exc)
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "handshake timed out (the client connected but never completed the handshake)"
    if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)) or (
        isinstance(exc, ssl.SSLError) and "EOF" in str(exc)
    ):
        return "the client closed the connection during the handshake"
    if isinstance(exc, ssl.SSLError):
        text = openssl_words(exc)
        if "http request" in text:
            return "http request: the client spoke plain HTTP to the TLS port"
        return text
    if isinstance(exc, ConnectionResetError):
        return "the client reset the connection during the handshake"
    return f"{type(exc).__name__}: {exc}"


#: What the client sees when the server hangs up during or right after the handshake.
CLOSED_BY_SERVER = "the server closed the connection during the handshake (TLS alert or EOF)"


#: The errors underneath requests' and urllib3's wrappers: what actually happened.
_UNDERNEATH = (
    ssl.SSLError,
    ConnectionResetError,
    ConnectionRefusedError,
    BrokenPipeError,
    socket.timeout,
    TimeoutError,
)


def innermost(exc: BaseException) -> BaseException:
    """Dig through requests/urllib3 wrappers to the ssl or socket error underneath.

    A wrapper keeps what it wraps in ``reason`` (urllib3), in its arguments (requests,
    ``ProtocolError("Connection aborted.", error)``) or as its cause; the nearest wins.
    """
    seen, layer = set(), [exc]
    while layer:
        for cur in layer:
            if isinstance(cur, _UNDERNEATH):
                return cur
        seen.update(map(id, layer))
        inner = [(getattr(c, "reason", None), *c.args, c.__cause__, c.__context__) for c in layer]
        layer = [e for e in sum(inner, ()) if isinstance(e, BaseException) and id(e) not in seen]
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
        if "ALERT" in text or "EOF" in text:
            return CLOSED_BY_SERVER
        return "TLS error: " + openssl_words(inner)
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
