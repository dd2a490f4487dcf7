"""Self-check for notebook 04's exercise: a policy for the payments API."""

from __future__ import annotations

from lab.course.check import report
from lab.pki import CertificateAuthority
from lab.tls.identity import ClientIdentity


def exercise_payments_policy(policy, course_ca):
    """Only payments workloads (SPIFFE ID under spiffe://lab.test/ns/payments/) issued by the course CA."""
    if policy is None:
        return report(
            False,
            "",
            "build the policy from lab.policies (san_matches, issued_by) and assign it to payments",
        )
    if not callable(policy):
        return report(
            False, "", "a policy is called with a ClientIdentity; use the functions in lab.policies"
        )
    ca = getattr(course_ca, "ca", course_ca)
    stranger_ca = CertificateAuthority.create("Stranger CA")

    def who(issuer, name, uri=None):
        return ClientIdentity.from_certificate(issuer.issue_client(name, uri=uri).cert)

    cases = [
        (
            "a payments workload from the course CA",
            who(ca, "api", "spiffe://lab.test/ns/payments/sa/api"),
            True,
        ),
        (
            "another payments workload from the course CA",
            who(ca, "batch", "spiffe://lab.test/ns/payments/sa/batch"),
            True,
        ),
        ("a payroll workload", who(ca, "payroll", "spiffe://lab.test/ns/payroll/sa/api"), False),
        (
            "a look-alike namespace (payments-evil)",
            who(ca, "evil", "spiffe://lab.test/ns/payments-evil/sa/api"),
            False,
        ),
        (
            "a payments SPIFFE ID from another CA",
            who(stranger_ca, "api", "spiffe://lab.test/ns/payments/sa/api"),
            False,
        ),
        ("MyTrustedClient, which has no SPIFFE ID", who(ca, "MyTrustedClient"), False),
    ]
    for label, identity, should_pass in cases:
        try:
            allowed = policy(identity) is None
        except Exception as exc:  # noqa: BLE001 - a learner's policy may raise; say so
            return report(False, "", f"the policy raised {type(exc).__name__} for {label}: {exc}")
        if allowed != should_pass:
            verb = "let in" if allowed else "refused"
            return report(
                False,
                "",
                f"your policy {verb} {label}; "
                f"{'it should be refused' if allowed else 'it should be allowed'}",
            )
    return report(
        True,
        "only payments workloads issued by the course CA get in (look-alikes and strangers do not)",
        "",
    )
