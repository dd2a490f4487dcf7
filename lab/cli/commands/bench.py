"""``python -m lab bench [--quick] [--json]``: what mutual TLS costs on this machine.

Progress goes to stderr, so ``--json`` output stays one clean line. See :mod:`lab.bench`
for what is measured and why it is measured that way.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench",
        help="measure the cost of mTLS: handshakes, keep-alive, resumption, HelloRetryRequest",
        description="Measure requests/s of a raw ssl mTLS baseline and of the lab server (new "
        "connection, keep-alive, resumed session, a default client that gets a HelloRetryRequest), "
        "plain HTTP and server-only TLS, RSA leaves and TLS 1.2, all on 127.0.0.1 in one run. Ratios between "
        "figures of the same run are what to compare; absolute figures depend on the load.",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a short run (a few seconds on an idle machine) instead of the full one",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON line instead of the table (progress still goes to stderr)",
    )
    p.add_argument(
        "--iterations",
        type=int,
        default=None,
        metavar="N",
        help="smoke test: one round of N connections per figure (overrides --quick); "
        "the figures are then too rough to mean anything",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lab import bench  # here, not at the top: only this command needs the benchmark

    if args.iterations is not None and args.iterations < 1:
        raise bench.BenchError("--iterations must be at least 1")
    plan = bench.Plan.tiny(args.iterations) if args.iterations is not None else None

    def progress(message: str) -> None:
        print(f"bench: {message}", file=sys.stderr, flush=True)

    result = bench.run(quick=args.quick, plan=plan, progress=None if args.quiet else progress)
    if args.json:
        print(json.dumps(result, separators=(",", ":")))
    else:
        print(bench.table(result))
    if result["errors"]:
        print(
            f"error: {len(result['errors'])} error(s) during the benchmark; see above",
            file=sys.stderr,
        )
        return 1
    return 0
