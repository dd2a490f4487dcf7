"""lab.auth over real mTLS on loopback: every option, event and policy, and the 403 bodies."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import forge_client
from flask import Flask, g

from lab import pki
from lab.auth import (
    AuthConfigurationError,
    CertificateAuth,
    authorize,
    current_identity,
    policies,
    require_certificate,
)
from lab.auth.cache import CertificateCache
from lab.auth.policies import PolicyError, subject_argument
from lab.course import demo
from lab.errors import ForgedHeaderError
from lab.pki.certinfo import spki_pin, thumbprint
from lab.tls import client
from lab.tls.identity import ClientIdentity
from lab.tls.server import MTLSServer

ROOT = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------- fixtures
# The shared PKI of conftest.py: root_ca -> intermediate_ca -> server_identity; unrelated_ca.
@pytest.fixture(scope="module")
def root(root_ca):
    return root_ca


@pytest.fixture(scope="module")
def issuing(intermediate_ca):
    return intermediate_ca


@pytest.fixture(scope="module")
def other_root(unrelated_ca):
    return unrelated_ca


@pytest.fixture(scope="module")
def srv(server_identity):
    return server_identity


@pytest.fixture(scope="module")
def alice(root_ca):
    return root_ca.issue_client("alice", uri="spiffe://lab.test/ns/payments/sa/api")


@pytest.fixture(scope="module")
def selfie():
    return pki.self_signed_client("selfie")


@contextlib.contextmanager
def capture_decisions():
    """The lab.auth decision lines, as the logger's filter wrote them."""
    lines: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: lines.append(record.getMessage())
    log = logging.getLogger("lab.auth")
    previous = log.level
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    try:
        yield lines
    finally:
        log.removeHandler(handler)
        log.setLevel(previous)


def make_app(view=None, **options):
    """An app with CertificateAuth(options) and /secure (any certificate) plus /public.

    ``on_certificate_validated=`` is registered with the extension's decorator.
    """
    app = Flask("auth-test")
    event = options.pop("on_certificate_validated", None)
    auth = CertificateAuth(app, **options)
    if event is not None:
        auth.on_certificate_validated(event)

    @app.get("/secure")
    @require_certificate
    def secure():
        ident = current_identity()
        return {"subject": ident.subject, "claims": ident.claims, "g": g.client_identity is ident}

    @app.get("/public")
    def public():
        return {"identity": None if current_identity() is None else current_identity().subject}

    app.auth = auth
    return app


def serve(app, srv, trust, mode="require"):
    return MTLSServer(app, certificate=srv, trust=trust, mode=mode)


def get(server, identity, trust, path="/secure"):
    with client.session(identity, trust=trust) as s:
        return s.get(server.url + path)


def problem_of(response) -> dict:
    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 403 and "Traceback" not in response.text
    return body


# ---------------------------------------------------------- authentication
def test_valid_certificate_is_authenticated_and_the_view_sees_its_identity(root, srv, alice):
    with serve(make_app(), srv, root) as s:
        r = get(s, alice, root)
    assert r.status_code == 200
    assert r.json() == {"subject": "CN=alice,O=mTLS Lab", "claims": {}, "g": True}


def test_protected_route_without_certificate_gets_403_certificate_required(root, srv):
    with serve(make_app(), srv, root, mode="optional") as s:
        r = get(s, None, root)
    body = problem_of(r)
    assert body["title"] == "Client certificate required"
    assert body["type"].endswith("/certificate-required")


def test_public_route_answers_without_certificate(root, srv):
    with serve(make_app(), srv, root, mode="optional") as s:
        assert get(s, None, root, "/public").json() == {"identity": None}


def test_self_signed_certificate_is_refused_by_default_even_when_tls_trusts_it(root, srv, selfie):
    with serve(make_app(), srv, [root, selfie.cert]) as s:
        body = problem_of(get(s, selfie, root))
        assert s.handshakes == 1  # the TLS layer accepted it; the app refused it
    assert "self-signed" in body["detail"] and "'chained'" in body["detail"]


def test_self_signed_type_accepts_self_signed_and_refuses_chained(root, srv, alice, selfie):
    with serve(make_app(allowed_certificate_types="self_signed"), srv, [root, selfie.cert]) as s:
        assert get(s, selfie, root).status_code == 200
        assert (
            "allowed_certificate_types is 'self_signed'"
            in problem_of(get(s, alice, root))["detail"]
        )


