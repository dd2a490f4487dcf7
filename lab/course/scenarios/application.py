"""Application: the handshake worked, and then the app said no (or, worse, yes).

The guide's "403 Forbidden" and "client cert not detected" rows, plus their
twin: a view that forgot its authorization check and serves anyone.
"""

from __future__ import annotations

from flask import Flask

from lab.auth import CertificateAuth, authorize
from lab.auth.policies import allow_subjects
from lab.course import observe
from lab.course.scenarios._kit import (
    handshake_result,
    raw_error,
    record_requests,
    server_view,
    shared_pki,
)
from lab.course.scenarios._model import ScenarioResult, scenario
from lab.tls.client import session
from lab.tls.server import MTLSServer

#: Who may call /api/payments in these scenarios.
ALLOWED = frozenset({"alice"})


def payments_app() -> tuple[Flask, list[str]]:
    """A payments API: lab.auth authenticates, an allow-list of subject CNs authorizes."""
    app = Flask("scenario-payments")
    CertificateAuth(app)

    @app.get("/api/payments")
    @authorize(allow_subjects(*sorted(ALLOWED)))
    def payments():
        return "payments listed"

    @app.get("/api/report")
    def report():  # the view someone forgot to protect
        return "quarterly report: revenue 1.2M"

    return app, record_requests(app)


def _run(identity, path: str, mode: str):
    pki = shared_pki()
    app, record = payments_app()
    with MTLSServer(app, certificate=pki.server, trust=pki.root, mode=mode) as s:
        obs = observe.observe(
            s, lambda: session(identity, trust=pki.root).get(s.url + path, timeout=10)
        )
        return obs, server_view(s, obs, record)


@scenario(
    "forbidden-not-on-allow-list",
    "application",
    "a valid client certificate, but the caller is not authorized: HTTP 403",
)
def forbidden() -> ScenarioResult:
    pki = shared_pki()
    obs, server_saw = _run(pki.bob, "/api/payments", "require")
    return ScenarioResult(
        "forbidden-not-on-allow-list",
        obs.client_saw,
        server_saw,
        obs.status,
        category="forbidden",
        cause="authentication worked (the handshake verified bob's certificate) but authorization said "
        "no: lab.auth's allow_subjects policy lists alice only. A 403 comes from the app, never "
        "from TLS",
        fix="grant the caller (add it to the allow-list or policy), or call with the certificate that "
        "is allowed; check the 403's problem detail for the reason",
        behaved=obs.status == 403 and "CN=bob -> 403" in server_saw,
        client_error=raw_error(obs.client_error),
    )


@scenario(
    "missing-authorization-check",
    "application",
    "a view without an authorization check serves a caller with no certificate at all",
)
def missing_authorization() -> ScenarioResult:
    obs, server_saw = _run(None, "/api/report", "optional")
    return ScenarioResult(
        "missing-authorization-check",
        obs.client_saw,
        server_saw,
        obs.status,
        category="missing-authorization",
        cause="the server only asks for a certificate (mode optional) and this view checks nothing, so "
        "an anonymous caller got the data. The guide's 'Missing [Authorize]' does not cause a 403: "
        "it causes this",
        fix="protect every view (lab.auth's @require_certificate or @authorize, ASP.NET's [Authorize]) and require "
        "the certificate at the TLS layer where every route needs one",
        behaved=obs.status == 200 and "no client certificate -> 200" in server_saw,
        client_error=raw_error(obs.client_error),
    )


@scenario(
    "client-cert-not-detected",
    "application",
    "the client has a certificate, but the server never asks for one (mode none)",
)
def client_cert_not_detected() -> ScenarioResult:
    pki = shared_pki()
    return handshake_result(
        "client-cert-not-detected",
        identity=pki.alice,
        mode="none",
        expect_server="no client certificate -> 403",
        category="client-cert-not-requested",
        cause="the server is configured not to request a client certificate (Kestrel NoCertificate, "
        "nginx without ssl_verify_client), so it sends no CertificateRequest and the client's "
        "certificate never leaves the client; the app sees no certificate",
        fix="ask for it at the TLS layer: mode='require' (Kestrel ClientCertificateMode.RequireCertificate, "
        "nginx ssl_verify_client on)",
    )


#: This module's scenarios, in the order the catalogue lists them.
SCENARIOS = (forbidden, missing_authorization, client_cert_not_detected)
