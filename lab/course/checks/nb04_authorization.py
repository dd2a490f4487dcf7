"""Self-check for notebook 04's exercise: the payments API's authentication options and policy.

The check builds the learner's app (``CertificateAuth(app, **options)`` and one route
behind ``@authorize(policy)``), runs it behind a real mTLS server whose TLS layer trusts
TWO CAs, and calls it with real certificates. The second CA carries the same name as the
course CA (``mTLS Lab Root CA``, the lab's default name, so any team running
``pki init`` makes one): a policy that compares issuer *names* lets its payments workload
in, which is the guide's ``Issuer.Contains`` weakness. Only trust by key
(``CertificateAuth(trust=...)``) tells the two CAs apart.
"""

from __future__ import annotations

import functools

from flask import Flask

from lab.auth import CertificateAuth, authorize
from lab.course.check import CheckResult, hint, passed
from lab.course.observe import observe
from lab.pki import CertificateAuthority
from lab.pki.certinfo import common_name
from lab.tls.client import session
from lab.tls.server import MTLSServer

ROUTE = "/api/payments"


@functools.lru_cache(maxsize=4)
def _callers(course_ca):
    """(label, identity, allowed?) for every caller the check sends, and the twin CA."""
    twin = CertificateAuthority.create(common_name(course_ca.cert.subject))  # same DN, new key

    def workload(ca, name, namespace=None):
        uri = f"spiffe://lab.test/ns/{namespace}/sa/{name}" if namespace else None
        return ca.issue_client(name, uri=uri)

    callers = (
        ("a payments workload from the course CA", workload(course_ca, "api", "payments"), True),
        ("another payments workload", workload(course_ca, "batch", "payments"), True),
        ("a payroll workload", workload(course_ca, "api", "payroll"), False),
        (
            "a look-alike namespace (spiffe://lab.test/ns/payments-evil/...)",
            workload(course_ca, "api", "payments-evil"),
            False,
        ),
        ("MyTrustedClient, which has no SPIFFE ID", workload(course_ca, "MyTrustedClient"), False),
        (
            "a payments workload from the OTHER CA that is also named 'mTLS Lab Root CA'",
            workload(twin, "api", "payments"),
            False,
        ),
    )
    return twin, callers


def _app(options: dict, policy):
    app = Flask("payments-exercise")
    CertificateAuth(app, **options)

    @app.get(ROUTE)
    @authorize(policy)
    def payments():
        return "payments: ok"

    return app


def _hint(label: str, allowed_wrongly: bool, options: dict, detail: str) -> str:
    if not allowed_wrongly:
        return f"your app refused {label} ({detail}); it should get in"
    if "OTHER CA" in label:
        if "trust" not in options:
            return (
                f"your app let in {label}: an issuer name is a label any CA can carry, so compare "
                f"keys, not names: give CertificateAuth a trust store (options trust=course.ca)"
            )
        return f"your app let in {label}: its trust= must hold the course CA only"
    if "payments-evil" in label:
        return f"your app let in {label}: end the SAN pattern with '/' before the '*'"
    return f"your app let in {label}; it should be refused (match the SPIFFE ID, kind='uri')"


def exercise_payments_policy(options, policy, course, *, label: str = "") -> CheckResult:
    """``options`` for ``CertificateAuth`` (a dict) and ``policy`` (a policy or a function), tried live."""
    if options is None or policy is None:
        return hint(
            "set payments_options (a dict of CertificateAuth options) and payments_policy "
            "(from lab.auth.policies, or a function (identity) -> None | reason)",
            label,
        )
    if not isinstance(options, dict):
        return hint("payments_options must be a dict, e.g. {'trust': ...}", label)
    if not callable(policy):
        return hint(
            "payments_policy must be a policy or a function (identity) -> None | reason", label
        )
    ca = getattr(course, "ca", course)
    twin, callers = _callers(ca)
    try:
        app = _app(options, policy)
    except Exception as exc:  # a learner's options may be wrong in any way; say how
        return hint(f"CertificateAuth(**payments_options) failed: {exc}", label)
    server_cert = getattr(course, "server", None) or ca.issue_server("localhost", "127.0.0.1")
    with MTLSServer(app, certificate=server_cert, trust=[ca, twin]) as server:
        for who, identity, should_pass in callers:
            with session(identity, trust=ca) as caller:
                obs = observe(server, lambda: caller.get(server.url + ROUTE, timeout=10))  # noqa: B023
            allowed = obs.status == 200
            if allowed != should_pass:
                detail = obs.client_saw if obs.status else obs.server_saw
                return hint(_hint(who, allowed, options, detail), label)
    return passed(
        "only payments workloads from the course CA's key get in (look-alike names, other "
        "namespaces and the other CA do not)",
        label,
    )
