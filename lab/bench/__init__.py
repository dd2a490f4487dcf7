"""Measure what mutual TLS costs on this machine, against a baseline from the same run.

Why a baseline: requests per second depend on the CPU and on whatever else the
machine is doing, so an absolute figure says little. A *ratio* between two
figures measured in the same run, interleaved, says a lot: "the lab server
reaches 0.9x of what a raw ``ssl`` socket can do", "keep-alive is 10x faster
than a new connection per request".

What one run measures (127.0.0.1 only, every loop bounded):

* **the baseline**: :class:`RawServer`, a minimal single-thread ``ssl`` server
  (accept, handshake, read one request, answer, close), with TCP_NODELAY on both
  sides and the contexts of :mod:`lab.tlsconfig`, so TLS is configured exactly as
  in the lab server. This is the practical limit for a Python server;
* **the lab server** (:class:`lab.server.MTLSServer` with :mod:`lab.demo`): a new
  connection per request, keep-alive (one connection), and TLS session resumption
  (a new connection that resumes the previous session);
* **for comparison**: the same through plain HTTP (cheroot without TLS) and
  server-only TLS (``mode="none"``);
* **key types** ECDSA P-256, RSA-2048 and RSA-4096 (the whole chain of that
  type): key generation time and handshake rate;
* **TLS 1.2 versus 1.3**: full and resumed handshakes;
* **requests** (:func:`lab.client.session`): a new connection per request versus
  keep-alive, compared with each other only.

**One client stack for every compared figure.** :class:`HTTPClient` is about
forty lines of ``socket`` + ``ssl``: it sends one HTTP/1.1 GET and reads the
response by its Content-Length. The raw baseline, the lab server, plain HTTP,
the key types and the TLS versions are all measured with it, so a difference
between two figures is a difference between servers (or keys, or versions), not
between clients. requests is not used for those because it adds a few hundred
microseconds of its own Python per request (header merging, pool lookup,
response parsing), the same order as the server overhead being measured, and
because it cannot resume a TLS session: urllib3 creates each connection with
``SSLContext.wrap_socket`` and never passes ``session=``, and Python's ``ssl``
keeps no client-side session cache, so every new requests connection is a full
handshake. Its figures are reported in a group of their own.

**How figures are taken.** Every operation (one new connection, or one
request on a kept-alive connection) is timed on its own, and the figures are
interleaved operation by operation: in each round the specs take turns, one new
connection (or a few keep-alive requests) each, in a shuffled order, so a
figure and its baseline are measured within milliseconds of each other and no
figure always follows the same neighbour. A figure is the rate of its
**median** operation (``1000 / median_ms``).

Why not the fastest round of a loop, as :mod:`timeit` does (this module did
that first): on a shared virtual machine the CPU comes and goes in bursts of
tens of milliseconds, and a round of twenty new connections lasts about 100 ms,
so whole rounds were slowed unevenly and the ratio of two best rounds swung with
them: from 0.69 to 1.05 over eight quick runs on one idle 2-core machine. The
median of single operations ignores the bursts, whichever figure they hit: on
the same machine (and a faster lab server), sixteen quick runs gave 0.85 to
0.96, half of them within 0.86 to 0.89, and three runs beside a busy loop
hogging one core gave 0.86 to 0.88. ``rounds`` keeps each round's median rate,
so the spread stays visible. A benchmark is never a test: the tests check the
structure of the result, not the speed.
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import socket
import ssl
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

from lab import pki
from lab.errors import LabError
from lab.tls import contexts as tlsconfig

#: What the issue asks of the lab server, as ratios measured in the same run.
TARGETS = {"new_connection_vs_raw": 0.8, "keepalive_vs_new_connection": 5.0}

KEY_LABELS = {"ec": "ECDSA P-256", "rsa2048": "RSA-2048", "rsa4096": "RSA-4096"}

RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
    b"Connection: close\r\n\r\nok\n"
)


class BenchError(LabError, RuntimeError):
    """A benchmark request failed: the figures would be meaningless, so none are given."""


# ------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class Plan:
    """How much work one run does. Every loop in the benchmark is bounded by these numbers."""

    name: str
    rounds: int
    new_connections: int  # per round, for each new-connection figure
    keepalive_requests: int  # per round, on one connection
    requests_calls: int  # per round, through lab.client.session (requests)
    keygen: dict  # keys generated (and timed) per type; the first two are used
    key_handshakes: dict  # handshakes per round, per key type

    @classmethod
    def tiny(cls, n: int = 3) -> "Plan":
        """The smallest meaningful run: for tests and smoke checks, not for figures."""
        n = max(1, int(n))
        return cls(
            "tiny",
            1,
            n,
            5 * n,
            n,
            {"ec": 1, "rsa2048": 1, "rsa4096": 1},
            {"ec": n, "rsa2048": n, "rsa4096": 1},
        )


#: About fifteen seconds on an idle 2-core machine: 160 timed operations for each
#: new-connection figure, 1,200 for each keep-alive one.
QUICK = Plan(
    "quick",
    rounds=8,
    new_connections=20,
    keepalive_requests=150,
    requests_calls=15,
    keygen={"ec": 20, "rsa2048": 2, "rsa4096": 1},
    key_handshakes={"ec": 15, "rsa2048": 10, "rsa4096": 4},
)
FULL = Plan(
    "full",
    rounds=7,
    new_connections=100,
    keepalive_requests=1000,
    requests_calls=60,
    keygen={"ec": 200, "rsa2048": 10, "rsa4096": 4},
    key_handshakes={"ec": 100, "rsa2048": 60, "rsa4096": 15},
)


# ------------------------------------------------------------------ the client
def _nodelay(sock: socket.socket) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def read_response(sock) -> tuple[int, bytes]:
    """Read one HTTP/1.1 response framed by Content-Length; return (status, body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise BenchError("the server closed the connection before a complete response")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        raise BenchError(f"not an HTTP response: {lines[0][:60]!r}") from None
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length is None:
        raise BenchError("the response has no Content-Length; the benchmark client needs one")
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise BenchError("the server closed the connection in the middle of a response body")
        body += chunk
    return status, body


class HTTPClient:
    """The one client stack of every compared figure: a GET over ``socket`` + ``ssl``.

    ``context=None`` speaks plain HTTP. With ``resume=True`` each new connection
    offers the session of the previous one (``wrap_socket(session=...)``), which
    is how a Python ``ssl`` client resumes; :attr:`resumed` counts the
    connections the server actually resumed.
    """

    def __init__(
        self,
        port: int,
        context: ssl.SSLContext | None = None,
        *,
        path: str = "/healthz",
        resume: bool = False,
        server_hostname: str = "localhost",
    ):
        self.port = port
        self.context = context
        self.resume = resume
        self.server_hostname = server_hostname
        self.session: ssl.SSLSession | None = None
        self.connections = 0
        self.resumed = 0
        self.requests = 0
        self._sock = None
        host = f"Host: {server_hostname}:{port}\r\n"
        self._close_request = f"GET {path} HTTP/1.1\r\n{host}Connection: close\r\n\r\n".encode()
        self._keepalive_request = f"GET {path} HTTP/1.1\r\n{host}\r\n".encode()

    def _connect(self):
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        _nodelay(raw)
        self.connections += 1
        if self.context is None:
            return raw
        try:
            sock = self.context.wrap_socket(
                raw,
                server_hostname=self.server_hostname,
                session=self.session if self.resume else None,
            )
        except BaseException:
            raw.close()
            raise
        if sock.session_reused:
            self.resumed += 1
        return sock

    def _exchange(self, sock, request: bytes) -> bytes:
        sock.sendall(request)
        status, body = read_response(sock)
        if status != 200:
            raise BenchError(f"the server answered {status} instead of 200: {body[:80]!r}")
        self.requests += 1
        return body

    def new_connection(self) -> bytes:
        """Connect (full handshake, or resumed), one request, close."""
        sock = self._connect()
        try:
            body = self._exchange(sock, self._close_request)
            if self.resume and self.context is not None:
                # Under TLS 1.3 the ticket arrives after the handshake; it has been
                # read together with the response, so the session is complete now.
                self.session = sock.session
            return body
        finally:
            sock.close()

    def keepalive(self) -> bytes:
        """One request on the connection kept open since the first call (opened if needed)."""
        if self._sock is None:
            self._sock = self._connect()
        return self._exchange(self._sock, self._keepalive_request)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


# ------------------------------------------------------------ the baseline
class RawServer:
    """The baseline: the least a Python TLS server can do per connection.

    One thread: accept, TCP_NODELAY, handshake, read the request head, send a
    fixed response, close. No HTTP parsing, no WSGI, no thread handoff. With
    ``context=None`` it serves plain TCP. :attr:`handshakes` and :attr:`resumed`
    are the server's own count; :attr:`errors` keeps every failure.
    """

    def __init__(self, context: ssl.SSLContext | None):
        self.context = context
        self.handshakes = 0
        self.resumed = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def __enter__(self) -> "RawServer":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sock.settimeout(0.1)  # lets the loop notice stop() promptly
        self._sock, self.port = sock, sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True, name="lab-bench-raw")
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._sock is not None:
            self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                self._handle(conn)
            except (OSError, ssl.SSLError) as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
                conn.close()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        _nodelay(conn)
        if self.context is not None:
            conn = self.context.wrap_socket(conn, server_side=True)
            self.handshakes += 1
            self.resumed += bool(conn.session_reused)
        with conn:
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buf += chunk
            conn.sendall(RESPONSE)


