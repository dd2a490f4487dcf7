"""The failure catalogue: every scenario reproduces its fault live and is judged by the server's record."""

from __future__ import annotations

import pytest

from lab import cli
from lab.course import scenarios
from lab.course.scenarios import GROUPS, Scenario, ScenarioResult

#: name -> (category, what the server's record must say, what the client's stable view must say)
EXPECTED = {
    "unknown-client-ca": ("untrusted-client-ca", "unable to get local issuer certificate", None),
    "self-signed-client": (
        "self-signed-client",
        "certificate verify failed: self-signed certificate",
        None,
    ),
    "client-does-not-trust-server-ca": (
        "untrusted-server-ca",
        "alert unknown ca",
        "self-signed certificate in certificate chain",
    ),
    "missing-intermediate-client": (
        "incomplete-chain",
        "unable to get local issuer certificate",
        None,
    ),
    "missing-intermediate-server": (
        "incomplete-chain",
        "alert unknown ca",
        "unable to get local issuer certificate",
    ),
    "works-locally-fails-in-prod": (
        "wrong-trust-store",
        "second call: handshake refused: tlsv1 alert unknown ca",
        "without REQUESTS_CA_BUNDLE: HTTP 200",
    ),
    "verify-false-impostor": (
        "no-server-verification",
        "Authorization: Bearer lab-secret-token",
        "with verify=False: HTTP 200",
    ),
    "no-client-cert": ("no-client-certificate", "peer did not return a certificate", None),
    "server-cert-without-san": (
        "no-subject-alt-name",
        "alert bad certificate",
        "Hostname mismatch",
    ),
    "wrong-hostname": ("hostname-mismatch", "alert bad certificate", "Hostname mismatch"),
    "key-cert-mismatch": ("key-mismatch", "before any ClientHello", "key values mismatch"),
    "wrong-pfx-password": (
        "wrong-password",
        "nothing: no connection reached the server",
        "WrongPasswordError",
    ),
    "encrypted-key-without-passphrase": (
        "passphrase-required",
        "nothing: no connection reached the server",
        "PassphraseRequiredError",
    ),
    "expired-client": ("expired", "certificate verify failed: certificate has expired", None),
    "not-yet-valid-client": ("not-yet-valid", "certificate is not yet valid", None),
    "expired-server": ("expired", "alert certificate expired", "certificate has expired"),
    "serverauth-only-client-eku": ("wrong-purpose", "unsuitable certificate purpose", None),
    "ca-cert-as-client": (
        "ca-as-leaf",
        "handshake ok; GET /api/secure from client certificate CN=Scenario Root CA -> 403",
        "HTTP 403",
    ),
    "server-cert-clientauth-only-eku": (
        "wrong-purpose",
        "alert unsupported certificate",
        "unsuitable certificate purpose",
    ),
    "plain-http-to-tls-port": (
        "plain-http-to-tls",
        "the client spoke plain HTTP to the TLS port",
        "HTTP 400: This port speaks HTTPS only",
    ),
    "tls-to-plain-port": ("tls-to-plain-http", "TLS ClientHello", "wrong version number"),
    "tls-version-mismatch": (
        "protocol-version",
        "unsupported protocol",
        "no protocol version in common",
    ),
    "forbidden-not-on-allow-list": ("forbidden", "CN=bob -> 403", "HTTP 403"),
    "missing-authorization-check": (
        "missing-authorization",
        "no client certificate -> 200",
        "HTTP 200",
    ),
    "client-cert-not-detected": (
        "client-cert-not-requested",
        "no client certificate -> 403",
        "HTTP 403",
    ),
}

#: Scenarios whose refusal happens in the handshake: no HTTP status may be reported for them.
# Refusals at the handshake carry no HTTP status; the plain-HTTP client is the exception:
# the server answers it in plain HTTP (400) after refusing the handshake.
NO_STATUS = {
    n
    for n, (_, server, _c) in EXPECTED.items()
    if "->" not in server and n not in ("verify-false-impostor", "plain-http-to-tls-port")
}