def test_all_types_accept_both(root, srv, alice, selfie):
    with serve(make_app(allowed_certificate_types="all"), srv, [root, selfie.cert]) as s:
        assert get(s, selfie, root).status_code == 200
        assert get(s, alice, root).status_code == 200


def test_unknown_certificate_type_is_a_configuration_error():
    with pytest.raises(AuthConfigurationError, match="chained, self_signed, all"):
        CertificateAuth(allowed_certificate_types="chain")


def test_certificate_without_eku_is_allowed_any_use(root, srv):
    with serve(make_app(), srv, root) as s:
        assert get(s, root.issue_client("no-eku", eku=None), root).status_code == 200


def test_server_only_eku_is_refused_by_tls_and_by_the_app_check(root, srv):
    server_only = root.issue_client("server-only", eku=["serverAuth"])
    app = make_app()
    with serve(app, srv, root) as s:
        with pytest.raises(Exception):
            get(s, server_only, root)
        assert "unsuitable certificate purpose" in s.wait_for_handshake_failure().reason
    result = app.auth.check(server_only)
    assert result.outcome == "failed"
    assert (
        result.reason
        == "the certificate's Extended Key Usage (serverAuth) does not include clientAuth"
    )


def test_certificate_expiring_during_a_keepalive_connection_is_refused_on_the_next_request(
    root, srv
):
    now = [dt.datetime.now(dt.timezone.utc)]
    short = root.issue_client("short-lived", not_after=now[0] + dt.timedelta(minutes=5))
    with serve(make_app(clock=lambda: now[0]), srv, root) as s:
        with client.session(short, trust=root) as session:
            assert session.get(s.url + "/secure").status_code == 200
            now[0] += dt.timedelta(minutes=6)  # the app's clock; the TLS layer checked once
            r = session.get(s.url + "/secure")
        assert s.handshakes == 1  # same connection, no new handshake
    assert "expired" in problem_of(r)["detail"]


def test_validity_is_rechecked_on_every_request_even_with_a_cache(root):
    clock_now = [dt.datetime.now(dt.timezone.utc)]
    cert = root.issue_client(
        "c", not_after=clock_now[0].replace(microsecond=0) + dt.timedelta(seconds=10)
    ).cert
    cache = CertificateCache(ttl=3600, clock=lambda: clock_now[0])
    auth = CertificateAuth(cache=cache, clock=lambda: clock_now[0])
    assert auth.check(cert).succeeded
    assert auth.check(cert).succeeded and cache.hits == 1
    clock_now[0] += dt.timedelta(seconds=11)
    result = auth.check(cert)
    assert not result.succeeded and cache.hits == 1 and "expired" in result.reason


def test_custom_trust_store_refuses_a_ca_the_tls_layer_trusts(root, other_root, srv, alice):
    stranger = other_root.issue_client("stranger")
    with serve(make_app(trust=root), srv, [root, other_root]) as s:
        assert get(s, alice, root).status_code == 200
        body = problem_of(get(s, stranger, root))
    assert body["detail"].startswith("custom trust store: no trusted CA issued it")


def test_additional_chain_certificates_let_the_app_build_the_chain(root, issuing, srv):
    carol = issuing.issue_client("carol")  # sends its intermediate; the app only receives the leaf
    with serve(make_app(trust=root), srv, root) as s:
        assert "missing intermediate" in problem_of(get(s, carol, root))["detail"]
    with serve(make_app(trust=root, additional_chain_certificates=[issuing.cert]), srv, root) as s:
        assert get(s, carol, root).status_code == 200


def test_revocation_hook_gets_the_issuer_chain_and_can_refuse(root, issuing, srv):
    seen = []

    def revoked_if_bob(cert, chain):  # a checker names its mode as lab.revocation's do
        seen.append([c.subject.rfc4514_string() for c in chain])
        return "revoked (keyCompromise)" if "bob" in cert.subject.rfc4514_string() else None

    revoked_if_bob.mode = "crl"

    app = make_app(
        trust=root,
        additional_chain_certificates=[issuing],
        revocation=revoked_if_bob,
    )
    with serve(app, srv, root) as s:
        assert get(s, issuing.issue_client("carol"), root).status_code == 200
        body = problem_of(get(s, issuing.issue_client("bob"), root))
    assert body["detail"] == "revocation check (crl): revoked (keyCompromise)"
    assert seen[0] == ["CN=Test Issuing CA,O=mTLS Lab", "CN=Test Root CA,O=mTLS Lab"]