@contextlib.contextmanager
def plain_http_server(app):
    """The same WSGI app on cheroot without TLS: what HTTP costs before any TLS."""
    from cheroot import wsgi

    server = wsgi.Server(
        ("127.0.0.1", 0),
        app,
        numthreads=8,
        server_name="mtls-lab-bench",
        shutdown_timeout=1,
        timeout=10,
    )
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True, name="lab-bench-plain")
    thread.start()
    try:
        yield server.socket.getsockname()[1]
    finally:
        server.stop()
        thread.join(timeout=2)


# ------------------------------------------------------------------ results
@dataclass
class Figure:
    """One measured rate: that of its median operation, and what the connections did.

    ``median_ms``, ``p10_ms`` and ``p90_ms`` are over every timed operation of
    every round; ``rps`` is ``1000 / median_ms``; ``rounds`` holds each round's
    median rate, to show the spread.
    """

    key: str
    label: str
    group: str
    rps: float = 0.0
    median_ms: float = 0.0
    p10_ms: float = 0.0
    p90_ms: float = 0.0
    rounds: list = field(default_factory=list)
    requests: int = 0
    connections: int = 0
    resumed: int = 0
    server_handshakes: int | None = None


@dataclass
class KeyType:
    key_type: str
    label: str
    keygen_ms: float
    keygen_samples: int
    handshake_rps: float


