"""lab.bench: the structure of a run and of its JSON line, never its speed.

A benchmark is not a timed test: these tests run the smallest plan and check
that every figure exists, is positive, counts the connections and handshakes
it claims to, and that every ratio is the quotient of the figures it names.
"""

from __future__ import annotations

import json

import pytest

from lab import bench, cli, pki
from lab.bench import timing
from lab.course.demo import create_app
from lab.tls import client as lab_client
from lab.tls import contexts as tlsconfig
from lab.tls.server import MTLSServer

REQUIRED = (
    "raw_handshake_rps",
    "lab_new_connection_rps",
    "lab_keepalive_rps",
    "new_connection_vs_raw",
    "keepalive_vs_new_connection",
)
NEW_CONNECTION_FIGURES = (
    "raw_handshake",
    "lab_new_connection",
    "lab_resumed",
    "raw_resumed",
    "server_tls_new_connection",
    "plain_http_new_connection",
    "tls12_handshake",
    "tls12_resumed",
)
KEEPALIVE_FIGURES = ("lab_keepalive", "server_tls_keepalive", "plain_http_keepalive")
PLAN = bench.Plan.tiny(3)


@pytest.fixture(scope="module")
def result():
    return bench.run(plan=PLAN)


@pytest.fixture(scope="module")
def pki_set():
    ca = pki.CertificateAuthority.create("Bench Test CA")
    return ca, ca.issue_server("localhost", "127.0.0.1"), ca.issue_client("bench-test")


def test_a_tiny_run_records_no_errors(result):
    assert result.errors == []


def test_every_figure_is_the_rate_of_its_median_operation(result):
    for fig in result.figures.values():
        assert len(fig.rounds) == PLAN.rounds and all(r > 0 for r in fig.rounds), fig.key
        assert 0 < fig.p10_ms <= fig.median_ms <= fig.p90_ms, fig.key
        assert fig.rps == pytest.approx(1000 / fig.median_ms), fig.key


def test_batches_split_operations_into_turns_as_evenly_as_possible():
    assert timing.batches(20, 3) == [6, 7, 7]
    assert timing.batches(150, 20) == [7, 8] * 10
    assert timing.batches(4, 4) == [1, 1, 1, 1]


def test_quantile_interpolates_between_sorted_values():
    assert timing.quantile([1.0, 2.0, 3.0, 10.0], 0.5) == 2.5
    assert timing.quantile([5.0], 0.9) == 5.0
    assert timing.quantile([0.0, 10.0], 0.1) == pytest.approx(1.0)


def test_measure_interleaves_the_specs_turn_by_turn_in_a_shuffled_reproducible_order():
    """The schedule itself (which operation runs when), with operations that only log their call."""

    def schedule(seed):
        calls = []
        figures = [bench.Figure(k, k, "g") for k in "abc"]
        specs = [
            timing.Spec(figures[0], lambda: calls.append("a"), 2),
            timing.Spec(figures[1], lambda: calls.append("b"), 6),
            timing.Spec(figures[2], lambda: calls.append("c"), 4),
        ]
        timing.measure(specs, 3, lambda message: None, "schedule", seed=seed)
        return calls, figures

    calls, (a, b, c) = schedule(seed=0)
    assert calls[:3] == ["a", "b", "c"]  # the warm-up, one each
    turns = [
        calls[i : i + 6] for i in range(3, len(calls), 6)
    ]  # 2 turns a round: a once, b 3x, c twice
    assert len(turns) == 6
    for turn in turns:
        assert sorted(turn) == ["a", "b", "b", "b", "c", "c"]
        assert "".join(turn) in {
            "abbbcc",
            "accbbb",
            "bbbacc",
            "bbbcca",
            "ccabbb",
            "ccbbba",
        }  # each spec's share runs back to back
    assert len({"".join(turn) for turn in turns}) > 1  # the order changes from turn to turn
    assert schedule(seed=0)[0] == calls  # reproducible for a seed
    assert (a.requests, b.requests, c.requests, len(a.rounds)) == (6, 18, 12, 3)


