"""Plot a :class:`lab.bench.BenchResult`: three pictures that answer "is mTLS slow?".

Kept apart from :mod:`lab.bench` so that measuring never imports matplotlib
(the CLI and the tests do not need it). Each panel shows figures from one run,
so bars can be compared within a panel; the absolute heights depend on the
machine and its load.

1. **Connections**: new connection per request, resumed session, keep-alive, all through
   the lab server's one code path: plain HTTP, server-only TLS and mTLS (and the raw ssl baseline).
2. **Key types**: mTLS handshakes per second and key generation time.
3. **TLS versions**: full versus resumed handshake, TLS 1.2 and 1.3.
"""

from __future__ import annotations

from lab.bench import BenchResult

COLORS = {"new": "#c0504d", "resumed": "#f0a030", "keepalive": "#4f81bd", "raw": "#7f7f7f"}


def _bars(ax, labels, values, colors, title, ylabel):
    bars = ax.bar(range(len(values)), values, color=colors)
    ax.set_xticks(range(len(values)))
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel)
    for bar, value in zip(bars, values):
        ax.annotate(
            f"{value:.0f}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=7,
        )


def plot(result: BenchResult):
    """A 1x3 matplotlib figure of ``result`` (four Axes: key types have a twin); the caller shows it."""
    import matplotlib.pyplot as plt

    rps = result.rps
    fig, (conn, keys, versions) = plt.subplots(
        1, 3, figsize=(14, 4.2), gridspec_kw={"width_ratios": [2, 1, 1]}
    )

    _bars(
        conn,
        [
            "raw ssl mTLS\nnew conn.",
            "plain HTTP\nnew conn.",
            "server TLS\nnew conn.",
            "mTLS\nnew conn.",
            "mTLS\nresumed",
            "plain HTTP\nkeep-alive",
            "server TLS\nkeep-alive",
            "mTLS\nkeep-alive",
        ],
        [
            rps("raw_handshake"),
            rps("plain_http_new_connection"),
            rps("server_tls_new_connection"),
            rps("lab_new_connection"),
            rps("lab_resumed"),
            rps("plain_http_keepalive"),
            rps("server_tls_keepalive"),
            rps("lab_keepalive"),
        ],
        [
            COLORS["raw"],
            COLORS["new"],
            COLORS["new"],
            COLORS["new"],
            COLORS["resumed"],
            COLORS["keepalive"],
            COLORS["keepalive"],
            COLORS["keepalive"],
        ],
        "Lab server with and without TLS: what a connection costs",
        "requests/s",
    )

    kts = list(result.key_types.values())
    _bars(
        keys,
        [k.label for k in kts],
        [k.handshake_rps for k in kts],
        COLORS["new"],
        "mTLS handshakes/s by leaf key type",
        "handshakes/s",
    )
    gen = keys.twinx()
    gen.plot(range(len(kts)), [k.keygen_ms for k in kts], "o--", color="black")
    gen.set_yscale("log")
    gen.set_ylabel("key generation, ms (log, dashed)")

    _bars(
        versions,
        ["TLS 1.2\nfull", "TLS 1.2\nresumed", "TLS 1.3\nfull", "TLS 1.3\nresumed"],
        [rps("tls12_handshake"), rps("tls12_resumed"), rps("raw_handshake"), rps("raw_resumed")],
        [COLORS["new"], COLORS["resumed"], COLORS["new"], COLORS["resumed"]],
        "Raw ssl server: TLS 1.2 vs 1.3",
        "handshakes + 1 request /s",
    )

    fig.suptitle(
        f"mTLS Lab benchmark ({result.plan}); bars compare within a panel, one run", fontsize=11
    )
    fig.tight_layout()
    return fig
