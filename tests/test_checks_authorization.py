"""Notebook 04's self-check (the payments policy), against real servers."""

from __future__ import annotations

import pytest

from lab.auth import policies
from lab.course import check, coursepki


@pytest.fixture(scope="module")
def course(shared_course_dir):
    return coursepki.load(shared_course_dir)


PAYMENTS = "spiffe://lab.test/ns/payments/*"


def test_payments_exercise_accepts_trust_by_key_and_the_spiffe_pattern(course, capsys):
    policy = policies.san_matches(PAYMENTS, kind="uri")
    assert bool(check.exercise_payments_policy({"trust": course.ca}, policy, course))
    assert capsys.readouterr().out.startswith("✅")


def test_payments_exercise_refuses_an_issuer_name_check_with_a_hint_about_keys(course, capsys):
    def issuer_named(identity):
        return None if identity.issuer == "CN=mTLS Lab Root CA,O=mTLS Lab" else "another issuer"

    by_name = policies.san_matches(PAYMENTS, kind="uri") & policies.Policy("issuer", issuer_named)
    assert not check.exercise_payments_policy({}, by_name, course)
    out = capsys.readouterr().out
    assert "OTHER CA" in out and "trust=" in out


def test_payments_exercise_catches_a_prefix_without_the_slash(course, capsys):
    sloppy = policies.san_matches("spiffe://lab.test/ns/payments*")
    assert not check.exercise_payments_policy({"trust": course.ca}, sloppy, course)
    assert "payments-evil" in capsys.readouterr().out


def test_payments_exercise_names_the_refused_caller_and_the_403_detail(course, capsys):
    too_strict = policies.allow_subjects("api")
    assert not check.exercise_payments_policy({"trust": course.ca}, too_strict, course)
    out = " ".join(capsys.readouterr().out.split())
    assert "refused another payments workload" in out and "not in the allow-list" in out


def test_payments_exercise_gives_a_hint_when_nothing_is_assigned(course, capsys):
    assert not check.exercise_payments_policy(None, None, course)
    assert capsys.readouterr().out.startswith("💡 Not yet")


def test_payments_exercise_reports_bad_options_in_one_line(course, capsys):
    policy = policies.san_matches(PAYMENTS, kind="uri")
    assert not check.exercise_payments_policy({"allowed_certificate_types": "x"}, policy, course)
    assert "CertificateAuth(**payments_options) failed" in capsys.readouterr().out


def test_a_labelled_check_says_so_on_its_line(course, capsys):
    policy = policies.san_matches(PAYMENTS, kind="uri")
    check.exercise_payments_policy({"trust": course.ca}, policy, course, label="Solution check")
    assert capsys.readouterr().out.startswith("Solution check: ✅")


def test_payments_exercise_accepts_a_plain_function_as_the_policy(course, capsys):
    def payments_only(identity):
        ok = any(uri.startswith("spiffe://lab.test/ns/payments/") for uri in identity.uris)
        return None if ok else "not a payments workload"

    assert bool(check.exercise_payments_policy({"trust": course.ca}, payments_only, course))
    assert capsys.readouterr().out.startswith("✅")