def test_a_revocation_checker_that_crashes_fails_closed(alice):
    def broken(cert, chain):
        raise OSError("CRL server unreachable")

    result = CertificateAuth(revocation=broken).check(alice)
    assert not result.succeeded and "status is unknown" in result.reason


def test_revocation_mode_is_the_checkers_own_name():
    assert CertificateAuth().revocation_mode == "none"
    assert CertificateAuth(revocation=lambda cert, chain: None).revocation_mode == "custom"


def test_a_revocation_that_is_not_a_checker_is_refused_when_configured():
    with pytest.raises(AuthConfigurationError, match="must be a callable"):
        CertificateAuth(revocation="certs/crl.pem")


def test_forged_header_from_the_certificate_source_is_a_403_naming_it(root, srv, alice):
    def source(environ):
        raise ForgedHeaderError("X-Client-Cert came from 127.0.0.1, which is not a trusted proxy")

    with serve(make_app(certificate_source=source), srv, root) as s:
        body = problem_of(get(s, alice, root))
    assert (
        body["detail"]
        == "forged certificate header: X-Client-Cert came from 127.0.0.1, which is not a trusted proxy"
    )


# ------------------------------------------------------------------ events
def test_on_certificate_validated_can_add_claims_the_view_sees(root, srv, alice):
    def add_role(ctx):
        ctx.add_claim("role", "payments")

    with serve(make_app(on_certificate_validated=add_role), srv, root) as s:
        assert get(s, alice, root).json()["claims"] == {"role": "payments"}


def test_on_certificate_validated_fail_refuses_with_its_reason(root, srv, alice):
    def only_trusted(ctx):
        if "MyTrustedClient" not in ctx.certificate.subject.rfc4514_string():
            ctx.fail("Unauthorized client")

    with serve(make_app(on_certificate_validated=only_trusted), srv, root) as s:
        assert problem_of(get(s, alice, root))["detail"] == "Unauthorized client"


def test_the_guides_fail_then_success_bug_lets_the_caller_in(root, srv, alice):
    def guide_version(ctx):
        if "MyTrustedClient" not in ctx.certificate.subject.rfc4514_string():
            ctx.fail("Unauthorized client")
        ctx.success()

    with (
        capture_decisions() as lines,
        serve(make_app(on_certificate_validated=guide_version), srv, root) as s,
    ):
        assert get(s, alice, root).status_code == 200
    assert "event: success() overwrote an earlier fail('Unauthorized client')" in lines


def test_events_have_one_way_in_the_extensions_decorators():
    import lab.auth

    assert not hasattr(lab.auth, "CertificateEvents")
    for keyword in ("events", "on_certificate_validated", "on_challenge"):
        with pytest.raises(TypeError):
            CertificateAuth(Flask("x"), **{keyword: lambda ctx: None})
    auth = CertificateAuth(Flask("x"))

    def hook(ctx):
        pass

    assert auth.on_certificate_validated(hook) is hook  # usable as a decorator


@pytest.mark.parametrize("option", ["allow_subjects", "pin_thumbprints", "pin_spki"])
def test_demo_create_app_with_an_empty_list_allows_nobody(root, srv, alice, option):
    """``[]`` (a list built from an empty config) means "nobody", never "no policy"."""
    with serve(demo.create_app(**{option: []}), srv, root) as s:
        assert get(s, alice, root, "/api/secure").status_code == 403
    with serve(demo.create_app(), srv, root) as s:  # no option at all: no policy
        assert get(s, alice, root, "/api/secure").status_code == 200


class _AsyncioFlask(Flask):
    """Flask runs ``async def`` views through ensure_sync (asgiref by default; this needs none)."""

    def ensure_sync(self, func):
        import asyncio
        import inspect

        if inspect.iscoroutinefunction(func):
            return lambda *a, **kw: asyncio.run(func(*a, **kw))
        return func


