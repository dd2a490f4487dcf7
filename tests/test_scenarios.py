"""The failure catalogue: each scenario reproduces its fault live, judged on the server's record."""

from __future__ import annotations

import os
import re

import pytest

from lab import cli
from lab.course import check, scenarios
from lab.course.checks.nb05_breaking_it import mysteries
from lab.course.scenarios import Scenario, ScenarioResult

#: name -> (category, what the server's record must say, what the client's text must say).
#: A None client text: the server refused under TLS 1.3, so the client's text is the race's.
EXPECTED = {
    "unknown-client-ca": ("unknown-issuer", "unable to get local issuer certificate", None),
    "self-signed-client": ("self-signed", "verify failed: self-signed certificate", None),
    "client-does-not-trust-server-ca": (
        "untrusted-ca",
        "alert unknown ca",
        "SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
        "self-signed certificate in certificate chain')",
    ),
    "missing-intermediate-client": ("incomplete-chain", "unable to get local issuer", None),
    "missing-intermediate-server": (
        "incomplete-chain",
        "alert unknown ca",
        "certificate verify failed: unable to get local issuer certificate",
    ),
    "works-locally-fails-in-prod": (
        "wrong-trust-store",
        "second call: handshake refused: tlsv1 alert unknown ca",
        "without REQUESTS_CA_BUNDLE: HTTP 200; with it: SSLError:",
    ),
    "verify-false-impostor": (
        "no-server-verification",
        "Authorization: Bearer secret",
        "with verify=False: HTTP 200",
    ),
    "issuer-name-contains": ("issuer-name-check", "CN=mallory -> 200", "HTTP 200"),
    "revoked-client-certificate": ("revoked", "certificate revoked", None),
    "no-client-cert": ("no-client-certificate", "peer did not return a certificate", None),
    "server-cert-without-san": ("hostname-mismatch", "alert bad certificate", "Hostname mismatch"),
    "wrong-hostname": ("hostname-mismatch", "alert bad certificate", "Hostname mismatch"),
    "key-cert-mismatch": (
        "key-mismatch",
        "closed the TCP connection before sending a ClientHello",
        "[X509: KEY_VALUES_MISMATCH] key values mismatch",
    ),
    "wrong-pfx-password": (
        "wrong-password",
        "the client never connected",
        "WrongPasswordError: could not open scenarios/alice.pfx",
    ),
    "encrypted-key-without-passphrase": (
        "passphrase-required",
        "the client never connected",
        "PassphraseRequiredError: scenarios/alice-encrypted.key is encrypted",
    ),
    "expired-client": ("expired", "certificate verify failed: certificate has expired", None),
    "not-yet-valid-client": ("not-yet-valid", "certificate is not yet valid", None),
    "expired-server": ("expired", "alert certificate expired", "certificate has expired"),
    "serverauth-only-client-eku": ("wrong-purpose", "unsuitable certificate purpose", None),
    "ca-cert-as-client": ("ca-as-leaf", "CN=Scenario Root CA -> 403", "HTTP 403"),
    "server-cert-clientauth-only-eku": (
        "wrong-purpose",
        "alert unsupported certificate",
        "unsuitable certificate purpose",
    ),
    "plain-http-to-tls-port": (
        "plain-http-to-tls",
        "the client spoke plain HTTP to the TLS port",
        "HTTP 400",
    ),
    "tls-to-plain-port": ("tls-to-plain-http", "received 16 03 01", "wrong version number"),
    "tls-version-mismatch": ("protocol-version", "unsupported protocol", "SSLError"),
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
    "forged-client-certificate-header": (
        "forged-header",
        "no client certificate -> 200",
        "HTTP 200: Hello CN=alice,O=mTLS Lab",
    ),
}


def test_every_scenario_is_listed_once_with_its_expectation():
    names = [sc.name for sc in scenarios.in_order()]
    assert sorted(names) == sorted(EXPECTED)
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_scenario_shows_its_fault_from_both_sides(name):
    category, server, client = EXPECTED[name]
    result = scenarios.get(name).run()
    assert result.behaved, str(result)
    assert result.category == category
    assert server in result.server_saw
    if client is not None:
        assert client in result.client_saw
    assert not re.search(r"port=\d|:\d{4,5}/", result.client_saw), "a port left in the text"
    assert result.cause and result.fix


def test_a_tls13_refusal_shows_the_clients_own_text_alert_or_eof():
    """The client's text is what requests raised, whichever side of the race it met."""
    seen = {scenarios.get("expired-client").run().client_saw for _ in range(3)}
    for text in seen:
        assert text.startswith("SSLError: HTTPSConnectionPool(host='localhost', port=PORT)")
        assert ("SSLEOFError(8, 'EOF occurred" in text) or ("ALERT_CERTIFICATE_EXPIRED" in text)


def test_no_scenario_text_names_the_private_folder():
    for name in ("wrong-pfx-password", "encrypted-key-without-passphrase"):
        assert str(scenarios.kit().dir) not in scenarios.get(name).run().client_saw


def test_works_locally_scenario_restores_the_environment(monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    scenarios.get("works-locally-fails-in-prod").run()
    assert os.environ["REQUESTS_CA_BUNDLE"] == "/etc/ssl/certs/ca-certificates.crt"
    assert "CURL_CA_BUNDLE" not in os.environ


def test_break_list_prints_one_scenario_a_line_with_its_description(capsys):
    assert cli.main(["break", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    first = {line.split()[0]: line for line in lines}
    assert len(lines) == len(EXPECTED)
    for sc in scenarios.in_order():
        assert first[sc.name].split(None, 1)[1] == sc.description


def test_break_name_prints_the_five_parts(capsys):
    assert cli.main(["break", "tls-version-mismatch"]) == 0
    out = capsys.readouterr().out
    for label in ("client saw:", "server saw:", "HTTP status:", "diagnosis:", "fix:"):
        assert label in out
    assert "[protocol-version]" in out


def test_break_unknown_name_is_one_line_and_exit_1(capsys):
    assert cli.main(["break", "no-such-scenario"]) == 1
    assert "break --list" in capsys.readouterr().err


def _fake(name, behaved):
    result = ScenarioResult(name, "c", "s", None, "k", "cause", "fix", behaved=behaved)
    return Scenario(name, "trust", "fake", lambda: result)


def test_break_all_exits_1_when_a_scenario_misbehaves_and_0_when_all_behave(monkeypatch, capsys):
    monkeypatch.setattr(scenarios, "in_order", lambda: [_fake("good", True), _fake("bad", False)])
    assert cli.main(["break", "--all"]) == 1
    out = capsys.readouterr().out
    assert "UNEXPECTED" in out and "1/2 scenarios behaved as expected" in out
    monkeypatch.setattr(scenarios, "in_order", lambda: [_fake("good", True)])
    assert cli.main(["break", "--all"]) == 0


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
