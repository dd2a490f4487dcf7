"""The failure catalogue behind ``python -m lab break``: every way mTLS breaks, run live.

Each scenario builds its fault, calls a real server on loopback with a real client,
and returns a :class:`ScenarioResult`: what the client's own code raised (the
exception's type and text, ports and C line numbers scrubbed), what the server
recorded, the HTTP status, a category, the cause and the fix.

Why the server's record decides whether a scenario ``behaved``: under TLS 1.3 the
client finishes its handshake before the server has read the client's certificate.
A refusal then reaches the client as the server's alert or, when the client was
already writing its request, as a bare EOF, whichever wins the race. The client's
text is shown as raised; the judgement uses the server's record, which never varies.

:data:`CATALOGUE` lists them in order: name, group, description and category (the cause and
the fix are the words :data:`lab.course.diagnose.WORDS` gives that category). A fault that a
plain handshake (or loading the client's identity) shows is one line of :data:`HANDSHAKES`,
judged on what the catalogue says the server's record and the client's text must hold. The
others are a function each, named after the scenario (``tls-to-plain-port`` runs
:func:`tls_to_plain_port`), returning what the two ends saw, whether the fault showed as it
should, and notes.

Why one shared PKI (:func:`kit`): key generation and signing are the slow part, and most
faults need only *one* odd certificate beside a good set, made once per process. Its files go
to a private folder under the checkout's state folder (they include keys), for the faults that
live in a file (a .pfx, an encrypted key, a bundle named by REQUESTS_CA_BUNDLE).
"""

from __future__ import annotations

import functools
import os
import socket
import ssl
import threading
import types
import warnings
from dataclasses import dataclass, field
from typing import Callable
from unittest import mock

import requests
from flask import Flask, request

from lab import housekeeping
from lab.auth.forwarding import CertificateForwarding, header_value, trust_header_from_anyone
from lab.course import demo, diagnose
from lab.course.observe import Observation, observe
from lab.errors import LabError
from lab.pki import CertificateAuthority, IssuedCertificate, self_signed_client
from lab.pki.certinfo import common_name
from lab.pki.verify import verify_chain
from lab.proxy import CERT_HEADER
from lab.revocation import Revocations
from lab.tls.client import session
from lab.tls.failures import scrub
from lab.tls.identity import peer_certificate
from lab.tls.server import MTLSServer


@dataclass
class ScenarioResult:
    """What happened, from both sides, and what it means."""

    name: str
    client_saw: str  # what the client's code raised (type: text), or "HTTP status: body"
    server_saw: str  # the server's own record
    status: int | None
    category: str
    cause: str
    fix: str
    behaved: bool = True  # did the scenario produce the outcome it demonstrates?
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        status = self.status if self.status is not None else "-"
        return (
            f"scenario:    {self.name}\n"
            f"client saw:  {self.client_saw}\n"
            f"server saw:  {self.server_saw}\n"
            f"HTTP status: {status}\n"
            f"diagnosis:   [{self.category}] {self.cause}\n"
            f"fix:         {self.fix}"
        )


@dataclass(frozen=True)
class Scenario:
    """One entry of the catalogue: its name, group, one-line description, and how to run it."""

    name: str
    group: str
    description: str
    run: Callable[[], ScenarioResult]


@functools.lru_cache(maxsize=1)
def kit() -> types.SimpleNamespace:
    """The good set every scenario starts from: root, issuing, other CA, server, alice, dir."""
    root = CertificateAuthority.create("Scenario Root CA")
    other = CertificateAuthority.create("Unknown Corp Root CA", organization="Unknown Corp")
    alice = root.issue_client("alice")
    d = housekeeping.temporary_folder("scenarios")  # holds keys: removed at exit, or by reset
    root.write(d / "rootCA")
    other.write(d / "otherCA")
    alice.write(d / "alice")
    alice.to_pkcs12(d / "alice.pfx", "correct-horse-battery")  # wrong-pfx-password tries another
    alice.write(d / "alice-encrypted", password="alice-passphrase")  # and no passphrase given
    root.issue_client("carol", mismatched_key=True).write(d / "carol")
    return types.SimpleNamespace(
        root=root,
        issuing=root.create_intermediate("Scenario Issuing CA"),
        other=other,
        server=root.issue_server("localhost", "127.0.0.1"),
        alice=alice,
        dir=d,
    )


