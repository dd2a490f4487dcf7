"""Trust: who vouches for whom. Unknown CAs, self-signed leaves, missing intermediates,
a trust store that is not the one you think, and ``verify=False``.

A certificate is only as good as the chain from it to a root the *other* side
already holds. Every scenario here breaks that chain somewhere; which side
complains tells you whose trust store to fix.
"""

from __future__ import annotations

import os
import warnings
from unittest import mock

import requests
from flask import Flask, request

from lab.course import observe
from lab.course.scenarios._kit import (
    demo_app,
    handshake_result,
    raw_error,
    server_view,
    shared_pki,
)
from lab.course.scenarios._model import ScenarioResult, scenario
from lab.pki import CertificateAuthority, IssuedCertificate, self_signed_client
from lab.tls.client import session
from lab.tls.server import MTLSServer


@scenario(
    "unknown-client-ca", "trust", "the client certificate comes from a CA the server does not trust"
)
def unknown_client_ca() -> ScenarioResult:
    pki = shared_pki()
    return handshake_result(
        "unknown-client-ca",
        identity=pki.other.issue_client("stranger"),
        expect_server="unable to get local issuer certificate",
        category="untrusted-client-ca",
        cause="the server could not chain the client certificate to any CA in its trust store: "
        "its issuer (Unknown Corp Root CA) is not one the server trusts",
        fix="issue the client certificate from the CA the server trusts, or add that CA to the "
        "server's client-CA bundle (MTLSServer trust=, nginx ssl_client_certificate)",
    )


@scenario("self-signed-client", "trust", "the client presents a self-signed certificate")
def self_signed() -> ScenarioResult:
    return handshake_result(
        "self-signed-client",
        identity=self_signed_client("selfie"),
        expect_server="self-signed certificate",
        category="self-signed-client",
        cause="the client certificate signs itself, so no CA the server trusts vouches for it; "
        "the client receives an 'unknown ca' alert (or just EOF under TLS 1.3)",
        fix="have the client certificate issued by your CA (python -m lab pki issue NAME); pinning "
        "one self-signed certificate as a trust anchor works but does not scale or revoke",
    )


@scenario(
    "client-does-not-trust-server-ca",
    "trust",
    "the client's trust store lacks the CA that issued the server certificate",
)
def client_does_not_trust_server() -> ScenarioResult:
    pki = shared_pki()
    return handshake_result(
        "client-does-not-trust-server-ca",
        identity=pki.alice,
        client_trust=pki.other,
        expect_server="alert unknown ca",
        expect_client="self-signed certificate in certificate chain",
        category="untrusted-server-ca",
        cause="the client does not trust the CA that issued the server certificate. The server sent "
        "its root too (OpenSSL appends it from the server's own store), so the client reports "
        "'self-signed certificate in certificate chain' rather than 'unable to get local issuer'",
        fix="give the client the server's CA (session(..., trust='rootCA.pem'), curl --cacert); "
        "never answer with verify=False",
    )


def _strip_chain(ident: IssuedCertificate) -> IssuedCertificate:
    """The same certificate and key, sent without the intermediate that links it to the root."""
    return IssuedCertificate(ident.cert, ident.key, [])


@scenario(
    "missing-intermediate-client",
    "trust",
    "the client sends its leaf without the intermediate CA (incomplete chain)",
)
def missing_intermediate_client() -> ScenarioResult:
    pki = shared_pki()
    leaf = pki.issuing.issue_client("dave")
    return handshake_result(
        "missing-intermediate-client",
        identity=_strip_chain(leaf),
        expect_server="unable to get local issuer certificate",
        category="incomplete-chain",
        cause="the client certificate was issued by an intermediate (Scenario Issuing CA) that the "
        "client did not send and the server does not hold, so the server cannot reach its root",
        fix="send the chain: put the intermediate after the leaf in the client's .crt (or the .pfx), "
        "or add the intermediate to the server's client-CA bundle",
    )


@scenario(
    "missing-intermediate-server",
    "trust",
    "the server sends its leaf without the intermediate CA (incomplete chain)",
)
def missing_intermediate_server() -> ScenarioResult:
    pki = shared_pki()
    leaf = pki.issuing.issue_server("localhost", "127.0.0.1")
    return handshake_result(
        "missing-intermediate-server",
        identity=pki.alice,
        server_cert=_strip_chain(leaf),
        expect_server="alert unknown ca",
        expect_client="unable to get local issuer certificate",
        category="incomplete-chain",
        cause="the server presented only its leaf; the client trusts the root but has never seen the "
        "intermediate in between. Browsers may paper over this (cached or fetched intermediates); "
        "OpenSSL, requests and curl do not",
        fix="serve the full chain (leaf then intermediate: nginx ssl_certificate fullchain.pem, "
        "IssuedCertificate.write writes it); check with `python -m lab doctor`",
    )


