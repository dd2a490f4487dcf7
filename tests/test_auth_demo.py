"""lab.auth_demo and notebook 04's self-check: stable lines for accepted, refused and TLS-refused calls."""

from __future__ import annotations

import pytest

from lab import pki
from lab.auth import policies
from lab.course import check, demo
from lab.course.auth_demo import call_as
from lab.tls.server import MTLSServer


@pytest.fixture(scope="module")
def root():
    return pki.CertificateAuthority.create("mTLS Lab Root CA")


def test_call_as_prints_one_line_per_caller_for_each_kind_of_outcome(root, capsys):
    srv = root.issue_server("localhost", "127.0.0.1")
    callers = {
        "ok": root.issue_client("MyTrustedClient"),
        "bob": root.issue_client("bob"),
        "server-only": root.issue_client("x", eku=["serverAuth"]),
    }
    with MTLSServer(
        demo.create_app(allow_subjects=["MyTrustedClient"]), certificate=srv, trust=root
    ) as s:
        statuses = call_as(s, callers, trust=root)
    assert statuses == {"ok": 200, "bob": 403, "server-only": None}
    assert capsys.readouterr().out.splitlines() == [
        "ok          -> 200 Hello CN=MyTrustedClient,O=mTLS Lab",
        "bob         -> 403 Forbidden by policy: subject CN=bob,O=mTLS Lab is not in the allow-list (MyTrustedClient)",
        "server-only -> TLS refused at the handshake (certificate verify failed: unsuitable certificate purpose)",
    ]


def test_payments_exercise_accepts_the_solution(root, capsys):
    solution = policies.san_matches(
        "spiffe://lab.test/ns/payments/*", kind="uri"
    ) & policies.issued_by("mTLS Lab Root CA")
    assert bool(check.exercise_payments_policy(solution, root))
    assert capsys.readouterr().out.startswith("✅")


def test_payments_exercise_catches_a_policy_that_forgets_the_issuer(root, capsys):
    assert not check.exercise_payments_policy(
        policies.san_matches("spiffe://lab.test/ns/payments/*"), root
    )
    assert "another CA" in capsys.readouterr().out


def test_payments_exercise_catches_a_prefix_without_the_slash(root, capsys):
    sloppy = policies.san_matches("spiffe://lab.test/ns/payments*") & policies.issued_by(
        "mTLS Lab Root CA"
    )
    assert not check.exercise_payments_policy(sloppy, root)
    assert "payments-evil" in capsys.readouterr().out


def test_payments_exercise_gives_a_hint_when_nothing_is_assigned(root, capsys):
    assert not check.exercise_payments_policy(None, root)
    assert capsys.readouterr().out.startswith("💡 Not yet")
