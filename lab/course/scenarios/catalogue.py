"""The scenarios of ``python -m lab break``, one function each.

Each returns what the two ends saw, whether the fault showed as it should (judged on the
server's record, which never varies), and a category; the cause and the fix are the words
:data:`lab.course.diagnose.WORDS` gives that category.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
import warnings
from unittest import mock

import requests
from flask import Flask, request

from lab.auth.forwarding import CertificateForwarding, header_value, trust_header_from_anyone
from lab.course import demo, diagnose
from lab.course.observe import Observation
from lab.course.scenarios.kit import (
    GROUPS,
    Scenario,
    ScenarioResult,
    call,
    handshake,
    kit,
    plain,
    raw,
    refused,
)
from lab.pki import CertificateAuthority, IssuedCertificate, self_signed_client
from lab.pki.verify import verify_chain
from lab.proxy import CERT_HEADER
from lab.revocation import Revocations
from lab.tls.client import session
from lab.tls.identity import peer_certificate
from lab.tls.server import MTLSServer

#: Every scenario, in catalogue order within its group (filled by @scenario below).
SCENARIOS: list[Scenario] = []


def scenario(name: str, group: str, description: str):
    """Add a function returning ``(seen, behaved, category, *notes)`` to :data:`SCENARIOS`."""
    assert group in GROUPS, group

    def decorate(fn):
        def run() -> ScenarioResult:
            seen, ok, category, *notes = fn()
            cause, fix = diagnose.WORDS[category]
            return ScenarioResult(
                name, seen.client_saw, seen.server_saw, seen.status, category, cause, fix, ok, notes
            )

        SCENARIOS.append(Scenario(name, group, description, run))
        return fn

    return decorate


# -------------------------------------------------------------------------- trust
@scenario("unknown-client-ca", "trust", "the client certificate comes from a CA the server lacks")
def unknown_client_ca():
    seen = handshake(kit().other.issue_client("stranger"))
    return seen, refused(seen, "unable to get local issuer certificate"), "unknown-issuer"


@scenario("self-signed-client", "trust", "the client presents a self-signed certificate")
def self_signed():
    seen = handshake(self_signed_client("selfie"))
    return seen, refused(seen, "self-signed certificate"), "self-signed"


@scenario("client-does-not-trust-server-ca", "trust", "the client lacks the server's CA")
def client_does_not_trust_server():
    seen = handshake(kit().alice, client={"trust": kit().other})
    ok = refused(seen, "alert unknown ca", "self-signed certificate in certificate chain")
    note = "the server sends its root too: hence 'self-signed certificate in certificate chain'"
    return seen, ok, "untrusted-ca", note


@scenario(
    "missing-intermediate-client", "trust", "the client sends its leaf without the intermediate"
)
def missing_intermediate_client():
    leaf = kit().issuing.issue_client("dave")
    seen = handshake(IssuedCertificate(leaf.cert, leaf.key, []))
    return seen, refused(seen, "unable to get local issuer certificate"), "incomplete-chain"


@scenario(
    "missing-intermediate-server", "trust", "the server sends its leaf without the intermediate"
)
def missing_intermediate_server():
    leaf = kit().issuing.issue_server("localhost", "127.0.0.1")
    seen = handshake(kit().alice, certificate=IssuedCertificate(leaf.cert, leaf.key, []))
    return seen, refused(seen, "alert unknown ca", "unable to get local issuer"), "incomplete-chain"


@scenario("works-locally-fails-in-prod", "trust", "REQUESTS_CA_BUNDLE replaces Session.verify")
def works_locally_fails_in_prod():
    k, session_ = kit(), requests.Session()  # the usual code: trust_env left on
    session_.verify = str(k.dir / "rootCA.pem")  # "I told it which CA to trust..."
    session_.cert = (str(k.dir / "alice.crt"), str(k.dir / "alice.key"))
    with mock.patch.dict(os.environ):
        # patch.dict puts os.environ back as it was when the block ends, removals included.
        os.environ.pop("REQUESTS_CA_BUNDLE", None)
        os.environ.pop("CURL_CA_BUNDLE", None)
        local = handshake(session_)
        os.environ["REQUESTS_CA_BUNDLE"] = str(k.dir / "otherCA.pem")
        prod = handshake(session_)
    ok = local.status == 200 and refused(prod, "alert unknown ca", "self-signed certificate")
    client = f"without REQUESTS_CA_BUNDLE: HTTP {local.status}; with it: {prod.client_saw}"
    seen = Observation(
        prod.status, "", client, f"first call: {local.server_saw}; second call: {prod.server_saw}"
    )
    return seen, ok, "wrong-trust-store", "the variable was set in-process, then restored"


@scenario("verify-false-impostor", "trust", "verify=False lets an impostor receive the request")
def verify_false_impostor():
    k, captured, app = kit(), [], Flask("impostor")
    impostor = CertificateAuthority.create("Impostor CA", organization="Impostor")

    @app.post("/api/transfer")
    def transfer():
        captured.append(f"Authorization: {request.headers.get('Authorization')}")
        return "transfer accepted"

    kw = {"json": {"to": "acct-42"}, "headers": {"Authorization": "Bearer secret"}, "timeout": 10}
    srv = impostor.issue_server("localhost", "127.0.0.1")
    with MTLSServer(app, certificate=srv, mode="none") as s, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # urllib3's InsecureRequestWarning: the only warning
        # verify=False only in a break-it demonstration, to show the damage.
        fooled = call(s, lambda: plain(verify=False).post(s.url + "/api/transfer", **kw))
        careful = call(
            s, lambda: session(k.alice, trust=k.root).post(s.url + "/api/transfer", **kw)
        )
    ok = fooled.status == 200 and captured and "certificate verify failed" in careful.client_saw
    client = f"with verify=False: {fooled.client_saw}; a verifying client: {careful.client_saw}"
    seen = Observation(fooled.status, "", client, "the impostor captured: " + ", ".join(captured))
    return seen, bool(ok), "no-server-verification"


@scenario("issuer-name-contains", "trust", "the guide's Kestrel callback: Issuer.Contains(name)")
def issuer_name_contains():
    yours = CertificateAuthority.create("YourRootCA")
    theirs = CertificateAuthority.create("NotYourRootCA", organization="Partner Team")
    mallory, both = theirs.issue_client("mallory"), [yours, theirs]  # the TLS layer trusts both
    guide = demo.create_app("kestrel-callback")
    guide.before_request(  # the callback's test: cert.Issuer.Contains("YourRootCA")
        lambda: None if "YourRootCA" in peer_certificate().issuer.rfc4514_string() else ("", 403)
    )
    seen = handshake(mallory, trust=both, app=guide)
    fixed = handshake(mallory, trust=both, app=demo.create_app("by-key", trust=yours))
    note = f"with CertificateAuth(trust=YourRootCA): {fixed.client_saw}"
    return seen, seen.status == 200 and fixed.status == 403, "issuer-name-check", note


@scenario(
    "revoked-client-certificate", "trust", "a revoked client certificate, with and without a CRL"
)
def revoked_client_certificate():
    ca = CertificateAuthority.create("Scenario Revocation CA")
    srv, stolen = ca.issue_server("localhost", "127.0.0.1"), ca.issue_client("stolen-laptop")
    revocations = Revocations(ca)
    revocations.revoke(stolen, "keyCompromise")
    crl = revocations.write_crl(kit().dir / "crl.pem")
    seen = [
        handshake(stolen, certificate=srv, trust=ca, crl=c, client={"trust": ca})
        for c in (None, crl)
    ]
    ok = seen[0].status == 200 and refused(seen[1], "certificate revoked")
    return seen[1], ok, "revoked", f"without a CRL: {seen[0].client_saw}"


# ----------------------------------------------------------------------- identity
@scenario("no-client-cert", "identity", "the client connects without a client certificate")
def no_client_cert():
    seen = handshake(None)
    return seen, refused(seen, "peer did not return a certificate"), "no-client-certificate"


@scenario("server-cert-without-san", "identity", "the server certificate has no SAN, only a CN")
def server_cert_without_san():
    k = kit()
    client = plain((str(k.dir / "alice.crt"), str(k.dir / "alice.key")), str(k.dir / "rootCA.pem"))
    no_san = k.root.issue_server("localhost", san=False)
    ctx = ssl.create_default_context(cafile=str(k.dir / "rootCA.pem"))  # Python's own defaults
    k.alice.configure_cert(ctx)
    with MTLSServer(demo.create_app(), certificate=no_san, trust=k.root) as s:
        seen = call(s, lambda: client.get(s.url + "/api/secure", timeout=10))
        with socket.create_connection(("127.0.0.1", s.port), timeout=5) as sock:
            ctx.wrap_socket(sock, server_hostname="localhost").close()  # raises if refused
    note = "Python's ssl.create_default_context() ACCEPTED the same certificate: it still falls "
    note += "back to the CN when there is no SAN (hostname_checks_common_name defaults to True)"
    ok = refused(seen, "alert bad certificate", "Hostname mismatch")
    return seen, ok, "hostname-mismatch", note


@scenario("wrong-hostname", "identity", "the server certificate is valid, for another host name")
def wrong_hostname():
    seen = handshake(kit().alice, certificate=kit().root.issue_server("api.example.test"))
    return seen, refused(seen, "alert bad certificate", "Hostname mismatch"), "hostname-mismatch"


@scenario("key-cert-mismatch", "identity", "the client's key file belongs to another certificate")
def key_cert_mismatch():
    k = kit()
    carol = plain((str(k.dir / "carol.crt"), str(k.dir / "carol.key")), str(k.dir / "rootCA.pem"))
    seen = handshake(carol)  # requests connects, then fails to load the pair, and closes
    return seen, refused(seen, "before sending a ClientHello", "KEY_VALUES"), "key-mismatch"


def loading(make) -> Observation:
    """A fault that stops the client while it loads its identity, before any connection."""
    try:
        make()
    except Exception as exc:  # the failure is the scenario
        return Observation(None, "", raw(exc), "nothing: the client never connected")
    return Observation(None, "", "no error", "-")


@scenario("wrong-pfx-password", "identity", "the .pfx bundle is opened with the wrong password")
def wrong_pfx_password():
    pfx = str(kit().dir / "alice.pfx")
    seen = loading(lambda: session(pfx, trust=kit().root, password="pfx-password"))
    return seen, seen.client_saw.startswith("WrongPasswordError"), "wrong-password"


@scenario("encrypted-key-without-passphrase", "identity", "an encrypted key, and no passphrase")
def encrypted_key_without_passphrase():
    pair = (str(kit().dir / "alice-encrypted.crt"), str(kit().dir / "alice-encrypted.key"))
    seen = loading(lambda: session(pair, trust=kit().root))
    return seen, seen.client_saw.startswith("PassphraseRequiredError"), "passphrase-required"


# --------------------------------------------------------------------------- time
@scenario("expired-client", "time", "the client certificate has expired")
def expired_client():
    seen = handshake(kit().root.issue_client("alice", expired=True))
    return seen, refused(seen, "certificate has expired"), "expired"


@scenario("not-yet-valid-client", "time", "the client certificate is not valid yet (clock skew)")
def not_yet_valid_client():
    seen = handshake(kit().root.issue_client("alice", not_yet_valid=True))
    return seen, refused(seen, "certificate is not yet valid"), "not-yet-valid"


@scenario("expired-server", "time", "the server certificate has expired")
def expired_server():
    srv = kit().root.issue_server("localhost", "127.0.0.1", expired=True)
    seen = handshake(kit().alice, certificate=srv)
    return seen, refused(seen, "alert certificate expired", "certificate has expired"), "expired"


# -------------------------------------------------------------------------- usage
@scenario("serverauth-only-client-eku", "usage", "the client certificate's EKU is serverAuth only")
def serverauth_only_client():
    seen = handshake(kit().root.issue_client("alice", eku=["serverAuth"]))
    return seen, refused(seen, "unsuitable certificate purpose"), "wrong-purpose"


@scenario("ca-cert-as-client", "usage", "the root CA's certificate and key as a client identity")
def ca_cert_as_client():
    k = kit()
    strict = verify_chain(k.root.cert, k.root, purpose="client")
    seen = handshake(IssuedCertificate(k.root.cert, k.root.key, []))
    note = f"lab.pki.verify.verify_chain refuses it too: {strict.reason}"
    return seen, seen.status == 403 and not strict.ok, "ca-as-leaf", note


@scenario(
    "server-cert-clientauth-only-eku", "usage", "the server certificate's EKU is clientAuth only"
)
def server_clientauth_only():
    seen = handshake(kit().alice, certificate=kit().root.issue_server(eku=["clientAuth"]))
    ok = refused(seen, "alert unsupported certificate", "unsuitable certificate purpose")
    return seen, ok, "wrong-purpose"


# ---------------------------------------------------------------------- transport
@scenario("plain-http-to-tls-port", "transport", "the client speaks plain HTTP to the TLS port")
def plain_http_to_tls_port():
    with MTLSServer(demo.create_app(), certificate=kit().server, trust=kit().root) as s:
        seen = call(s, lambda: plain().get(f"http://localhost:{s.port}/api/secure", timeout=10))
    return seen, seen.status == 400 and "plain HTTP" in seen.server_saw, "plain-http-to-tls"


@scenario("tls-to-plain-port", "transport", "the client speaks TLS to a plain-HTTP port")
def tls_to_plain_port():
    received = []

    def answer(listener):  # what a plain-HTTP server does with bytes it cannot parse
        conn, _ = listener.accept()
        with conn:
            received.append(conn.recv(4096))
            conn.sendall(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )

    with socket.create_server(("127.0.0.1", 0)) as listener:
        threading.Thread(target=answer, args=(listener,), daemon=True).start()
        get = session(kit().alice, trust=kit().root).get
        url = f"https://localhost:{listener.getsockname()[1]}/"
        seen = call(None, lambda: get(url, timeout=10))
    first = received[0] if received else b""
    seen.server_saw = f"the plain-HTTP server received {first[:3].hex(' ')} ... (a ClientHello)"
    ok = first[:2] == b"\x16\x03" and "WRONG_VERSION" in seen.client_saw
    return seen, ok, "tls-to-plain-http"


@scenario("tls-version-mismatch", "transport", "the server requires TLS 1.3, the client offers 1.2")
def tls_version_mismatch():
    seen = handshake(kit().alice, min_version="1.3", client={"max_version": "1.2"})
    return seen, refused(seen, "unsupported protocol"), "protocol-version"


# -------------------------------------------------------------------- application
@scenario("forbidden-not-on-allow-list", "application", "a valid certificate, not authorized: 403")
def forbidden():
    app = demo.create_app("scenario-payments", allow_subjects="alice")
    seen = handshake(kit().root.issue_client("bob"), app=app)
    return seen, seen.status == 403 and "CN=bob -> 403" in seen.server_saw, "forbidden"


@scenario("missing-authorization-check", "application", "a view without an authorization check")
def missing_authorization():
    app = demo.create_app("scenario-payments")

    @app.get("/api/report")
    def report():  # the view someone forgot to protect
        return "quarterly report: revenue 1.2M"

    seen = handshake(None, app=app, path="/api/report", mode="optional")
    ok = seen.status == 200 and "no client certificate -> 200" in seen.server_saw
    return seen, ok, "missing-authorization"


@scenario("client-cert-not-detected", "application", "the server never asks for a certificate")
def client_cert_not_detected():
    seen = handshake(kit().alice, mode="none")
    return seen, refused(seen, "no client certificate -> 403"), "client-cert-not-requested"


def forged(source) -> Observation:
    app = demo.create_app("scenario-forwarded", certificate_source=source)
    return handshake(None, app=app, headers={CERT_HEADER: header_value(kit().alice)}, mode="none")


@scenario("forged-client-certificate-header", "application", "a caller forges the proxy's header")
def forged_header():
    naive = forged(trust_header_from_anyone())
    strict = forged(CertificateForwarding(kit().root, trusted_proxies=["127.0.0.2"]))
    ok = naive.body == "Hello CN=alice,O=mTLS Lab" and "not a trusted proxy" in strict.body
    return naive, ok, "forged-header", f"with lab.auth.forwarding: {strict.client_saw}"
