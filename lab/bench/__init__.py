"""Measure what mutual TLS costs on this machine, against a baseline from the same run.

Why a baseline: requests per second depend on the CPU and on whatever else the machine is
doing, so an absolute figure says little. A *ratio* between two figures measured in the same
run, interleaved, says a lot: "the lab server reaches 0.8x of what a raw ``ssl`` socket can
do", "keep-alive is 10x faster than a new connection per request".

What one run measures (127.0.0.1 only, every loop bounded):

* **the baseline**: :class:`~lab.bench.servers.RawServer`, a minimal single-thread ``ssl``
  server (accept, handshake, read one request, answer, close) with the contexts of
  :mod:`lab.tls.contexts`, so TLS is configured exactly as in the lab server;
* **the lab server** (:class:`lab.tls.server.MTLSServer` with :mod:`lab.course.demo`): a new
  connection per request, keep-alive (one connection), and TLS session resumption;
* **for comparison**: the same server code without client certificates (``mode="none"``)
  and without TLS at all (``tls=False``). One request path for all three, so that the
  difference between two figures is what TLS (or the client certificate) costs;
* **key types** ECDSA P-256, RSA-2048 and RSA-4096 (the whole chain of that type): key
  generation time and handshake rate;
* **TLS 1.2 versus 1.3**: full and resumed handshakes;
* **requests** (:func:`lab.tls.client.session`): a new connection per request versus
  keep-alive, compared with each other only.

Every compared figure uses one client, :class:`~lab.bench.clients.HTTPClient` (see
:mod:`lab.bench.clients` for why not requests), and is taken the same way
(:mod:`lab.bench.timing`). :mod:`lab.bench.result` holds what a run returns;
:mod:`lab.bench.plot` draws it. A benchmark is never a test: the tests check the structure
of the result, not the speed.
"""

from __future__ import annotations

import contextlib
import os
import platform
import ssl
import sys
import time
from typing import Callable

from lab import pki
from lab.bench.clients import BenchError, HTTPClient, read_response
from lab.bench.result import KEY_LABELS, TARGETS, BenchResult, Figure, KeyType
from lab.bench.servers import RESPONSE, RawServer, two_write_exchange
from lab.bench.timing import FULL, QUICK, Plan, Spec, measure
from lab.tls import contexts as tlsconfig

__all__ = [
    "BenchError",
    "BenchResult",
    "Figure",
    "FULL",
    "HTTPClient",
    "KEY_LABELS",
    "KeyType",
    "Plan",
    "QUICK",
    "RESPONSE",
    "RawServer",
    "TARGETS",
    "read_response",
    "run",
    "two_write_exchange",
]


def _keys(key_type: str, samples: int) -> tuple[float, list]:
    """Generate ``samples`` keys, timing each; the first two then serve as leaf keys."""
    keys, total = [], 0.0
    for _ in range(max(1, samples)):
        start = time.perf_counter()
        keys.append(pki.generate_key(key_type))
        total += time.perf_counter() - start
    return total / len(keys) * 1000, keys


def _leaves(ca, keys: list):
    """A server and a client certificate whose keys are of one type.

    The key type of the *leaves* is what a handshake pays for: each side signs with its own
    key, and verifies one signature of the root, which is cheap for either type; so all
    chains share one ECDSA root. When only one key was generated (RSA-4096 in the quick
    plan: about a second per key), both leaves use it. The arithmetic is the same; never
    share a key between two identities for real.
    """
    server = ca.issue_server("localhost", "127.0.0.1", key=keys[0])
    client = ca.issue_client("bench-client", key=keys[1 % len(keys)])
    return ca, server, client