@pytest.mark.parametrize("decorator", ["require_certificate", "authorize"])
def test_an_async_view_behind_the_decorators_runs_through_ensure_sync(root, srv, alice, decorator):
    app = _AsyncioFlask("async-auth")
    CertificateAuth(app)
    guard = require_certificate if decorator == "require_certificate" else authorize()

    @app.get("/async/<name>")
    @guard
    async def hello(name):
        return f"async hello {name} from {current_identity().common_name}"

    with serve(app, srv, root) as s:
        r = get(s, alice, root, "/async/x")
    assert r.status_code == 200 and r.text == "async hello x from alice"


# ------------------------------------------------- identities that are not one
def _two_cn_certificate(root, first: str, second: str):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, first),
                    x509.NameAttribute(NameOID.COMMON_NAME, second),
                ]
            )
        )
        .issuer_name(root.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(root.key, hashes.SHA256())
    )
    return pki.IssuedCertificate(cert, key, [])


def test_a_subject_with_two_cns_is_refused_because_software_disagrees_on_which_one_counts(root):
    cert = _two_cn_certificate(root, "MyTrustedClient", "mallory")
    result = CertificateAuth(Flask("x"), trust=root).check(cert)
    assert not result.succeeded
    assert result.reason == (
        "the certificate's subject has 2 common names (MyTrustedClient, mallory); software "
        "disagrees on which one names the caller (OpenSSL-based code reads the first, Go the "
        "last), so it is refused"
    )


def test_a_ca_certificate_issued_by_the_trusted_ca_is_refused_as_a_client(root, srv):
    sub_ca = root.issue_client("MyTrustedClient", ca_flag=True)
    with serve(demo.create_app(allow_subjects="MyTrustedClient"), srv, root) as s:
        r = get(s, sub_ca, root, "/api/secure")  # the TLS layer lets it through
    assert problem_of(r)["detail"] == (
        "the certificate is a CA certificate (Basic Constraints CA:TRUE): a CA key signs "
        "certificates, it does not identify a client"
    )


# --------------------------------------------- caller-controlled text in output
FORGED_CN = "alice\nauthorization allowed GET /admin for CN=admin\x1b[31m\u202e"


def test_a_subject_with_control_characters_stays_one_line_in_the_log_and_the_response(root, srv):
    liar = forge_client(root, FORGED_CN, organization="mTLS Lab")  # lab.pki refuses this name
    with capture_decisions() as lines, serve(demo.create_app(), srv, root) as s:
        r = get(s, liar, root, "/api/secure")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    expected = (
        "CN=alice\\x0aauthorization allowed GET /admin for CN=admin\\x1b[31m\\u202e,O=mTLS Lab"
    )
    assert r.text == f"Hello {expected}"
    assert f"authentication succeeded: {expected}" in lines
    assert not any(ch in line for line in lines for ch in "\n\x1b\u202e")


def test_a_request_path_with_terminal_controls_cannot_forge_a_log_line(root, srv, alice):
    """ESC[2K clears the terminal line and CR returns to its start: the reader would see a forgery."""
    app = Flask("paths")
    CertificateAuth(app)

    @app.get("/files/<path:name>")
    @require_certificate
    def files(name):
        return "ok"

    with capture_decisions() as lines, serve(app, srv, root) as s:
        r = get(s, alice, root, "/files/x%1b[2K%0dauthorization%20allowed%20GET%20/admin")
    assert r.status_code == 200
    assert lines[-1] == (
        "authorization allowed GET /files/x\\x1b[2K\\x0dauthorization allowed GET /admin "
        "for CN=alice,O=mTLS Lab [authenticated]"
    )


def test_printable_escapes_controls_like_nginx_and_leaves_rfc4514_escapes_alone():
    from lab.auth.text import printable

    assert printable("a\x00b\tc\x7f\u2028") == "a\\x00b\\x09c\\x7f\\u2028"
    assert printable("CN=a\\,b,O=x") == "CN=a\\,b,O=x"
    assert printable("Grüße 東京") == "Grüße 東京"


# ------------------------------------------------------------ authorization
def policy_app(*rules, **options):
    app = Flask("policy-test")
    CertificateAuth(app, **options)

    @app.get("/pay")
    @authorize(*rules)
    def pay():
        return "paid"

    return app