@dataclass
class BenchResult:
    """Everything one run measured; ``to_dict()`` is the ``--json`` line."""

    plan: str
    figures: dict
    key_types: dict
    environment: dict
    errors: list = field(default_factory=list)

    def rps(self, key: str) -> float:
        return self.figures[key].rps

    def ratio(self, numerator: str, denominator: str) -> float:
        den = self.rps(denominator)
        return self.rps(numerator) / den if den else 0.0

    @property
    def ratios(self) -> dict:
        return {
            "new_connection_vs_raw": self.ratio("lab_new_connection", "raw_handshake"),
            "keepalive_vs_new_connection": self.ratio("lab_keepalive", "lab_new_connection"),
            "resumed_vs_new_connection": self.ratio("lab_resumed", "lab_new_connection"),
            "mtls_vs_server_tls_new_connection": self.ratio(
                "lab_new_connection", "server_tls_new_connection"
            ),
            "mtls_vs_plain_http_new_connection": self.ratio(
                "lab_new_connection", "plain_http_new_connection"
            ),
            "requests_keepalive_vs_new_connection": self.ratio(
                "requests_keepalive", "requests_new_connection"
            ),
        }

    @property
    def targets_met(self) -> dict:
        ratios = self.ratios
        return {name: ratios[name] >= target for name, target in TARGETS.items()}

    def to_dict(self) -> dict:
        out = {f"{key}_rps": round(f.rps, 1) for key, f in self.figures.items()}
        out.update({name: round(value, 3) for name, value in self.ratios.items()})
        out["targets"] = dict(TARGETS)
        out["targets_met"] = self.targets_met
        out["plan"] = self.plan
        out["figures"] = [
            {
                **asdict(f),
                "rps": round(f.rps, 1),
                "rounds": [round(r, 1) for r in f.rounds],
                **{k: round(getattr(f, k), 3) for k in ("median_ms", "p10_ms", "p90_ms")},
            }
            for f in self.figures.values()
        ]
        out["key_types"] = {
            k: {
                **asdict(v),
                "keygen_ms": round(v.keygen_ms, 3),
                "handshake_rps": round(v.handshake_rps, 1),
            }
            for k, v in self.key_types.items()
        }
        out["environment"] = self.environment
        out["errors"] = list(self.errors)
        return out

    def table(self) -> str:
        """The human-readable report: figures by group, then ratios against the targets."""
        env = self.environment
        lines = [
            f"mTLS Lab benchmark ({self.plan}): 127.0.0.1, {env['cpus']} CPUs, "
            f"load {env['load_before']} -> {env['load_after']}, {env['openssl']}",
            f"client for compared figures: {env['client_stack']}",
            "",
            f"{'group':<12} {'figure':<52} {'req/s':>7} {'median ms':>10} {'p90 ms':>8}  connections (resumed)",
        ]
        for f in self.figures.values():
            conns = f"{f.connections}" + (f" ({f.resumed})" if f.resumed else "")
            lines.append(
                f"{f.group:<12} {f.label:<52} {f.rps:>7.0f} {f.median_ms:>10.2f} {f.p90_ms:>8.2f}  {conns}"
            )
        lines += ["", f"{'key type':<12} {'key generation':>16} {'mTLS handshakes/s':>19}"]
        for k in self.key_types.values():
            lines.append(f"{k.label:<12} {k.keygen_ms:>13.2f} ms {k.handshake_rps:>19.0f}")
        lines += ["", "ratios (same run)"]
        met = self.targets_met
        for name, value in self.ratios.items():
            target = TARGETS.get(name)
            verdict = (
                f"  target >= {target:g}: {'met' if met[name] else 'MISSED'}" if target else ""
            )
            lines.append(f"  {name:<40} {value:>7.2f}{verdict}")
        if self.errors:
            lines += ["", "errors:"] + [f"  {e}" for e in self.errors]
        return "\n".join(lines)


