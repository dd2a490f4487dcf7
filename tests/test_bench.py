"""lab.bench: what a run counts and reports, never its speed.

A benchmark is not a timed test: these tests run the smallest plan and check that each
figure was taken the way its label says (the server's own count of handshakes and
resumptions), that the client and the baseline server behave, and that the command line
prints one JSON line or one clear error.
"""

from __future__ import annotations

import json

import pytest
from flask import Flask

from lab import bench, cli, pki
from lab.tls import client as lab_client
from lab.tls import contexts as tlsconfig
from lab.tls.server import MTLSServer

PLAN = bench.Plan.tiny(3)


@pytest.fixture(scope="module")
def result():
    return bench.run(plan=PLAN)


@pytest.fixture(scope="module")
def pki_set():
    ca = pki.CertificateAuthority.create("Bench Test CA")
    return ca, ca.issue_server("localhost", "127.0.0.1"), ca.issue_client("bench-test")


def test_a_tiny_run_records_no_errors_and_every_figure_of_the_table(result):
    assert result["errors"] == []
    keys = [row.split()[0] for row in bench.FIGURES.strip().splitlines()]
    assert list(result["figures"]) == keys
    assert all(f["rps"] > 0 and f["median_ms"] <= f["p90_ms"] for f in result["figures"].values())


def test_each_figure_cost_the_server_what_its_label_says(result):
    for key, fig in result["figures"].items():
        runs = bench.KEEPALIVE_RUN if key.endswith("keepalive") else 1
        assert fig["operations"] == PLAN.rounds * PLAN.connects * runs, key
        if key.startswith("plain"):
            assert fig["server_handshakes"] == 0, key  # no TLS at all
        elif key.endswith("keepalive"):
            assert fig["server_handshakes"] == PLAN.rounds, key  # one connection a round
        else:  # one full or resumed handshake per new connection
            assert fig["server_handshakes"] == fig["operations"], key
        resumed = key.endswith("resumed")
        assert fig["resumed"] == (fig["operations"] if resumed else 0), key


def test_cli_json_prints_exactly_one_json_line_and_progress_on_stderr(capsys):
    assert cli.main(["bench", "--json", "--iterations", "1"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 1
    d = json.loads(lines[0])
    assert d["plan"] == "tiny" and d["errors"] == []
    assert set(d["ratios"]) == set(bench.RATIOS) and all(v > 0 for v in d["ratios"].values())
    assert "bench: round 1/1" in err


def test_the_table_names_every_figure_and_each_expectation(result):
    table = bench.table(result)
    assert all(f["label"] in table for f in result["figures"].values())
    assert table.count("expect >=") == sum(bar is not None for *_, bar in bench.RATIOS.values())
    assert all(len(line) < 120 for line in table.splitlines())


def test_cli_refuses_zero_iterations_in_one_line(capsys):
    assert cli.main(["bench", "--iterations", "0"]) == 1
    assert capsys.readouterr().err.strip() == "error: --iterations must be at least 1"


def test_the_raw_baseline_refuses_a_client_without_certificate(pki_set):
    ca, server, _ = pki_set
    with bench.RawServer(tlsconfig.server_context(server, ca)) as raw:
        c = bench.HTTPClient(raw.port, tlsconfig.client_context(None, ca))
        with pytest.raises((OSError, bench.BenchError)):
            c.get()
    assert raw.handshakes == 0 and len(raw.errors) == 1


def test_a_non_200_answer_is_a_bench_error_not_a_figure(pki_set):
    ca, server, alice = pki_set
    with MTLSServer(Flask("empty"), certificate=server, trust=ca) as s:
        c = bench.HTTPClient(s.port, tlsconfig.client_context(alice, ca))
        with pytest.raises(bench.BenchError, match="404"):
            c.get()


def test_an_ssl_client_resumes_with_session_but_requests_never_does(pki_set):
    ca, server, alice = pki_set
    with bench.RawServer(tlsconfig.server_context(server, ca)) as raw:
        with lab_client.session(alice, trust=ca) as s:
            for _ in range(3):
                s.get(f"https://localhost:{raw.port}/", headers={"Connection": "close"})
        assert (raw.handshakes, raw.resumed) == (3, 0)
        c = bench.HTTPClient(raw.port, tlsconfig.client_context(alice, ca), "resumed")
        for _ in range(3):
            c.get()
        assert (raw.handshakes, raw.resumed) == (6, 2)