def test_allow_list_refuses_another_without_telling_it_who_is_allowed_and_logs_the_list(
    root, srv, alice
):
    with (
        capture_decisions() as lines,
        serve(policy_app(policies.allow_subjects("alice")), srv, root) as s,
    ):
        assert get(s, alice, root, "/pay").text == "paid"
        r = get(s, root.issue_client("bob"), root, "/pay")
    body = problem_of(r)
    assert body == {
        "type": "https://mtls-lab.test/problems/authorization-failed",
        "title": "Forbidden by policy",
        "status": 403,
        "detail": "subject CN=bob,O=mTLS Lab is not in the allow-list",
        "stage": "authorization",
    }
    assert "alice" not in r.text
    assert lines[-1].endswith("is not in the allow-list [allow_subjects(alice)]")


def test_an_empty_allow_list_allows_nobody(root, alice):
    nobody = policies.allow_subjects()
    identity = ClientIdentity.from_certificate(alice.cert)
    no_cn = dataclasses.replace(identity, subject="O=MyTrustedClient", common_name="")
    assert nobody.name == "allow_subjects(nobody)"
    assert nobody(identity) == "subject CN=alice,O=mTLS Lab is not in the allow-list"
    assert nobody(no_cn) == "subject O=MyTrustedClient is not in the allow-list"


@pytest.mark.parametrize("entry", ["", " ", "\t"])
def test_an_empty_allow_list_entry_is_an_error_not_a_match_for_a_certificate_without_cn(entry):
    with pytest.raises(PolicyError, match="an allow-list entry is empty"):
        policies.allow_subjects("MyTrustedClient", entry)
    with pytest.raises(argparse.ArgumentTypeError, match="an allow-list entry is empty"):
        subject_argument(entry)
    assert subject_argument("CN=a,O=b") == "CN=a,O=b"


def test_spki_pin_admits_a_reissued_certificate_and_thumbprint_pin_does_not(root, srv, alice):
    reissued = root.issue_client("alice", key=alice.key, uri="spiffe://lab.test/ns/payments/sa/api")
    with serve(policy_app(policies.pin_spki(spki_pin(alice.cert))), srv, root) as s:
        assert get(s, reissued, root, "/pay").status_code == 200
    with serve(policy_app(policies.pin_thumbprint(thumbprint(alice.cert))), srv, root) as s:
        assert get(s, alice, root, "/pay").status_code == 200
        assert "is not pinned" in problem_of(get(s, reissued, root, "/pay"))["detail"]


def test_san_pattern_and_a_plain_function_combine(root, srv):
    def not_suspended(identity):
        return "mallory is suspended" if identity.common_name == "mallory" else None

    rules = (policies.san_matches("spiffe://lab.test/ns/payments/*"), not_suspended)
    good = root.issue_client("api", uri="spiffe://lab.test/ns/payments/sa/api")
    payroll = root.issue_client("x", uri="spiffe://lab.test/ns/payroll/sa/x")
    mallory = root.issue_client("mallory", uri="spiffe://lab.test/ns/payments/sa/m")
    with serve(policy_app(*rules), srv, root) as s:
        assert get(s, good, root, "/pay").status_code == 200
        assert "no SAN entry" in problem_of(get(s, payroll, root, "/pay"))["detail"]
        assert problem_of(get(s, mallory, root, "/pay"))["detail"] == "mallory is suspended"


def test_policies_combine_with_and(root, alice):
    both = policies.allow_subjects("alice") & policies.san_matches("spiffe://lab.test/*")
    assert both(ClientIdentity.from_certificate(alice.cert)) is None
    bob = ClientIdentity.from_certificate(root.issue_client("bob").cert)
    assert both(bob) == "subject CN=bob,O=mTLS Lab is not in the allow-list"


def test_stacked_decorators_all_apply(root, srv, alice):
    app = Flask("stacked")
    CertificateAuth(app)

    @app.get("/x")
    @authorize(policies.allow_subjects("alice", "bob"))
    @authorize(policies.san_matches("spiffe://lab.test/*"))
    def x():
        return "ok"

    with serve(app, srv, root) as s:
        assert get(s, alice, root, "/x").status_code == 200
        assert "no SAN entry" in problem_of(get(s, root.issue_client("bob"), root, "/x"))["detail"]


def test_each_decision_is_logged_as_one_line(root, srv, alice):
    with (
        capture_decisions() as lines,
        serve(policy_app(policies.allow_subjects("bob")), srv, root) as s,
    ):
        get(s, alice, root, "/pay")
    assert lines == [
        "authentication succeeded: CN=alice,O=mTLS Lab",
        "authorization denied GET /pay for CN=alice,O=mTLS Lab: subject CN=alice,O=mTLS Lab is not in the "
        "allow-list [allow_subjects(bob)]",
    ]