def test_the_catalogue_has_at_least_24_runnable_scenarios_in_known_groups():
    runnable = scenarios.all_scenarios()
    assert len(runnable) >= 24
    assert {sc.group for sc in runnable} == set(GROUPS)


def test_every_required_scenario_of_this_module_is_registered():
    names = {sc.name for sc in scenarios.all_scenarios()}
    assert set(EXPECTED) <= names


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_scenario_shows_its_fault_from_both_sides(name):
    category, server_says, client_says = EXPECTED[name]
    result = scenarios.run(name)
    assert result.behaved, str(result)
    assert result.category == category
    assert server_says in result.server_saw
    if client_says is not None:
        assert client_says in result.client_saw
    assert result.cause and result.fix
    if name in NO_STATUS:
        assert result.status is None


def test_client_view_of_a_tls13_refusal_is_the_same_sentence_whether_alert_or_eof():
    # the raw client error races (alert or EOF); the stable view must not
    views = {scenarios.run("expired-client").client_saw for _ in range(3)}
    assert views == {"the server closed the connection during the handshake (TLS alert or EOF)"}


def test_works_locally_scenario_restores_the_environment(monkeypatch):
    import os

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    scenarios.run("works-locally-fails-in-prod")
    assert os.environ["REQUESTS_CA_BUNDLE"] == "/etc/ssl/certs/ca-certificates.crt"
    assert os.environ["CURL_CA_BUNDLE"] == "/etc/ssl/certs/ca-certificates.crt"


def test_the_catalogue_is_the_explicit_list_of_every_module(capsys):
    listed = [sc for module in scenarios.MODULES for sc in module.SCENARIOS]
    assert scenarios.all_scenarios() == listed
    assert len({sc.name for sc in listed}) == len(listed), "two scenarios share a name"


def test_break_list_prints_one_scenario_a_line_with_its_description(capsys):
    assert cli.main(["break", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(scenarios.all_scenarios())
    first = {line.split()[0]: line for line in lines}
    assert "the client connects without a client certificate" in first["no-client-cert"]
    for sc in scenarios.all_scenarios():
        assert first[sc.name].split(None, 1)[1] == sc.description


def test_break_name_prints_the_five_parts(capsys):
    assert cli.main(["break", "tls-version-mismatch"]) == 0
    out = capsys.readouterr().out
    for label in (
        "client saw:",
        "server saw:",
        "HTTP status:",
        "diagnosis:",
        "fix:",
        "client raw:",
    ):
        assert label in out
    assert "[protocol-version]" in out


def test_break_unknown_name_is_one_line_and_exit_1(capsys):
    assert cli.main(["break", "no-such-scenario"]) == 1
    assert "break --list" in capsys.readouterr().err


def _fake(name, behaved):
    return Scenario(
        name,
        "trust",
        "fake",
        lambda: ScenarioResult(name, "c", "s", None, "k", "cause", "fix", behaved=behaved),
    )


def test_break_all_exits_1_when_a_scenario_misbehaves_and_0_when_all_behave(monkeypatch, capsys):
    monkeypatch.setattr(
        scenarios, "REGISTRY", {"good": _fake("good", True), "bad": _fake("bad", False)}
    )
    assert cli.main(["break", "--all"]) == 1
    out = capsys.readouterr().out
    assert "UNEXPECTED" in out and "1/2 scenarios behaved as expected" in out
    monkeypatch.setitem(scenarios.REGISTRY, "bad", _fake("bad", True))
    assert cli.main(["break", "--all"]) == 0


def test_summary_table_has_the_four_columns_and_one_row_per_result():
    results = [ScenarioResult("a", "client view", "server view", None, "k", "cause", "the fix")]
    table = scenarios.summary_table(results).splitlines()
    assert [c.strip() for c in table[0].split("|")] == [
        "scenario",
        "client saw",
        "server saw",
        "fix",
    ]
    assert table[2].startswith("a ") and "the fix" in table[2]
