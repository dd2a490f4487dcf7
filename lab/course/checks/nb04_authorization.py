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

from flask import Flask

from lab.auth import CertificateAuth, authorize
from lab.course.check import CheckResult, hint, passed, try_calls
from lab.pki import CertificateAuthority
from lab.pki.certinfo import common_name
from lab.tls.server import MTLSServer

ROUTE = "/api/payments"
OTHER_CA = "a payments workload from the OTHER CA that is also named 'mTLS Lab Root CA'"

#: Who calls: what the hint calls them, issued by the other CA?, namespace, name, let in?
CALLERS = (
    ("a payments workload from the course CA", False, "payments", "api", True),
    ("another payments workload", False, "payments", "batch", True),
    ("a payroll workload", False, "payroll", "api", False),
    ("a look-alike namespace, payments-evil", False, "payments-evil", "api", False),
    ("MyTrustedClient, which has no SPIFFE ID", False, None, "MyTrustedClient", False),
    (OTHER_CA, True, "payments", "api", False),
)


def _app(options: dict, policy) -> Flask:
    """The learner's route: ``CertificateAuth(app, **options)``, then ``@authorize(policy)``."""
    app = Flask("payments-exercise")
    CertificateAuth(app, **options)
    app.add_url_rule(ROUTE, "payments", authorize(policy)(lambda: "payments: ok"))
    return app


def _hint(who: str, let_in: bool, seen) -> str:
    if not let_in:
        detail = seen.client_saw if seen.status else seen.server_saw
        return f"your app refused {who} ({detail}); it should get in"
    if who == OTHER_CA:
        return (
            f"your app let in {who}: an issuer name is a label any CA can carry, so compare "
            "keys, not names: CertificateAuth's trust= must hold the course CA alone"
        )
    if "payments-evil" in who:
        return f"your app let in {who}: end the SAN pattern with '/' before the '*'"
    return f"your app let in {who}; it should be refused (match the SPIFFE ID, kind='uri')"


def exercise_payments_policy(options, policy, course, *, label: str = "") -> CheckResult:
    """``options`` for ``CertificateAuth`` (a dict) and ``policy`` (a policy or a function), tried live."""
    if not isinstance(options, dict) or not callable(policy):
        return hint(
            "set payments_options (a dict of CertificateAuth options) and payments_policy "
            "(from lab.auth.policies, or a function (identity) -> None | reason)",
            label,
        )
    twin = CertificateAuthority.create(common_name(course.ca.cert.subject))  # same DN, new key
    callers = [
        (twin if other else course.ca).issue_client(
            name, uri=f"spiffe://lab.test/ns/{namespace}/sa/{name}" if namespace else None
        )
        for _, other, namespace, name, _ in CALLERS
    ]
    try:
        app = _app(options, policy)
    except Exception as exc:  # a learner's options may be wrong in any way; say how
        return hint(f"CertificateAuth(**payments_options) failed: {exc}", label)
    server = MTLSServer(app, certificate=course.server, trust=[course.ca, twin])
    for (who, *_, let_in), seen in zip(CALLERS, try_calls(server, callers, course.ca, ROUTE)):
        if (seen.status == 200) != let_in:
            return hint(_hint(who, seen.status == 200, seen), label)
    return passed(
        "only payments workloads from the course CA's key get in (look-alike names, other "
        "namespaces and the other CA do not)",
        label,
    )
