"""Transport: the two ends must both speak TLS, and agree on a version.

The guide's "HTTPS not bound" row, both ways round (plain HTTP sent to the TLS
port, TLS sent to a plain HTTP port), and a TLS version mismatch.
"""

from __future__ import annotations

import requests

from lab.course import observe
from lab.course.scenarios._kit import (
    PlainHTTPListener,
    demo_app,
    handshake_result,
    raw_error,
    shared_pki,
)
from lab.course.scenarios._model import ScenarioResult, scenario
from lab.tls.client import session
from lab.tls.server import MTLSServer


@scenario("plain-http-to-tls-port", "transport", "the client speaks plain HTTP to the TLS port")
def plain_http_to_tls_port() -> ScenarioResult:
    pki = shared_pki()
    app, record = demo_app()
    plain = requests.Session()
    plain.trust_env = False
    with MTLSServer(app, certificate=pki.server, trust=pki.root) as s:
        obs = observe.observe(
            s, lambda: plain.get(f"http://localhost:{s.port}/api/secure", timeout=10)
        )
    behaved = "plain HTTP to the TLS port" in obs.server_saw and obs.status == 400 and not record
    return ScenarioResult(
        "plain-http-to-tls-port",
        obs.client_saw,
        obs.server_saw,
        obs.status,
        category="plain-http-to-tls",
        cause="the URL said http:// but the port speaks TLS only: the server read 'GET /...' where a "
        "ClientHello belongs, refused the handshake and answered a plain-text 400; the app never "
        "saw the request",
        fix="use https:// for that port (and the right port: the guide's Kestrel used 5001 for HTTPS)",
        behaved=behaved,
        client_error=raw_error(obs.client_error),
    )


@scenario(
    "tls-to-plain-port", "transport", "the client speaks TLS to a plain-HTTP port (HTTPS not bound)"
)
def tls_to_plain_port() -> ScenarioResult:
    pki = shared_pki()
    with PlainHTTPListener() as plain_server:
        obs = observe.observe(
            None,
            lambda: session(pki.alice, trust=pki.root).get(
                f"https://localhost:{plain_server.port}/api/secure", timeout=10
            ),
        )
        seen = plain_server.what_arrived()
    behaved = "wrong version number" in obs.client_saw and "TLS ClientHello" in seen
    return ScenarioResult(
        "tls-to-plain-port",
        obs.client_saw,
        "the plain-HTTP server received " + seen,
        obs.status,
        category="tls-to-plain-http",
        cause="the URL said https:// but the port serves plain HTTP (HTTPS is not bound there): the "
        "server answered the ClientHello with a plain-text 400, which the client's TLS stack "
        "reads as a record with a nonsense version ('wrong version number')",
        fix="bind HTTPS on that port (Kestrel: ListenAnyIP(5001, o => o.UseHttps(...)); nginx: listen "
        "443 ssl), or call the port that does speak TLS",
        behaved=behaved,
        client_error=raw_error(obs.client_error),
    )


@scenario(
    "tls-version-mismatch",
    "transport",
    "the server requires TLS 1.3, the client offers at most TLS 1.2",
)
def tls_version_mismatch() -> ScenarioResult:
    pki = shared_pki()
    return handshake_result(
        "tls-version-mismatch",
        identity=pki.alice,
        server_options={"min_version": "1.3"},
        client_options={"max_version": "1.2"},
        expect_server="unsupported protocol",
        expect_client="no protocol version in common",
        category="protocol-version",
        cause="the server accepts TLS 1.3 only and the client offers at most TLS 1.2, so there is no "
        "version in common and the server ends the handshake with a 'protocol version' alert",
        fix="let both sides allow TLS 1.2 and 1.3 (the lab's default), or upgrade the old client; "
        "never go below 1.2",
    )


#: This module's scenarios, in the order the catalogue lists them.
SCENARIOS = (plain_http_to_tls_port, tls_to_plain_port, tls_version_mismatch)
