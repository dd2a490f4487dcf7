"""Self-check for notebook 02's exercise: the context lines that make a server demand a certificate.

The check does not read the context's attributes and compare them with an answer:
it runs real TLS handshakes with the learner's context and tries two clients,
the course client and a client without a certificate. What the server did with
each one decides the hint.
"""

from __future__ import annotations

import ssl

from cryptography import x509

from lab.course.check import hint, passed
from lab.tls.contexts import client_context


def exercise_require_client_certificates(ctx, course) -> bool:
    """Real handshakes: the course client gets in, a client without a certificate does not."""
    if not isinstance(ctx, ssl.SSLContext):
        return hint("pass the ssl.SSLContext you configured")
    if ctx.protocol != ssl.PROTOCOL_TLS_SERVER:
        return hint("a server's context starts as ssl.SSLContext(PROTOCOL_TLS_SERVER)")
    good = _handshake(ctx, course, course.client)
    if good.server_error and "NO_SHARED_CIPHER" in good.server_error.upper().replace(" ", "_"):
        return hint(
            "the server has no certificate of its own to present: which line loads "
            "server.crt and server.key?"
        )
    if good.server_error:
        return hint(
            f"the course client was refused ({good.server_error}): does the server trust "
            "the CA that issued client certificates?"
        )
    if good.peer_subject is None:
        return hint(
            "the server never asked for a client certificate: which attribute decides whether "
            "it asks, and whether it insists?"
        )
    anonymous = _handshake(ctx, course, None)
    if anonymous.server_error is None:
        return hint(
            "a client without a certificate got in: the server asks but does not insist; "
            "which verify mode refuses the handshake?"
        )
    return passed("the course client got in, and a client without a certificate was refused")


class _Outcome:
    """What the server saw in one handshake: its error, or the client's subject (None if none)."""

    def __init__(self, server_error: str | None = None, peer_subject: str | None = None):
        self.server_error = server_error
        self.peer_subject = peer_subject


def _handshake(server_ctx: ssl.SSLContext, course, identity) -> _Outcome:
    """One real TLS handshake between the learner's context and a client context, in memory.

    OpenSSL runs both ends as it would over TCP; the bytes go through memory BIOs instead of
    a socket, so the check needs no thread, no port and no timeout. The server's side decides.
    """
    bios = [ssl.MemoryBIO() for _ in range(4)]
    server = server_ctx.wrap_bio(bios[0], bios[1], server_side=True)
    client = client_context(identity, course.ca).wrap_bio(
        bios[2], bios[3], server_hostname="localhost"
    )
    client_done = False
    for _ in range(10):  # a TLS 1.3 handshake with a client certificate takes 3 flights
        if not client_done:
            try:
                client.do_handshake()
                client_done = True
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError:
                client_done = True  # refused: the server's side says why
        bios[0].write(bios[3].read())
        try:
            server.do_handshake()  # done: it has read the client's flight, certificate included
            return _Outcome(peer_subject=_subject(server.getpeercert(binary_form=True)))
        except ssl.SSLWantReadError:
            bios[2].write(bios[1].read())
        except ssl.SSLError as exc:
            return _Outcome(server_error=exc.reason or str(exc))
    return _Outcome(server_error="the handshake did not finish")


def _subject(der: bytes | None) -> str | None:
    return x509.load_der_x509_certificate(der).subject.rfc4514_string() if der else None
