"""Notebook 05's helpers: both sides of one call, the catalogue as one HTML table, the exercise check,
and the guide's Kestrel issuer-name callback as a live scenario."""

from __future__ import annotations

import requests

from lab.course import check, demo, faults, scenarios
from lab.course.checks.nb05_breaking_it import mysteries
from lab.course.scenarios import ScenarioResult
from lab.course.scenarios.kestrel import issuer_key_check, issuer_name_check
from lab.pki import CertificateAuthority
from lab.tls.server import MTLSServer


def test_both_sides_prints_the_client_view_and_the_servers_record(tmp_path, capsys):
    root = CertificateAuthority.create("Faults Root CA")
    root.write(tmp_path / "rootCA")
    root.issue_client("frank", expired=True).write(tmp_path / "frank")
    with MTLSServer(demo.create_app(), certificate=root.issue_server(), trust=root) as server:
        obs = faults.both_sides(
            server,
            lambda: requests.get(
                server.url + "/api/secure",
                cert=(tmp_path / "frank.crt", tmp_path / "frank.key"),
                verify=tmp_path / "rootCA.pem",
                timeout=10,
            ),
            title="frank:",
        )
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "frank:"
    assert out[1].startswith("client saw  the server closed the connection")
    assert (
        out[2]
        == "server saw  handshake refused: certificate verify failed: certificate has expired"
    )
    assert obs.status is None


def _result(client_saw, server_saw, status=None):
    return ScenarioResult("x", client_saw, server_saw, status, "c", "cause", "fix")


def test_who_refused_reads_the_direction_from_the_servers_record():
    assert faults.who_refused(
        _result("closed", "handshake refused: certificate verify failed: x")
    ).startswith("the server, in the handshake")
    assert faults.who_refused(
        _result("verify failed", "handshake refused: tlsv1 alert unknown ca")
    ) == ("the client, in the handshake")
    assert faults.who_refused(_result("HTTP 403: no", "handshake ok; ...", 403)).startswith(
        "the server's app"
    )
    assert faults.who_refused(_result("HTTP 200: yes", "handshake ok", 200)).startswith("nobody")
    assert faults.who_refused(_result("WrongPasswordError", "nothing: no connection")).startswith(
        "the client, before"
    )


def test_the_catalogue_is_one_html_table_with_every_result_and_folded_details():
    results = [
        _result("a <b>", "handshake refused: certificate verify failed: y"),
        _result("b", "handshake ok", 200),
    ]
    page = faults.Catalogue(results)._repr_html_()
    assert page.count("<table") == 1 and page.count("<details>") == 2
    assert "a &lt;b&gt;" in page and "word-break:normal" in page
    assert (
        repr(faults.Catalogue(results)) == "2 scenarios, 2 of them showed their fault as expected"
    )


def test_a_group_runs_only_its_scenarios():
    table = faults.run("time")
    assert {r.name for r in table.results} == {
        sc.name for sc in scenarios.in_order() if sc.group == "time"
    }
    assert all(r.behaved for r in table.results)


def test_the_guides_issuer_substring_check_passes_a_ca_named_not_your_root_ca():
    yours = CertificateAuthority.create("YourRootCA")
    theirs = CertificateAuthority.create("NotYourRootCA")
    twin = CertificateAuthority.create("YourRootCA")
    assert issuer_name_check(theirs.issue_client("m").cert)
    assert issuer_key_check(yours.issue_client("a").cert, yours.cert)
    assert not issuer_key_check(theirs.issue_client("m").cert, yours.cert)
    assert not issuer_key_check(twin.issue_client("m").cert, yours.cert)


def test_issuer_name_scenario_lets_the_other_ca_in_and_the_key_check_refuses_it():
    result = scenarios.run("issuer-name-contains")
    assert result.behaved, str(result)
    assert result.status == 200 and "CN=mallory" in result.server_saw
    assert "with the key check: HTTP 403" in result.notes[0]


def test_mysteries_check_hints_without_the_answer_and_labels_the_solution(capsys):
    m = mysteries()
    assert not check.exercise_mysteries({1: None, 2: None, 3: None}, m)
    assert not check.exercise_mysteries({1: "no-client-certificate", 2: "untrusted-ca"}, m)
    assert not check.exercise_mysteries({1: "no-such-thing"}, m)
    hints = capsys.readouterr().out
    assert hints.count("💡 Not yet") == 3
    for answer in ("'expired'", "'key-mismatch'", "'no-client-certificate'"):
        assert answer not in hints
    right = {1: "no-client-certificate", 2: "expired", 3: "key-mismatch"}
    assert check.exercise_mysteries(right, m, label="Solution check")
    line = capsys.readouterr().out
    assert line.startswith("Solution check: ✅")
    assert not any(category in line for category in right.values())