@scenario(
    "works-locally-fails-in-prod",
    "trust",
    "REQUESTS_CA_BUNDLE silently replaces Session.verify, so the CA actually used differs",
)
def works_locally_fails_in_prod() -> ScenarioResult:
    pki = shared_pki()
    app, record = demo_app()
    plain = requests.Session()  # the usual code: trust_env left on
    plain.verify = str(pki.file("rootCA.pem"))  # "I told it which CA to trust..."
    plain.cert = (str(pki.file("alice.crt")), str(pki.file("alice.key")))
    with MTLSServer(app, certificate=pki.server, trust=pki.root) as s:
        call = lambda: plain.get(s.url + "/api/secure", timeout=10)  # noqa: E731
        # patch.dict puts os.environ back as it was when the block ends, removals included.
        with mock.patch.dict(os.environ):
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
            os.environ.pop("CURL_CA_BUNDLE", None)
            local = observe.observe(s, call)  # the developer's laptop: no such variable
        local_server = server_view(s, local, record)
        with mock.patch.dict(os.environ, {"REQUESTS_CA_BUNDLE": str(pki.file("otherCA.pem"))}):
            os.environ.pop("CURL_CA_BUNDLE", None)
            prod = observe.observe(s, call)  # the server: a corporate bundle in the env
    behaved = (
        local.status == 200
        and not prod.ok
        and "alert unknown ca" in prod.server_saw
        and "self-signed certificate in certificate chain" in prod.client_saw
    )
    return ScenarioResult(
        "works-locally-fails-in-prod",
        client_saw=f"without REQUESTS_CA_BUNDLE: HTTP {local.status}; with it: {prod.client_saw}",
        server_saw=f"first call: {local_server}; second call: {prod.server_saw}",
        status=prod.status,
        category="wrong-trust-store",
        cause="the same code trusted a different CA bundle: with REQUESTS_CA_BUNDLE (or CURL_CA_BUNDLE) "
        "set, requests replaces Session.verify by the environment's bundle on every request "
        "(requests issue #3829), and that bundle lacks your private CA",
        fix="pass verify= on each request, or set session.trust_env = False (lab.tls.client.session does "
        "both); on the server side, check which CA file the process really loads",
        behaved=behaved,
        client_error=raw_error(prod.client_error),
        notes=[
            "the environment variable was set in-process for the second call and restored afterwards"
        ],
    )


@scenario(
    "verify-false-impostor",
    "trust",
    "verify=False lets an impostor with a certificate from any CA receive the request",
)
def verify_false_impostor() -> ScenarioResult:
    pki = shared_pki()
    impostor_ca = CertificateAuthority.create("Impostor CA", organization="Impostor")
    captured: list[str] = []
    app = Flask("impostor")

    @app.post("/api/transfer")
    def transfer():
        captured.append(
            f"POST /api/transfer, Authorization: {request.headers.get('Authorization')}, "
            f"body {request.get_data(as_text=True)}"
        )
        return "transfer accepted"

    secret = {"Authorization": "Bearer lab-secret-token"}
    body = {"to": "acct-42", "amount": 100}
    # The impostor does not ask for a client certificate: it wants the request, not the caller.
    with MTLSServer(
        app, certificate=impostor_ca.issue_server("localhost", "127.0.0.1"), mode="none"
    ) as s:
        careless = requests.Session()
        careless.trust_env = False
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore"
            )  # urllib3's InsecureRequestWarning: the only warning given
            # verify=False, only ever in a break-it demonstration (here and notebook 03), to show the damage.
            fooled = observe.observe(
                s,
                lambda: careless.post(
                    s.url + "/api/transfer", json=body, headers=secret, verify=False, timeout=10
                ),
            )
        careful = observe.observe(
            s,
            lambda: session(pki.alice, trust=pki.root).post(
                s.url + "/api/transfer", json=body, headers=secret, timeout=10
            ),
        )
    behaved = (
        fooled.status == 200
        and len(captured) == 1
        and "lab-secret-token" in captured[0]
        and careful.client_error is not None
        and "certificate verify failed" in careful.client_saw
    )
    return ScenarioResult(
        "verify-false-impostor",
        client_saw=f"with verify=False: {fooled.client_saw}; a verifying client: {careful.client_saw}",
        server_saw="the impostor captured: " + (captured[0] if captured else "nothing"),
        status=fooled.status,
        category="no-server-verification",
        cause="verify=False (the guide's DangerousAcceptAnyServerCertificateValidator) accepts any "
        "certificate, so a server holding a certificate from any CA received the bearer token "
        "and the payment; the verifying client refused the same server",
        fix="never disable verification: trust your CA explicitly (session(identity, trust='rootCA.pem'), "
        "curl --cacert); if a check fails, fix the certificate, not the check",
        behaved=behaved,
        client_error=raw_error(careful.client_error),
    )


#: This module's scenarios, in the order the catalogue lists them.
SCENARIOS = (
    unknown_client_ca,
    self_signed,
    client_does_not_trust_server,
    missing_intermediate_client,
    missing_intermediate_server,
    works_locally_fails_in_prod,
    verify_false_impostor,
)
