"""The self-check of notebook 08: a rollover runbook played live decides, each miss has its hint.

The check plays the learner's plan change by change against a real server and real clients,
so these tests give it plans that work, plans that break a client at a known change, and
plans it must refuse before starting a server.
"""

from __future__ import annotations

import pytest

from lab.course.checks.nb08_rotation import exercise_rollover_order

BOTH = ["old", "new"]
REMOVE_OLD_ROOT = {"server trusts": ["new"], "clients trust": ["new"]}


def test_a_safe_order_other_than_the_notebooks_passes():
    plan = [
        {"clients trust": BOTH},
        {"server trusts": BOTH},
        {"alice": "new"},
        {"server": "new"},
        {"bob": "new"},
        REMOVE_OLD_ROOT,
    ]
    result = exercise_rollover_order(plan)
    assert result, result.line
    assert "all 6 changes" in result.line


def test_new_server_certificate_before_the_clients_trust_the_new_root_names_that_change():
    plan = [{"server trusts": BOTH}, {"server": "new"}, {"clients trust": BOTH}]
    result = exercise_rollover_order(plan)
    assert not result
    assert "after change 2" in result.line and "alice" in result.line
    assert "unknown ca" in result.line  # the client refused the server, and the server recorded it


def test_new_client_certificate_before_the_server_trusts_the_new_root_is_refused_by_the_server():
    result = exercise_rollover_order([{"clients trust": BOTH}, {"bob": "new"}])
    assert not result
    assert "after change 2" in result.line and "bob" in result.line
    assert "certificate verify failed" in result.line  # the server refused bob


def test_removing_the_old_root_before_bob_is_reissued_strands_bob():
    plan = [{"server trusts": BOTH}, {"clients trust": BOTH}, {"server": "new"}, {"alice": "new"}]
    result = exercise_rollover_order([*plan, REMOVE_OLD_ROOT, {"bob": "new"}])
    assert not result
    assert "after change 5" in result.line and "bob" in result.line


def test_a_plan_that_breaks_nothing_but_keeps_the_old_root_is_not_finished():
    result = exercise_rollover_order([{"server trusts": BOTH}, {"clients trust": BOTH}])
    assert not result
    assert "nothing broke" in result.line and "server: old" in result.line


@pytest.mark.parametrize(
    ("plan", "words"),
    [
        ([], "list of changes"),
        ("server trusts new root", "list of changes"),
        ([{"server": "new+cross"}], "change 1 is not"),
        ([{"clients trust": "new"}], "change 1 is not"),
        (
            [{"server trusts": ["old", "new"]}, {"clients trust": ["old", "newer"]}],
            "change 2 is not",
        ),
        ([{"carol": "new"}], "change 1 is not"),
        ([{}], "change 1 is not"),
    ],
)
def test_a_malformed_plan_gets_one_line_naming_the_change(plan, words):
    result = exercise_rollover_order(plan)
    assert not result
    assert words in result.line
