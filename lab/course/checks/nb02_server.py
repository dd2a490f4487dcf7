"""Self-check for notebook 02's exercise: the context lines that make a server demand a certificate.

The check does not read the context's attributes and compare them with an answer:
it serves real TLS handshakes with the learner's context and tries two clients,
the course client and a client without a certificate. What the server did with
each one decides the hint.
"""

from __future__ import annotations

import queue
import socket
import ssl
import threading

from lab.course.check import report
from lab.tls.contexts import client_context

_TIMEOUT = 5.0


def exercise_require_client_certificates(ctx, course) -> bool:
    """Real handshakes: the course client gets in, a client without a certificate does not."""
    if not isinstance(ctx, ssl.SSLContext):
        return report(False, "", "pass the ssl.SSLContext you configured")
    if ctx.protocol != ssl.PROTOCOL_TLS_SERVER:
        return report(False, "", "a server's context starts as ssl.SSLContext(PROTOCOL_TLS_SERVER)")
    good = _handshake(ctx, course, course.client)
    if good.server_error and "NO_SHARED_CIPHER" in good.server_error.upper().replace(" ", "_"):
        return report(
            False,
            "",
            "the server has no certificate of its own to present: which line loads "
            "server.crt and server.key?",
        )
    if good.server_error:
        return report(
            False,
            "",
            f"the course client was refused ({good.server_error}): does the server trust "
            "the CA that issued client certificates?",
        )
    if good.peer_subject is None:
        return report(
            False,
            "",
            "the server never asked for a client certificate: which attribute decides whether "
            "it asks, and whether it insists?",
        )
    anonymous = _handshake(ctx, course, None)
    if anonymous.server_error is None:
        return report(
            False,
            "",
            "a client without a certificate got in: the server asks but does not insist; "
            "which verify mode refuses the handshake?",
        )
    return report(
        True,
        "the course client got in, and a client without a certificate was refused",
        "",
    )


class _Outcome:
    """What the server saw in one handshake: its error, or the client's subject (None if none)."""

    def __init__(self, server_error: str | None = None, peer_subject: str | None = None):
        self.server_error = server_error
        self.peer_subject = peer_subject


def _handshake(server_ctx: ssl.SSLContext, course, identity) -> _Outcome:
    """One handshake on 127.0.0.1: the learner's context serves, a client context connects."""
    client_ctx = client_context(identity, course.ca)
    listener = socket.create_server(("127.0.0.1", 0))
    results: queue.Queue[_Outcome] = queue.Queue()

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError as exc:
            results.put(_Outcome(server_error=str(exc)))
            return
        conn.settimeout(_TIMEOUT)
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                der = tls.getpeercert(binary_form=True)
                results.put(_Outcome(peer_subject=_subject(der)))
        except (ssl.SSLError, OSError) as exc:
            results.put(_Outcome(server_error=getattr(exc, "reason", None) or str(exc)))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client = socket.create_connection(listener.getsockname(), timeout=_TIMEOUT)
    try:
        try:
            tls_client = client_ctx.wrap_socket(client, server_hostname="localhost")
        except (ssl.SSLError, OSError):
            tls_client = None  # refused: the server's side says why
        try:
            # keep the client's end open until the server has decided
            return results.get(timeout=_TIMEOUT)
        except queue.Empty:
            return _Outcome(server_error="the server did not finish the handshake in time")
        finally:
            if tls_client is not None:
                tls_client.close()
    finally:
        client.close()
        listener.close()
        thread.join(timeout=_TIMEOUT)


def _subject(der: bytes | None) -> str | None:
    if not der:
        return None
    from cryptography import x509

    return x509.load_der_x509_certificate(der).subject.rfc4514_string()