def test_new_connection_figures_open_one_connection_per_request(result):
    for key in NEW_CONNECTION_FIGURES:
        fig = result.figures[key]
        assert fig.requests == PLAN.connects * PLAN.rounds, key
        assert fig.connections == fig.requests, key


def test_keepalive_figures_open_one_connection_per_round(result):
    for key in KEEPALIVE_FIGURES:
        fig = result.figures[key]
        assert fig.requests == PLAN.keepalive_requests * PLAN.rounds, key
        assert fig.connections == PLAN.rounds, key


TLS_NEW_CONNECTION_FIGURES = tuple(k for k in NEW_CONNECTION_FIGURES if "plain" not in k)


def test_every_tls_new_connection_cost_the_server_one_handshake(result):
    """The server's own count, not the client's: one handshake per timed request."""
    for key in TLS_NEW_CONNECTION_FIGURES:
        fig = result.figures[key]
        assert fig.server_handshakes == fig.requests, key


def test_keepalive_reuses_its_connection_by_the_servers_own_count(result):
    """The server saw as many handshakes as the client opened connections, and far fewer
    than the requests it answered."""
    for key in ("lab_keepalive", "server_tls_keepalive"):
        fig = result.figures[key]
        assert fig.server_handshakes == fig.connections < fig.requests, key


def test_resumed_figures_were_resumed_by_the_server_and_full_ones_never(result):
    """The server's count of resumed handshakes (no certificate exchanged), per figure."""
    for key in ("lab_resumed", "raw_resumed", "tls12_resumed"):
        fig = result.figures[key]
        assert fig.server_resumed == fig.server_handshakes == fig.requests, key
        assert fig.resumed == fig.connections, key  # and the client agrees
    for key in ("raw_handshake", "lab_new_connection", "tls12_handshake"):
        assert result.figures[key].server_resumed == 0, key


def test_plain_http_figures_go_through_the_lab_server_without_any_handshake(result):
    for key in ("plain_http_new_connection", "plain_http_keepalive"):
        fig = result.figures[key]
        assert fig.server_handshakes == 0 and fig.requests > 0, key
    assert "lab server" in result.figures["plain_http_keepalive"].label


def test_requests_keepalive_pays_one_handshake_per_round_and_close_one_per_call(result):
    assert result.figures["requests_keepalive"].server_handshakes == PLAN.rounds
    new = result.figures["requests_new_connection"]
    assert new.server_handshakes == new.requests


def test_key_types_cover_ecdsa_and_both_rsa_sizes(result):
    assert list(result.key_types) == ["ec", "rsa2048", "rsa4096"]
    for kt in result.key_types.values():
        assert kt.keygen_ms > 0 and kt.handshake_rps > 0 and kt.keygen_samples >= 1
        assert kt.handshake_rps == result.figures[f"key_{kt.key_type}_handshake"].rps


def test_ratios_are_the_quotients_of_the_figures_they_name(result):
    r = result.ratios
    assert r["new_connection_vs_raw"] == pytest.approx(
        result.rps("lab_new_connection") / result.rps("raw_handshake")
    )
    assert r["keepalive_vs_new_connection"] == pytest.approx(
        result.rps("lab_keepalive") / result.rps("lab_new_connection")
    )
    assert r["plain_http_vs_mtls_keepalive"] == pytest.approx(
        result.rps("plain_http_keepalive") / result.rps("lab_keepalive")
    )
    assert r["resumed_vs_new_connection"] == pytest.approx(
        result.rps("lab_resumed") / result.rps("lab_new_connection")
    )


def test_targets_met_says_whether_each_ratio_reaches_its_target(result):
    for name, target in bench.TARGETS.items():
        assert result.targets_met[name] is (result.ratios[name] >= target)


