"""Self-check for notebook 02's exercise: the context lines that make a server demand a certificate.

The check does not read the context's attributes and compare them with an answer: a lab
server serves real handshakes with the learner's context (``server.context = ctx``, as
notebook 10 does), and two clients call it, the course client and a client without a
certificate. What the server did with each one decides the hint.
"""

from __future__ import annotations

import ssl

from lab.course.check import CheckResult, hint, passed, try_calls
from lab.course.demo import create_app
from lab.tls.server import MTLSServer

#: OpenSSL's reasons when the server's context holds no certificate (TLS 1.2, TLS 1.3).
NO_CERTIFICATE = ("no shared cipher", "no suitable signature algorithm")


def exercise_require_client_certificates(ctx, course) -> CheckResult:
    """Real handshakes: the course client gets in, a client without a certificate does not."""
    if not isinstance(ctx, ssl.SSLContext) or ctx.protocol != ssl.PROTOCOL_TLS_SERVER:
        return hint("pass your context: a server's starts as ssl.SSLContext(PROTOCOL_TLS_SERVER)")
    server = MTLSServer(create_app(), certificate=course.server, trust=course.ca)
    server.context = ctx
    good, anonymous = try_calls(server, [course.client, None], course.ca, "/api/public")
    if any(no_key in good.server_saw for no_key in NO_CERTIFICATE):
        return hint(
            "the server has no certificate of its own to present: which line loads "
            "server.crt and server.key?"
        )
    if not good.ok:
        return hint(
            f"the course client was refused ({good.server_saw}): does the server trust "
            "the CA that issued client certificates?"
        )
    if "anonymous" in good.body:
        return hint(
            "the server never asked for a client certificate: which attribute decides whether "
            "it asks, and whether it insists?"
        )
    if anonymous.ok:
        return hint(
            "a client without a certificate got in: the server asks but does not insist; "
            "which verify mode refuses the handshake?"
        )
    return passed("the course client got in, and a client without a certificate was refused")