# ------------------------------------------------------------------ measuring
@dataclass
class _Spec:
    figure: Figure
    op: Callable[[], object]
    n: int
    finish: Callable[[], None] = lambda: None
    server_count: Callable[[], int] | None = None
    client: object = None


def _load() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # pragma: no cover - not on Windows
        return -1.0


def _quantile(sorted_values: list, q: float) -> float:
    """The ``q`` quantile of sorted values, by linear interpolation (``q=0.5``: the median)."""
    position = (len(sorted_values) - 1) * q
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def _batches(n: int, steps: int) -> list[int]:
    """Split ``n`` operations into ``steps`` turns as evenly as possible (20 into 3: 6, 7, 7)."""
    return [n * (i + 1) // steps - n * i // steps for i in range(steps)]


def _measure(
    specs: list[_Spec], rounds: int, say: Callable[[str], None], title: str, seed: int = 0
) -> None:
    """Time every operation of every spec, interleaved; each figure keeps its median.

    In each round the specs take ``steps`` turns (the smallest ``n`` among
    them); at each turn every spec runs its share of its ``n`` operations, in a
    shuffled order (``seed`` makes the schedule reproducible). Why shuffled: the
    operation just before leaves traces (a server thread still closing its
    connection, a kept-alive connection going back to its selector, warm or cold
    caches), and with a fixed or rotating order a figure always follows the same
    neighbour. Measured on a 2-core VM, the lab-to-raw ratio moved between 0.84
    and 0.95 with nothing but the order of the specs changed; shuffled, no figure
    has a favourite neighbour.
    """
    for spec in specs:  # warm-up: first-request costs, the first session to resume
        spec.op()
        spec.finish()
        client = spec.client
        if client is not None:
            client.connections = client.resumed = client.requests = 0
    steps = min(spec.n for spec in specs)
    shares = {id(spec): _batches(spec.n, steps) for spec in specs}
    samples: dict[int, list] = {id(spec): [] for spec in specs}
    clock = time.perf_counter
    order = list(specs)
    shuffle = random.Random(seed).shuffle
    for r in range(rounds):
        say(f"{title}: round {r + 1}/{rounds}")
        this_round: dict[int, list] = {id(spec): [] for spec in specs}
        for step in range(steps):
            shuffle(order)
            for spec in order:
                times, count = this_round[id(spec)], spec.server_count
                for _ in range(shares[id(spec)][step]):
                    # Specs may share a server: its handshake count is read around
                    # each operation, outside the timed part, and credited to the spec.
                    before = count() if count else 0
                    start = clock()
                    spec.op()
                    times.append(clock() - start)
                    if count:
                        spec.figure.server_handshakes = (
                            (spec.figure.server_handshakes or 0) + count() - before
                        )
        for spec in specs:
            spec.finish()
            times = sorted(this_round[id(spec)])
            spec.figure.rounds.append(1 / _quantile(times, 0.5))
            spec.figure.requests += len(times)
            samples[id(spec)] += times
    for spec in specs:
        fig, times = spec.figure, sorted(samples[id(spec)])
        fig.median_ms = _quantile(times, 0.5) * 1000
        fig.p10_ms = _quantile(times, 0.1) * 1000
        fig.p90_ms = _quantile(times, 0.9) * 1000
        fig.rps = 1000 / fig.median_ms
        if spec.client is not None:
            fig.connections = spec.client.connections
            fig.resumed = getattr(spec.client, "resumed", 0)


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

    The key type of the *leaves* is what a handshake pays for: each side signs
    with its own key, and verifies one signature of the root, which is cheap for
    either type; so all chains share one ECDSA root. When only one key was
    generated (RSA-4096 in the quick plan: about a second per key), both leaves
    use it. The arithmetic is the same; never share a key between two
    identities for real.
    """
    server = ca.issue_server("localhost", "127.0.0.1", key=keys[0])
    client = ca.issue_client("bench-client", key=keys[1 % len(keys)])
    return ca, server, client


def run(
    *, quick: bool = True, plan: Plan | None = None, progress: Callable[[str], None] | None = None
) -> BenchResult:
    """Run the benchmark once and return its :class:`BenchResult`.

    ``quick`` picks :data:`QUICK` (a few seconds) or :data:`FULL`; ``plan``
    overrides both (``Plan.tiny()`` for tests). ``progress`` receives one line
    per step (the CLI prints them on stderr).
    """
    from lab.course.demo import create_app
    from lab.tls import client as lab_client
    from lab.tls.server import MTLSServer

    plan = plan or (QUICK if quick else FULL)
    say = progress or (lambda message: None)
    load_before = _load()
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
    client_ctx = tlsconfig.client_context(client_cert, ca)
    anonymous_ctx = tlsconfig.client_context(None, ca)
    tls12_ctx = tlsconfig.client_context(client_cert, ca, max_version="1.2")
    app = create_app()
    figures: dict[str, Figure] = {}

    def spec(key, label, group, client, op_name, n, server_count=None):
        figures[key] = Figure(key, label, group)
        op = getattr(client, op_name)
        finish = client.close if op_name == "keepalive" else (lambda: None)
        return _Spec(figures[key], op, n, finish, server_count, client)

    n_new, n_keep = plan.new_connections, plan.keepalive_requests
    with contextlib.ExitStack() as stack:
        raw = stack.enter_context(RawServer(tlsconfig.server_context(server_cert, ca)))
        lab = stack.enter_context(MTLSServer(app, certificate=server_cert, trust=ca))
        lab_tls = stack.enter_context(MTLSServer(app, certificate=server_cert, mode="none"))
        plain_port = stack.enter_context(plain_http_server(app))
        lab_count = lambda: lab.handshakes  # noqa: E731

        core = [
            spec(
                "raw_handshake",
                "raw ssl server: mTLS handshake + 1 request",
                "baseline",
                HTTPClient(raw.port, client_ctx),
                "new_connection",
                n_new,
            ),
            spec(
                "lab_new_connection",
                "lab server mTLS: new connection per request",
                "lab",
                HTTPClient(lab.port, client_ctx),
                "new_connection",
                n_new,
                lab_count,
            ),
            spec(
                "lab_keepalive",
                "lab server mTLS: keep-alive (one connection)",
                "lab",
                HTTPClient(lab.port, client_ctx),
                "keepalive",
                n_keep,
                lab_count,
            ),
            spec(
                "lab_resumed",
                "lab server mTLS: new connection, session resumed",
                "lab",
                HTTPClient(lab.port, client_ctx, resume=True),
                "new_connection",
                n_new,
                lab_count,
            ),
            spec(
                "raw_resumed",
                "raw ssl server: resumed handshake + 1 request",
                "baseline",
                HTTPClient(raw.port, client_ctx, resume=True),
                "new_connection",
                n_new,
            ),
            spec(
                "server_tls_new_connection",
                "server-only TLS: new connection per request",
                "comparison",
                HTTPClient(lab_tls.port, anonymous_ctx),
                "new_connection",
                n_new,
            ),
            spec(
                "server_tls_keepalive",
                "server-only TLS: keep-alive",
                "comparison",
                HTTPClient(lab_tls.port, anonymous_ctx),
                "keepalive",
                n_keep,
            ),
            spec(
                "plain_http_new_connection",
                "plain HTTP: new connection per request",
                "comparison",
                HTTPClient(plain_port),
                "new_connection",
                n_new,
            ),
            spec(
                "plain_http_keepalive",
                "plain HTTP: keep-alive",
                "comparison",
                HTTPClient(plain_port),
                "keepalive",
                n_keep,
            ),
            spec(
                "tls12_handshake",
                "raw ssl server, TLS 1.2: mTLS handshake",
                "TLS version",
                HTTPClient(raw.port, tls12_ctx),
                "new_connection",
                n_new,
            ),
            spec(
                "tls12_resumed",
                "raw ssl server, TLS 1.2: resumed handshake",
                "TLS version",
                HTTPClient(raw.port, tls12_ctx, resume=True),
                "new_connection",
                n_new,
            ),
        ]
        _measure(core, plan.rounds, say, "handshakes and keep-alive")

        # requests, compared only with itself (see the module docstring). One
        # Session per figure: a pooled keep-alive connection would otherwise carry
        # the first "new connection" request without a handshake.
        url = f"{lab.url}/healthz"
        closing = stack.enter_context(lab_client.session(client_cert, trust=ca))
        keeping = stack.enter_context(lab_client.session(client_cert, trust=ca))

        def requests_new_connection():
            closing.get(url, headers={"Connection": "close"}, timeout=10).raise_for_status()

        def requests_keepalive():
            keeping.get(url, timeout=10).raise_for_status()

        figures["requests_new_connection"] = Figure(
            "requests_new_connection",
            "requests via lab.client: new connection per request",
            "requests",
        )
        figures["requests_keepalive"] = Figure(
            "requests_keepalive", "requests via lab.client: keep-alive (one Session)", "requests"
        )
        _measure(
            [
                _Spec(
                    figures["requests_new_connection"],
                    requests_new_connection,
                    plan.requests_calls,
                    server_count=lab_count,
                ),
                # closing the Session's pool ends the round, as HTTPClient.close() does
                _Spec(
                    figures["requests_keepalive"],
                    requests_keepalive,
                    plan.requests_calls * 5,
                    finish=keeping.close,
                    server_count=lab_count,
                ),
            ],
            plan.rounds,
            say,
            "requests",
        )
        for key in ("requests_new_connection", "requests_keepalive"):
            figures[key].connections = figures[key].server_handshakes or 0

        errors += [f"raw server: {e}" for e in raw.errors]
        errors += [f"lab server: {e}" for e in lab.errors]
        errors += [f"lab server (server-only TLS): {e}" for e in lab_tls.errors]
        errors += [f"lab server: {f}" for f in lab.handshake_failures]

    # -- key types: the raw baseline with a whole chain of each type
    key_specs = []
    with contextlib.ExitStack() as stack:
        for kt, (kca, kserver, kclient) in chains.items():
            server = stack.enter_context(RawServer(tlsconfig.server_context(kserver, kca)))
            figures[f"key_{kt}_handshake"] = Figure(
                f"key_{kt}_handshake",
                f"raw ssl server, {KEY_LABELS[kt]} chain: mTLS handshake",
                "key type",
            )
            client = HTTPClient(server.port, tlsconfig.client_context(kclient, kca))
            key_specs.append(
                _Spec(
                    figures[f"key_{kt}_handshake"],
                    client.new_connection,
                    plan.key_handshakes[kt],
                    client=client,
                )
            )
        _measure(key_specs, plan.rounds, say, "key types")
    for kt in chains:
        key_types[kt].handshake_rps = figures[f"key_{kt}_handshake"].rps

    environment = {
        "cpus": os.cpu_count(),
        "load_before": load_before,
        "load_after": _load(),
        "python": platform.python_version(),
        "openssl": ssl.OPENSSL_VERSION,
        "platform": sys.platform,
        "client_stack": "raw ssl socket, one HTTP/1.1 GET, TCP_NODELAY (lab.bench.HTTPClient)",
        "rounds": plan.rounds,
    }
    return BenchResult(plan.name, figures, key_types, environment, errors)


# ------------------------------------------------------- Nagle, demonstrated
def two_write_exchange(nodelay: bool, requests: int = 10) -> float:
    """Seconds per request when the server answers in two small writes (head, then body).

    Why it matters: with Nagle's algorithm on (no TCP_NODELAY), the kernel holds
    the second small write until the first is acknowledged, and the client's
    kernel delays that ACK (up to 40 ms on Linux) hoping to piggyback it on
    data. Each exchange stalls. werkzeug's TLS server met exactly this (small
    TLS records); the lab server, cheroot and this module set TCP_NODELAY.
    Plain TCP on loopback, one connection, ``requests`` bounded exchanges.
    """
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = listener.accept()
        if nodelay:
            _nodelay(conn)
        with conn:
            while conn.recv(4096):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n")
                conn.sendall(b"ok\n")

    thread = threading.Thread(target=serve, daemon=True, name="lab-bench-nagle")
    thread.start()
    try:
        with socket.create_connection(listener.getsockname(), timeout=10) as sock:
            _nodelay(sock)  # the client side is not the one that stalls here
            start = time.perf_counter()
            for _ in range(max(1, requests)):
                sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                read_response(sock)
            elapsed = time.perf_counter() - start
    finally:
        thread.join(timeout=2)
        listener.close()
    return elapsed / max(1, requests)
