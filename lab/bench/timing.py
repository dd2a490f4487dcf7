"""How figures are taken: every operation timed on its own, the figures interleaved.

Every operation (one new connection, or one request on a kept-alive connection) is timed
on its own, and the figures are interleaved operation by operation: in each round the specs
take turns, one new connection (or a few keep-alive requests) each, in a shuffled order, so
a figure and its baseline are measured within milliseconds of each other and no figure
always follows the same neighbour. A figure is the rate of its **median** operation
(``1000 / median_ms``).

Why not the fastest round of a loop, as :mod:`timeit` does: on a shared virtual machine the
CPU comes and goes in bursts of tens of milliseconds, and a round of twenty new connections
lasts about 100 ms, so whole rounds are slowed unevenly and the ratio of two best rounds
swings with them (0.69 to 1.05 over eight quick runs on one idle 2-core machine). The median
of single operations ignores the bursts, whichever figure they hit. Each figure keeps each
round's median rate in ``rounds``, so the spread stays visible.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Plan:
    """How much work one run does. Every loop in the benchmark is bounded by these numbers."""

    name: str
    rounds: int
    connects: int  # per round, for each new-connection figure
    keepalive_requests: int  # per round, on one connection
    requests_calls: int  # per round, through lab.tls.client.session (requests)
    keygen: dict  # keys generated (and timed) per type; the first two are used
    key_handshakes: dict  # handshakes per round, per key type

    @classmethod
    def tiny(cls, n: int = 3) -> "Plan":
        """The smallest meaningful run: for tests and smoke checks, not for figures."""
        n = max(1, int(n))
        keygen = {"ec": 1, "rsa2048": 1, "rsa4096": 1}
        return cls("tiny", 1, n, 5 * n, n, keygen, {"ec": n, "rsa2048": n, "rsa4096": 1})


#: About fifteen seconds on an idle 2-core machine: 160 timed operations for each
#: new-connection figure, 1,200 for each keep-alive one.
QUICK = Plan(
    "quick",
    rounds=8,
    connects=20,
    keepalive_requests=150,
    requests_calls=15,
    keygen={"ec": 20, "rsa2048": 2, "rsa4096": 1},
    key_handshakes={"ec": 15, "rsa2048": 10, "rsa4096": 4},
)
FULL = Plan(
    "full",
    rounds=7,
    connects=100,
    keepalive_requests=1000,
    requests_calls=60,
    keygen={"ec": 200, "rsa2048": 10, "rsa4096": 4},
    key_handshakes={"ec": 100, "rsa2048": 60, "rsa4096": 15},
)


@dataclass
class Spec:
    """One figure to measure: its operation, how many per round, and who counts what.

    ``server`` (anything with ``handshakes`` and ``resumed``: the lab server or the raw
    baseline) is read around each operation, outside the timed part, so the figure carries
    the server's own count of what its operations cost; ``client`` (an HTTPClient) gives
    the client's count of connections.
    """

    figure: object
    op: Callable[[], object]
    n: int
    finish: Callable[[], None] = lambda: None
    server: object = None
    client: object = None


def load() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # pragma: no cover - not on Windows
        return -1.0


def quantile(sorted_values: list, q: float) -> float:
    """The ``q`` quantile of sorted values, by linear interpolation (``q=0.5``: the median)."""
    position = (len(sorted_values) - 1) * q
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def batches(n: int, steps: int) -> list[int]:
    """Split ``n`` operations into ``steps`` turns as evenly as possible (20 into 3: 6, 7, 7)."""
    return [n * (i + 1) // steps - n * i // steps for i in range(steps)]


def _timed(spec: Spec, count: int, times: list, clock=time.perf_counter) -> None:
    fig, server = spec.figure, spec.server
    for _ in range(count):
        before = (server.handshakes, server.resumed) if server is not None else None
        start = clock()
        spec.op()
        times.append(clock() - start)
        if before is not None:
            fig.server_handshakes = (fig.server_handshakes or 0) + server.handshakes - before[0]
            fig.server_resumed = (fig.server_resumed or 0) + server.resumed - before[1]


def measure(
    specs: list[Spec], rounds: int, say: Callable[[str], None], title: str, seed: int = 0
) -> None:
    """Time every operation of every spec, interleaved; each figure keeps its median.

    In each round the specs take ``steps`` turns (the smallest ``n`` among them); at each
    turn every spec runs its share of its ``n`` operations, in a shuffled order (``seed``
    makes the schedule reproducible). Why shuffled: the operation just before leaves traces
    (a server thread still closing its connection, a kept-alive connection going back to
    its selector, warm or cold caches), and with a fixed or rotating order a figure always
    follows the same neighbour.
    """
    for spec in specs:  # warm-up: first-request costs, the first session to resume
        spec.op()
        spec.finish()
        if spec.client is not None:
            spec.client.connections = spec.client.resumed = spec.client.requests = 0
    steps = min(spec.n for spec in specs)
    shares = {id(spec): batches(spec.n, steps) for spec in specs}
    samples: dict[int, list] = {id(spec): [] for spec in specs}
    order = list(specs)
    shuffle = random.Random(seed).shuffle
    for r in range(rounds):
        say(f"{title}: round {r + 1}/{rounds}")
        this_round: dict[int, list] = {id(spec): [] for spec in specs}
        for step in range(steps):
            shuffle(order)
            for spec in order:
                _timed(spec, shares[id(spec)][step], this_round[id(spec)])
        for spec in specs:
            spec.finish()
            times = sorted(this_round[id(spec)])
            spec.figure.rounds.append(1 / quantile(times, 0.5))
            spec.figure.requests += len(times)
            samples[id(spec)] += times
    for spec in specs:
        fig, times = spec.figure, sorted(samples[id(spec)])
        fig.median_ms = quantile(times, 0.5) * 1000
        fig.p10_ms = quantile(times, 0.1) * 1000
        fig.p90_ms = quantile(times, 0.9) * 1000
        fig.rps = 1000 / fig.median_ms
        if spec.client is not None:
            fig.connections = spec.client.connections
            fig.resumed = getattr(spec.client, "resumed", 0)
