"""The guide's SecureController, in Flask: the API every notebook calls.

``GET /api/secure`` answers ``Hello {subject}`` from the client certificate,
exactly like the guide's ``Ok($"Hello {clientCert.Subject}")``. ``GET /api/public``
needs no certificate (useful in optional mode), ``GET /healthz`` is for probes.
The authorization notebook swaps the hand-written check below for
:mod:`lab.auth`.
"""

from __future__ import annotations

from flask import Flask, jsonify

from .identity import peer_certificate
from .problem import problem


def create_app(name: str = "mtls-lab-demo") -> Flask:
    app = Flask(name)

    @app.get("/api/secure")
    def secure():
        cert = peer_certificate()
        if cert is None:
            return problem(403, "Client certificate required",
                           "this endpoint needs a client certificate and the connection carried none")
        return f"Hello {cert.subject.rfc4514_string()}"

    @app.get("/api/public")
    def public():
        cert = peer_certificate()
        who = cert.subject.rfc4514_string() if cert else "anonymous (no client certificate)"
        return f"Hello {who}"

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    return app