def test_to_dict_is_json_with_required_keys_and_consistent_ratios(result):
    d = json.loads(json.dumps(result.to_dict()))
    for key in REQUIRED:
        assert isinstance(d[key], (int, float)) and d[key] > 0, key
    assert d["new_connection_vs_raw"] == pytest.approx(
        d["lab_new_connection_rps"] / d["raw_handshake_rps"], rel=0.01
    )
    assert d["keepalive_vs_new_connection"] == pytest.approx(
        d["lab_keepalive_rps"] / d["lab_new_connection_rps"], rel=0.01
    )
    assert {f["key"] for f in d["figures"]} == set(result.figures)
    assert set(d["key_types"]) == {"ec", "rsa2048", "rsa4096"}


def test_table_names_every_figure_and_each_target_verdict(result):
    table = result.table()
    for fig in result.figures.values():
        assert fig.label in table
    assert "new_connection_vs_raw" in table and "keepalive_vs_new_connection" in table
    assert table.count("expect >=") == len(bench.TARGETS)
    assert "plain_http_vs_mtls_keepalive" in table


def test_cli_json_prints_exactly_one_json_line_and_progress_on_stderr(capsys):
    assert cli.main(["bench", "--json", "--iterations", "1"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 1
    d = json.loads(lines[0])
    assert all(d[k] > 0 for k in REQUIRED)
    assert d["plan"] == "tiny"
    assert "bench: handshakes and keep-alive: round 1/1" in err


def test_cli_refuses_zero_iterations_in_one_line(capsys):
    assert cli.main(["bench", "--iterations", "0"]) == 1
    assert capsys.readouterr().err.strip() == "error: --iterations must be at least 1"


def test_the_raw_baseline_answers_and_counts_its_handshakes(pki_set):
    ca, server, alice = pki_set
    with bench.RawServer(tlsconfig.server_context(server, ca)) as raw:
        c = bench.HTTPClient(raw.port, tlsconfig.client_context(alice, ca))
        assert c.new_connection() == b"ok\n"
        assert c.new_connection() == b"ok\n"
    assert (raw.handshakes, raw.errors) == (2, [])


def test_the_raw_baseline_refuses_a_client_without_certificate(pki_set):
    ca, server, _ = pki_set
    with bench.RawServer(tlsconfig.server_context(server, ca)) as raw:
        c = bench.HTTPClient(raw.port, tlsconfig.client_context(None, ca))
        with pytest.raises((OSError, bench.BenchError)):
            c.new_connection()
    assert raw.handshakes == 0


def test_a_non_200_answer_is_a_bench_error_not_a_figure(pki_set):
    ca, server, alice = pki_set
    with MTLSServer(create_app(), certificate=server, trust=ca) as s:
        c = bench.HTTPClient(s.port, tlsconfig.client_context(alice, ca), path="/no-such-page")
        with pytest.raises(bench.BenchError, match="404"):
            c.new_connection()


def test_an_ssl_client_resumes_with_session_but_requests_never_does(pki_set):
    ca, server, alice = pki_set
    with bench.RawServer(tlsconfig.server_context(server, ca)) as raw:
        with lab_client.session(alice, trust=ca) as s:
            for _ in range(3):
                s.get(
                    f"https://localhost:{raw.port}/", headers={"Connection": "close"}
                ).raise_for_status()
        assert (raw.handshakes, raw.resumed) == (3, 0)
        c = bench.HTTPClient(raw.port, tlsconfig.client_context(alice, ca), resume=True)
        for _ in range(3):
            c.new_connection()
        assert (raw.handshakes, raw.resumed) == (6, 2)
    assert c.resumed == 2


def test_plot_draws_three_panels_and_a_twin_axis_for_key_generation(result):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lab.bench import plot as benchplot

    fig = benchplot.plot(result)
    try:
        assert len(fig.axes) == 4
        assert [len(ax.patches) for ax in fig.axes[:3]] == [8, 3, 4]
    finally:
        plt.close(fig)
