"""The environment report: the same printout on every machine, the per-machine detail on request.

Why: notebook 00 saves the report's output, and strict nbval compares it on a machine
that sets REQUESTS_CA_BUNDLE; a learner's clean machine must see the same, neutral text.
"""

from __future__ import annotations

import pytest

from lab.course import env

VARIABLES = list(env.CA_BUNDLE_VARIABLES)


def _report_text(capsys) -> str:
    env.report()
    return capsys.readouterr().out


def test_report_prints_the_same_text_whether_ca_bundle_variables_are_set_or_not(
    monkeypatch, capsys
):
    for name in VARIABLES:
        monkeypatch.setenv(name, "/etc/ssl/certs/ca-certificates.crt")
    with_variables = _report_text(capsys)
    for name in VARIABLES:
        monkeypatch.delenv(name)
    without_variables = _report_text(capsys)
    assert with_variables == without_variables
    for name in VARIABLES:
        assert name in with_variables
    assert "Careful" not in with_variables and "env.ca_bundle_variables()" in with_variables


def test_report_lines_stay_under_120_characters(capsys):
    assert max(len(line) for line in _report_text(capsys).splitlines()) < 120


@pytest.mark.parametrize("name", VARIABLES)
def test_ca_bundle_variables_says_which_one_is_set(name):
    table = env.ca_bundle_variables({name: "/somewhere/bundle.pem", "UNRELATED": "x"})
    here = {row[0]: row[1] for row in table.rows}
    assert here == {other: ("set" if other == name else "not set") for other in VARIABLES}


def test_an_empty_variable_counts_as_not_set():
    table = env.ca_bundle_variables({"REQUESTS_CA_BUNDLE": ""})
    assert dict((row[0], row[1]) for row in table.rows)["REQUESTS_CA_BUNDLE"] == "not set"


def test_ca_bundle_variables_reads_the_process_environment_by_default(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", "/somewhere/bundle.pem")
    html = env.ca_bundle_variables()._repr_html_()
    assert "<td>SSL_CERT_FILE</td><td>set</td>" in html
    assert "<td>REQUESTS_CA_BUNDLE</td><td>not set</td>" in html