def run(
    *, quick: bool = True, plan: Plan | None = None, progress: Callable[[str], None] | None = None
) -> BenchResult:
    """Run the benchmark once and return its :class:`BenchResult`.

    ``quick`` picks :data:`QUICK` (a few seconds) or :data:`FULL`; ``plan`` overrides both
    (``Plan.tiny()`` for tests). ``progress`` receives one line per step (the CLI prints
    them on stderr).
    """
    from lab.bench.timing import load
    from lab.course.demo import create_app
    from lab.tls import client as lab_client
    from lab.tls.server import MTLSServer

    plan = plan or (QUICK if quick else FULL)
    say = progress or (lambda message: None)
    load_before = load()
    errors: list[str] = []

    # -- keys: time the generation, then use those very keys for the chains
    key_types: dict[str, KeyType] = {}
    chains = {}
    root = pki.CertificateAuthority.create("mTLS Lab Bench CA")
    for kt in ("ec", "rsa2048", "rsa4096"):
        say(f"generating {KEY_LABELS[kt]} keys")
        ms, keys = _keys(kt, plan.keygen[kt])
        key_types[kt] = KeyType(kt, KEY_LABELS[kt], ms, len(keys), 0.0)
        chains[kt] = _leaves(root, keys)

    ca, server_cert, client_cert = chains["ec"]
    mtls = tlsconfig.client_context(client_cert, ca)
    anonymous = tlsconfig.client_context(None, ca)
    tls12 = tlsconfig.client_context(client_cert, ca, max_version="1.2")
    app = create_app()
    figures: dict[str, Figure] = {}
    n_new, n_keep = plan.connects, plan.keepalive_requests

    def spec(key, label, group, server, context, *, keepalive=False, resume=False) -> Spec:
        figures[key] = fig = Figure(key, label, group)
        client = HTTPClient(server.port, context, resume=resume)
        if keepalive:
            return Spec(fig, client.keepalive, n_keep, client.close, server, client)
        return Spec(fig, client.new_connection, n_new, server=server, client=client)

    with contextlib.ExitStack() as stack:
        raw = stack.enter_context(RawServer(tlsconfig.server_context(server_cert, ca)))
        lab = stack.enter_context(MTLSServer(app, certificate=server_cert, trust=ca))
        lab_tls = stack.enter_context(MTLSServer(app, certificate=server_cert, mode="none"))
        plain = stack.enter_context(MTLSServer(app, tls=False))
        s_raw, s_lab, s_tls = "raw ssl server", "lab server mTLS", "lab server, server-only TLS"
        s_plain = "lab server, plain HTTP"
        core = [
            spec("raw_handshake", f"{s_raw}: mTLS handshake + 1 request", "baseline", raw, mtls),
            spec("lab_new_connection", f"{s_lab}: new connection per request", "lab", lab, mtls),
            spec("lab_keepalive", f"{s_lab}: keep-alive", "lab", lab, mtls, keepalive=True),
            spec("lab_resumed", f"{s_lab}: session resumed", "lab", lab, mtls, resume=True),
            spec(
                "raw_resumed", f"{s_raw}: resumed + 1 request", "baseline", raw, mtls, resume=True
            ),
            spec(
                "server_tls_new_connection",
                f"{s_tls}: new connection",
                "comparison",
                lab_tls,
                anonymous,
            ),
            spec(
                "server_tls_keepalive",
                f"{s_tls}: keep-alive",
                "comparison",
                lab_tls,
                anonymous,
                keepalive=True,
            ),
            spec(
                "plain_http_new_connection", f"{s_plain}: new connection", "comparison", plain, None
            ),
            spec(
                "plain_http_keepalive",
                f"{s_plain}: keep-alive",
                "comparison",
                plain,
                None,
                keepalive=True,
            ),
            spec("tls12_handshake", f"{s_raw}, TLS 1.2: mTLS handshake", "TLS version", raw, tls12),
            spec(
                "tls12_resumed",
                f"{s_raw}, TLS 1.2: resumed handshake",
                "TLS version",
                raw,
                tls12,
                resume=True,
            ),
        ]
        measure(core, plan.rounds, say, "handshakes and keep-alive")

        # requests, compared only with itself (see lab.bench.clients). One Session per figure:
        # a pooled keep-alive connection would otherwise carry the first "new connection"
        # request without a handshake.
        url = f"{lab.url}/healthz"
        closing = stack.enter_context(lab_client.session(client_cert, trust=ca))
        keeping = stack.enter_context(lab_client.session(client_cert, trust=ca))

        def requests_new_connection():
            closing.get(url, headers={"Connection": "close"}, timeout=10).raise_for_status()

        def requests_keepalive():
            keeping.get(url, timeout=10).raise_for_status()

        label = "requests Session"
        new_fig = Figure("requests_new_connection", f"{label}: new connection per call", "requests")
        keep_fig = Figure("requests_keepalive", f"{label}: keep-alive", "requests")
        figures.update({f.key: f for f in (new_fig, keep_fig)})
        calls = plan.requests_calls
        measure(
            [
                Spec(new_fig, requests_new_connection, calls, server=lab),
                # closing the Session's pool ends the round, as HTTPClient.close() does
                Spec(keep_fig, requests_keepalive, calls * 5, finish=keeping.close, server=lab),
            ],
            plan.rounds,
            say,
            "requests",
        )
        for fig in (new_fig, keep_fig):
            fig.connections = fig.server_handshakes or 0

        for name, server in (("raw server", raw), ("lab server", lab)):
            errors += [f"{name}: {e}" for e in server.errors]
        errors += [f"lab server (server-only TLS): {e}" for e in lab_tls.errors]
        errors += [f"lab server (plain HTTP): {e}" for e in plain.errors]
        errors += [f"lab server: {f}" for f in lab.handshake_failures]

    # -- key types: the raw baseline with a whole chain of each type
    key_specs = []
    with contextlib.ExitStack() as stack:
        for kt, (kca, kserver, kclient) in chains.items():
            server = stack.enter_context(RawServer(tlsconfig.server_context(kserver, kca)))
            label = f"{s_raw}, {KEY_LABELS[kt]} chain: mTLS handshake"
            figures[f"key_{kt}_handshake"] = fig = Figure(f"key_{kt}_handshake", label, "key type")
            client = HTTPClient(server.port, tlsconfig.client_context(kclient, kca))
            key_specs.append(
                Spec(
                    fig,
                    client.new_connection,
                    plan.key_handshakes[kt],
                    server=server,
                    client=client,
                )
            )
        measure(key_specs, plan.rounds, say, "key types")
    for kt in chains:
        key_types[kt].handshake_rps = figures[f"key_{kt}_handshake"].rps

    environment = {
        "cpus": os.cpu_count(),
        "load_before": load_before,
        "load_after": load(),
        "python": platform.python_version(),
        "openssl": ssl.OPENSSL_VERSION,
        "platform": sys.platform,
        "client_stack": "raw ssl socket, one HTTP/1.1 GET, TCP_NODELAY (lab.bench.HTTPClient)",
        "rounds": plan.rounds,
    }
    return BenchResult(plan.name, figures, key_types, environment, errors)