def test_cache_serves_repeat_requests_and_events_run_once(root, srv, alice):
    calls = []
    app = make_app(
        cache=True, on_certificate_validated=lambda ctx: calls.append(ctx.identity.subject)
    )
    with serve(app, srv, root) as s, client.session(alice, trust=root) as session:
        for _ in range(3):
            assert session.get(s.url + "/secure").status_code == 200
    assert calls == ["CN=alice,O=mTLS Lab"]
    assert app.auth.cache.hits == 2


# ------------------------------------------------------------------- demo
def test_demo_app_without_arguments_greets_any_valid_client(root, srv, alice):
    with serve(demo.create_app(), srv, root) as s:
        assert get(s, alice, root, "/api/secure").text == "Hello CN=alice,O=mTLS Lab"


def test_demo_app_pins_apply_to_api_secure(root, srv, alice):
    app = demo.create_app(
        allow_subjects=["alice"],
        pin_spki=[spki_pin(alice.cert)],
        pin_thumbprints=[thumbprint(alice.cert)],
    )
    with serve(app, srv, root) as s:
        assert get(s, alice, root, "/api/secure").status_code == 200
        assert problem_of(get(s, root.issue_client("alice"), root, "/api/secure"))[
            "detail"
        ].startswith("certificate thumbprint")


def test_view_without_extension_is_a_recorded_configuration_error(root, srv, alice):
    app = Flask("no-ext")

    @app.get("/x")
    @require_certificate()
    def x():
        return "never"

    server = MTLSServer(app, certificate=srv, trust=root, raise_errors=False)
    with server as s:
        assert get(s, alice, root, "/x").status_code == 500
    assert "CertificateAuth is not installed" in server.errors[0].error


# ---------------------------------------------------------------- the CLI
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_serve_allow_subject_lets_the_course_client_in_and_refuses_bob_via_curl(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    lab = [sys.executable, "-m", "lab"]
    d = tmp_path / "certs"
    subprocess.run(
        [*lab, "pki", "init", "--dir", str(d)], check=True, env=env, cwd=ROOT, capture_output=True
    )
    subprocess.run(
        [*lab, "pki", "issue", "client", "bob", "--dir", str(d)],
        check=True,
        env=env,
        cwd=ROOT,
        capture_output=True,
    )
    proc = subprocess.Popen(
        [*lab, "serve", "--certs", str(d), "--port", "0", "--allow-subject", "MyTrustedClient"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        url = None
        for line in proc.stdout:
            m = re.search(r"(https://\S+)", line)
            if m:
                url = m.group(1).rstrip(" (")
                break
        assert url, proc.stderr.read()

        def curl(name):
            out = subprocess.run(
                [
                    "curl",
                    "-sS",
                    "--cert",
                    str(d / f"{name}.crt"),
                    "--key",
                    str(d / f"{name}.key"),
                    "--cacert",
                    str(d / "rootCA.pem"),
                    "-w",
                    "\n%{http_code} %{content_type}",
                    f"{url}/api/secure",
                ],
                capture_output=True,
                text=True,
                env=env,
                timeout=30,
            )
            body, _, status = out.stdout.rpartition("\n")
            return body, status

        body, status = curl("client")
        assert (body, status.split()[0]) == ("Hello CN=MyTrustedClient,O=mTLS Lab", "200")
        body, status = curl("bob")
        assert status == "403 application/problem+json"
        assert json.loads(body)["detail"] == "subject CN=bob,O=mTLS Lab is not in the allow-list"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)


@pytest.mark.parametrize("entry", ["", "  "])
def test_serve_with_an_empty_allow_subject_refuses_to_start_instead_of_admitting_anyone_without_a_cn(
    run_lab, shared_course_dir, entry
):
    """``--allow-subject "$UNSET"`` used to start a server that let every CN-less certificate in."""
    result = run_lab(
        "serve", "--certs", shared_course_dir, "--port", "0", "--allow-subject", entry, timeout=60
    )
    assert result.rc in (1, 2) and not result.has_traceback  # 2 once argparse checks it
    assert "an allow-list entry is empty" in result.stderr