def raw(exc: BaseException) -> str:
    """The exception as the client's code prints it, ports and C line numbers scrubbed."""
    return f"{type(exc).__name__}: {scrub(str(exc))}".replace(str(kit().dir), "scenarios")


def recording(app: Flask) -> list[str]:
    """Make ``app`` note each request it answers: path, who (client certificate CN), status."""
    record: list[str] = []

    @app.after_request
    def _note(response):
        cert = peer_certificate()
        who = (
            f"client certificate CN={common_name(cert.subject)}"
            if cert
            else "no client certificate"
        )
        line = f"{request.method} {request.path} from {who} -> {response.status_code}"
        if response.status_code >= 400 and response.mimetype == "application/problem+json":
            line += f" ({(response.get_json(silent=True) or {}).get('detail', '')})"
        record.append(line)
        return response

    return record


def call(server, fn, record: list[str] | None = None) -> Observation:
    """``observe`` with the client's exception raw (type and text), and the app's record."""
    seen = observe(server, fn)
    if seen.client_error:
        seen.client_saw = raw(seen.client_error)
    if seen.server_saw.startswith("handshake ok") and record:
        seen.server_saw = "handshake ok; " + record[-1]
    return seen


def handshake(
    identity, *, app=None, path="/api/secure", headers=None, client=None, **server
) -> Observation:
    """GET ``path`` on a lab server as ``identity`` (or with a ``requests.Session``).

    The server runs ``app`` (the demo app by default) with the good server certificate,
    trusting the root, in mode require; ``server`` overrides those (certificate=, trust=,
    mode=, crl=, min_version=...), ``client`` the lab client's options (trust=, max_version=).
    """
    k, app = kit(), app or demo.create_app("scenario-demo")
    record = recording(app)
    if not isinstance(identity, requests.Session):
        identity = session(identity, **{"trust": k.root, **(client or {})})
    with MTLSServer(app, **{"certificate": k.server, "trust": k.root, **server}) as s:
        return call(s, lambda: identity.get(s.url + path, headers=headers, timeout=10), record)


def refused(seen: Observation, reason: str, client: str = "") -> bool:
    """The server's record holds ``reason``; and the client's text ``client``, when given."""
    return reason in seen.server_saw and client in seen.client_saw


def plain(cert=None, verify=None) -> requests.Session:
    """requests as most code uses it: a Session with ``cert``/``verify``, the environment ignored."""
    s = requests.Session()
    s.trust_env, s.cert, s.verify = False, cert, verify
    return s


#: name, group | description | category, then for a row of HANDSHAKES: what the server's record
#: must hold | what the client's text must hold (empty where TLS 1.3's race decides) | a note.
#: The catalogue is in group order: trust, identity, time, usage, transport, application.
CATALOGUE = """
unknown-client-ca                trust       | the client certificate comes from a CA the server lacks | unknown-issuer | unable to get local issuer certificate
self-signed-client               trust       | the client presents a self-signed certificate | self-signed | self-signed certificate
client-does-not-trust-server-ca  trust       | the client lacks the server's CA | untrusted-ca | alert unknown ca | self-signed certificate in certificate chain | the server sends its root too: hence 'self-signed certificate in certificate chain'
missing-intermediate-client      trust       | the client sends its leaf without the intermediate | incomplete-chain | unable to get local issuer certificate
missing-intermediate-server      trust       | the server sends its leaf without the intermediate | incomplete-chain | alert unknown ca | unable to get local issuer
works-locally-fails-in-prod      trust       | REQUESTS_CA_BUNDLE replaces Session.verify | wrong-trust-store
verify-false-impostor            trust       | verify=False lets an impostor receive the request | no-server-verification
issuer-name-contains             trust       | the guide's Kestrel callback: Issuer.Contains(name) | issuer-name-check
revoked-client-certificate       trust       | a revoked client certificate, with and without a CRL | revoked
no-client-cert                   identity    | the client connects without a client certificate | no-client-certificate | peer did not return a certificate
server-cert-without-san          identity    | the server certificate has no SAN, only a CN | hostname-mismatch
wrong-hostname                   identity    | the server certificate is valid, for another host name | hostname-mismatch | alert bad certificate | Hostname mismatch
key-cert-mismatch                identity    | the client's key file belongs to another certificate | key-mismatch | before sending a ClientHello | KEY_VALUES
wrong-pfx-password               identity    | the .pfx bundle is opened with the wrong password | wrong-password | never connected | WrongPasswordError
encrypted-key-without-passphrase identity    | an encrypted key, and no passphrase | passphrase-required | never connected | PassphraseRequiredError
expired-client                   time        | the client certificate has expired | expired | certificate has expired
not-yet-valid-client             time        | the client certificate is not valid yet (clock skew) | not-yet-valid | certificate is not yet valid
expired-server                   time        | the server certificate has expired | expired | alert certificate expired | certificate has expired
serverauth-only-client-eku       usage       | the client certificate's EKU is serverAuth only | wrong-purpose | unsuitable certificate purpose
ca-cert-as-client                usage       | the root CA's certificate and key as a client identity | ca-as-leaf
server-cert-clientauth-only-eku  usage       | the server certificate's EKU is clientAuth only | wrong-purpose | alert unsupported certificate | unsuitable certificate purpose
plain-http-to-tls-port           transport   | the client speaks plain HTTP to the TLS port | plain-http-to-tls
tls-to-plain-port                transport   | the client speaks TLS to a plain-HTTP port | tls-to-plain-http
tls-version-mismatch             transport   | the server requires TLS 1.3, the client offers 1.2 | protocol-version | unsupported protocol
forbidden-not-on-allow-list      application | a valid certificate, not authorized: 403 | forbidden | CN=bob -> 403 | HTTP 403
missing-authorization-check      application | a view without an authorization check | missing-authorization | no client certificate -> 200 | HTTP 200
client-cert-not-detected         application | the server never asks for a certificate | client-cert-not-requested | no client certificate -> 403
forged-client-certificate-header application | a caller forges the proxy's header | forged-header
"""


def leaf_only(ident: IssuedCertificate) -> IssuedCertificate:
    """The identity without its chain: the leaf sent alone, its intermediate left out."""
    return IssuedCertificate(ident.cert, ident.key, [])


def loading(make) -> Observation:
    """A fault that stops the client while it loads its identity, before any connection."""
    try:
        make()
    except Exception as exc:  # the failure is the scenario
        return Observation(None, "", raw(exc), "nothing: the client never connected")
    return Observation(None, "", "no error", "-")


def unprotected_report():
    """The payments app with one more view, one someone forgot to protect."""
    app = demo.create_app("scenario-payments")
    app.add_url_rule("/api/report", "report", lambda: "quarterly report: revenue 1.2M")
    return app


#: The faults a handshake (or loading the client's identity) shows: name -> the call, on the
#: shared kit ``k``.
HANDSHAKES: dict[str, Callable] = {
    "unknown-client-ca": lambda k: handshake(k.other.issue_client("stranger")),
    "self-signed-client": lambda k: handshake(self_signed_client("selfie")),
    "client-does-not-trust-server-ca": lambda k: handshake(k.alice, client={"trust": k.other}),
    "missing-intermediate-client": lambda k: handshake(leaf_only(k.issuing.issue_client("dave"))),
    "missing-intermediate-server": lambda k: handshake(
        k.alice, certificate=leaf_only(k.issuing.issue_server("localhost", "127.0.0.1"))
    ),
    "no-client-cert": lambda k: handshake(None),
    "wrong-pfx-password": lambda k: loading(
        lambda: session(str(k.dir / "alice.pfx"), trust=k.root, password="pfx-password")
    ),
    "encrypted-key-without-passphrase": lambda k: loading(
        lambda: session(
            (str(k.dir / "alice-encrypted.crt"), str(k.dir / "alice-encrypted.key")), trust=k.root
        )
    ),
    "wrong-hostname": lambda k: handshake(
        k.alice, certificate=k.root.issue_server("api.example.test")
    ),
    # requests connects, then fails to load the pair, and closes: no ClientHello
    "key-cert-mismatch": lambda k: handshake(
        plain((str(k.dir / "carol.crt"), str(k.dir / "carol.key")), str(k.dir / "rootCA.pem"))
    ),
    "expired-client": lambda k: handshake(k.root.issue_client("alice", expired=True)),
    "not-yet-valid-client": lambda k: handshake(k.root.issue_client("alice", not_yet_valid=True)),
    "expired-server": lambda k: handshake(
        k.alice, certificate=k.root.issue_server("localhost", "127.0.0.1", expired=True)
    ),
    "serverauth-only-client-eku": lambda k: handshake(
        k.root.issue_client("alice", eku=["serverAuth"])
    ),
    "server-cert-clientauth-only-eku": lambda k: handshake(
        k.alice, certificate=k.root.issue_server(eku=["clientAuth"])
    ),
    "tls-version-mismatch": lambda k: handshake(
        k.alice, min_version="1.3", client={"max_version": "1.2"}
    ),
    "forbidden-not-on-allow-list": lambda k: handshake(
        k.root.issue_client("bob"), app=demo.create_app("scenario-payments", allow_subjects="alice")
    ),
    "missing-authorization-check": lambda k: handshake(
        None, app=unprotected_report(), path="/api/report", mode="optional"
    ),
    "client-cert-not-detected": lambda k: handshake(k.alice, mode="none"),
}


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
    return seen, ok, "the variable was set in-process, then restored"


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
    return seen, bool(ok)


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
    return seen, seen.status == 200 and fixed.status == 403, note


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
    return seen[1], ok, f"without a CRL: {seen[0].client_saw}"


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
    return seen, ok, note


def ca_cert_as_client():
    k = kit()
    strict = verify_chain(k.root.cert, k.root, purpose="client")
    seen = handshake(IssuedCertificate(k.root.cert, k.root.key, []))
    note = f"lab.pki.verify.verify_chain refuses it too: {strict.reason}"
    return seen, seen.status == 403 and not strict.ok, note


def plain_http_to_tls_port():
    with MTLSServer(demo.create_app(), certificate=kit().server, trust=kit().root) as s:
        seen = call(s, lambda: plain().get(f"http://localhost:{s.port}/api/secure", timeout=10))
    return seen, seen.status == 400 and "plain HTTP" in seen.server_saw


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
    return seen, ok


def forged(source) -> Observation:
    app = demo.create_app("scenario-forwarded", certificate_source=source)
    return handshake(None, app=app, headers={CERT_HEADER: header_value(kit().alice)}, mode="none")


def forged_client_certificate_header():
    naive = forged(trust_header_from_anyone())
    strict = forged(CertificateForwarding(kit().root, trusted_proxies=["127.0.0.2"]))
    ok = naive.body == "Hello CN=alice,O=mTLS Lab" and "not a trusted proxy" in strict.body
    return naive, ok, f"with lab.auth.forwarding: {strict.client_saw}"


def run_scenario(name: str, category: str, server: str = "", client: str = "", note: str = ""):
    """Run scenario ``name``; for a handshake fault, judge it on what both ends must show."""
    if name in HANDSHAKES:
        seen = HANDSHAKES[name](kit())
        ok, notes = refused(seen, server, client), [note] if note else []
    else:
        seen, ok, *notes = globals()[name.replace("-", "_")]()
    cause, fix = diagnose.WORDS[category]
    return ScenarioResult(
        name, seen.client_saw, seen.server_saw, seen.status, category, cause, fix, ok, notes
    )


def scenario(line: str) -> Scenario:
    """One line of :data:`CATALOGUE`, as a Scenario."""
    head, description, category, *expected = line.split(" | ")
    name, group = head.split()
    return Scenario(
        name, group, description, functools.partial(run_scenario, name, category, *expected)
    )


def in_order() -> list[Scenario]:
    """Every scenario, in catalogue order (grouped: trust, identity, time, usage, transport,
    application)."""
    return [scenario(line) for line in CATALOGUE.strip().splitlines()]


def get(name: str) -> Scenario:
    """The scenario named ``name``; a LabError (one line on the command line) if none is."""
    for sc in in_order():
        if sc.name == name:
            return sc
    raise LabError(f"no scenario named {name!r}; `python -m lab break --list` shows them")


__all__ = ["Scenario", "ScenarioResult", "get", "in_order"]
