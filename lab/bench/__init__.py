"""``python -m lab bench``: what mutual TLS costs on this machine, against a same-run baseline.

Why a baseline: requests per second depend on the CPU and on whatever else the machine is
doing, so an absolute figure says little. A *ratio* between two figures measured in the same
run, interleaved, says a lot: "the lab server reaches 0.8x of what a raw ``ssl`` socket can
do", "keep-alive is 10x faster than a new connection per request".

What one run measures, on 127.0.0.1 only, every loop bounded by a :class:`Plan`:

* **the baseline**: :class:`RawServer`, a one-thread ``ssl`` server (accept, handshake, read
  one request, answer, close) with the contexts of :mod:`lab.tls.contexts`;
* **the lab server** (:class:`lab.tls.server.MTLSServer`): a new connection per request,
  keep-alive, and a resumed session; the same server code without client certificates
  (``mode="none"``) and without TLS (``tls=False``), so two figures differ by what TLS or
  the client certificate costs;
* **a default client** (``ssl.create_default_context``, OpenSSL's groups, X25519 first)
  against the lab's P-256-only server: every full handshake gets a HelloRetryRequest;
* **key types** (ECDSA P-256, RSA-2048, RSA-4096) and **TLS 1.2** against the baseline.

Every figure uses one client, :class:`HTTPClient` (``socket`` + ``ssl``, one HTTP/1.1 GET):
requests adds its own Python per call and cannot resume a session. Notebook 09 writes the
same timed loop by hand; this module is what the command line runs.
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import re
import socket
import socketserver
import ssl
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Callable

from lab import pki
from lab.course.table import Table
from lab.errors import LabError
from lab.tls import contexts as tlsconfig

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
KEEPALIVE_RUN = 8  # keep-alive requests a turn, one after the other
KEY_LABELS = {"ec": "ECDSA P-256", "rsa2048": "RSA-2048", "rsa4096": "RSA-4096"}


class BenchError(LabError, RuntimeError):
    """A benchmark request failed: the figures would be meaningless, so none are given."""


@dataclass(frozen=True)
class Plan:
    """How much work one run does: rounds, and operations per round for each figure."""

    name: str
    rounds: int
    connects: int  # operations per round for each figure (a new connection each, but keep-alive)
    keygen: dict  # keys generated (and timed) per type; the first two are used

    @classmethod
    def tiny(cls, n: int = 3) -> "Plan":
        """The smallest meaningful run: for smoke checks, not for figures."""
        return cls("tiny", 1, max(1, int(n)), dict.fromkeys(KEY_LABELS, 1))


#: About fifteen seconds on an idle 2-core machine.
QUICK = Plan("quick", 3, 14, {"ec": 20, "rsa2048": 2, "rsa4096": 1})
FULL = Plan("full", 7, 100, {"ec": 200, "rsa2048": 10, "rsa4096": 4})


def read_response(sock) -> tuple[int, bytes]:
    """Read one HTTP/1.1 response framed by Content-Length; return (status, body).

    Not ``http.client``: its parser takes about 0.2 ms a response, a fifth of a keep-alive
    request, and the same for every figure would still blur their ratios.
    """
    buf, length = b"", None
    while length is None or len(buf) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise BenchError("the server closed the connection before a complete response")
        buf += chunk
        if length is None and b"\r\n\r\n" in buf:
            head, _, buf = buf.partition(b"\r\n\r\n")
            found = re.search(
                rb"^HTTP/1\.[01] (\d{3}) .*?\r\ncontent-length: *(\d+)", head, re.I | re.S
            )
            if not found:
                raise BenchError(f"not an HTTP response with a length: {head[:60]!r}")
            status, length = int(found[1]), int(found[2])
    return status, buf


class HTTPClient:
    """A GET over ``socket`` + ``ssl`` (plain TCP when ``context`` is None), TCP_NODELAY.

    ``how="new"``: each :meth:`get` connects, asks once and closes; ``"resumed"``: the same,
    offering the previous connection's session (``wrap_socket(session=...)``), which is how
    a Python client resumes; ``"keepalive"``: every call asks on one connection, kept open
    until :meth:`close`.
    """

    def __init__(self, port: int, context: ssl.SSLContext | None, how: str = "new"):
        self.port, self.context, self.how = port, context, how
        self.session: ssl.SSLSession | None = None
        self._sock = None
        close = "" if how == "keepalive" else "Connection: close\r\n"
        self._request = f"GET /healthz HTTP/1.1\r\nHost: localhost\r\n{close}\r\n".encode()

    def _connect(self):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.context is None:
            return sock
        session = self.session if self.how == "resumed" else None
        try:
            return self.context.wrap_socket(sock, server_hostname="localhost", session=session)
        except BaseException:
            sock.close()
            raise

    def get(self) -> None:
        sock = self._sock = self._sock or self._connect()
        sock.sendall(self._request)
        status, body = read_response(sock)
        if status != 200:
            raise BenchError(f"the server answered {status} instead of 200: {body[:80]!r}")
        if self.how != "keepalive":
            if self.context is not None:
                self.session = sock.session  # TLS 1.3: the ticket came with the response
            self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class RawServer(socketserver.TCPServer):
    """The baseline: the least a Python TLS server does per connection, in one thread.

    Accept, handshake, read the request head, send a fixed answer, close: no HTTP parsing,
    no WSGI, no thread handoff. :attr:`handshakes` and :attr:`resumed` are its own count;
    :attr:`errors` keeps every failure.
    """

    request_queue_size = 128

    def __init__(self, context: ssl.SSLContext):
        super().__init__(("127.0.0.1", 0), None)
        self.context, self.port = context, self.server_address[1]
        self.handshakes = self.resumed = 0
        self.errors: list[str] = []

    def __enter__(self) -> "RawServer":
        threading.Thread(target=self.serve_forever, args=(0.1,), daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()

    def process_request(self, conn, address) -> None:
        try:
            conn.settimeout(10)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.context.wrap_socket(conn, server_side=True) as tls:
                self.handshakes += 1
                self.resumed += tls.session_reused
                buf = b""
                while b"\r\n\r\n" not in buf and (chunk := tls.recv(4096)):
                    buf += chunk
                tls.sendall(RESPONSE)
        except OSError as exc:  # ssl.SSLError is an OSError
            self.errors.append(f"{type(exc).__name__}: {exc}")
            conn.close()


def measure(specs: list[tuple], rounds: int, turns: int, say: Callable[[str], None]) -> None:
    """Time every operation on its own, the specs taking ``turns`` turns a round, shuffled.

    ``specs`` holds ``(figure, client, server)``; each figure (a dict) gets its rate, that of
    its median operation, and what the server counted. Why single operations and their
    median, not the best of several loops: on a shared machine the CPU comes and goes in
    bursts of tens of milliseconds; a round of twenty connections is slowed unevenly, and
    the median of single operations ignores the bursts whichever figure they hit. Why
    shuffled turns: a figure and its baseline are then taken within milliseconds of each
    other, and no figure always follows the same neighbour. A keep-alive figure makes
    :data:`KEEPALIVE_RUN` requests a turn: its requests are cheap, and one alone would wait
    for cheroot's selector to hand the connection back to a worker each time. The server's
    count of handshakes (and resumed ones) is read around each operation, outside the timed part.
    """
    times: dict[int, list[float]] = {id(fig): [] for fig, _, _ in specs}
    for fig, client, _ in specs:  # warm-up: first-request costs, a first session to resume
        client.get()
        client.close()
        fig.update(server_handshakes=0, resumed=0)
    order, shuffle = list(specs), random.Random(0).shuffle
    for r in range(rounds):
        say(f"round {r + 1}/{rounds}")
        for _ in range(turns):
            shuffle(order)
            for fig, client, server in order:
                for _ in range(KEEPALIVE_RUN if client.how == "keepalive" else 1):
                    handshakes, resumed = server.handshakes, server.resumed
                    start = time.perf_counter()
                    client.get()
                    times[id(fig)].append(time.perf_counter() - start)
                    fig["server_handshakes"] += server.handshakes - handshakes
                    fig["resumed"] += server.resumed - resumed
        for _, client, _ in specs:
            client.close()
    for fig, _, _ in specs:
        ops = sorted(times[id(fig)])
        median, p90 = statistics.median(ops) * 1000, ops[len(ops) * 9 // 10] * 1000
        fig.update(rps=1000 / median, median_ms=median, p90_ms=p90, operations=len(ops))


#: The figures of one run: key, group, server, client context, how, label (one a line).
FIGURES = """
raw_new            baseline   raw      mtls       new        raw ssl server: mTLS handshake + 1 request
raw_resumed        baseline   raw      mtls       resumed    raw ssl server: resumed + 1 request
lab_new            lab        lab      mtls       new        lab server mTLS: new connection per request
lab_keepalive      lab        lab      mtls       keepalive  lab server mTLS: keep-alive
lab_resumed        lab        lab      mtls       resumed    lab server mTLS: session resumed
lab_default_client lab        lab      default    new        lab server mTLS: default client, X25519 first
tls_new            comparison tls      anonymous  new        server-only TLS: new connection
tls_keepalive      comparison tls      anonymous  keepalive  server-only TLS: keep-alive
plain_new          comparison plain    plain      new        plain HTTP: new connection
plain_keepalive    comparison plain    plain      keepalive  plain HTTP: keep-alive
tls12_new          TLS_1.2    raw      tls12      new        raw ssl server, TLS 1.2: mTLS handshake
tls12_resumed      TLS_1.2    raw      tls12      resumed    raw ssl server, TLS 1.2: resumed
key_rsa2048        key_type   rsa2048  rsa2048    new        raw ssl server, RSA-2048 leaves: handshake
key_rsa4096        key_type   rsa4096  rsa4096    new        raw ssl server, RSA-4096 leaves: handshake
"""

#: Ratios of figures from one run: name -> (numerator, denominator, what to expect or None).
RATIOS = {
    "new_connection_vs_raw": ("lab_new", "raw_new", 0.7),
    "keepalive_vs_new_connection": ("lab_keepalive", "lab_new", 5.0),
    "plain_http_vs_mtls_keepalive": ("plain_keepalive", "lab_keepalive", 1.0),
    "resumed_vs_new_connection": ("lab_resumed", "lab_new", None),
    "mtls_vs_server_tls_new_connection": ("lab_new", "tls_new", None),
    "mtls_vs_plain_http_new_connection": ("lab_new", "plain_new", None),
    "hello_retry_vs_p256_first": ("lab_default_client", "lab_new", None),
}


def table(result: dict) -> str:
    """The report of :func:`run`'s result: one row a figure, key generation, the ratios."""
    env, rows = result["environment"], []
    for f in result["figures"].values():
        handshakes = f"{f['server_handshakes']}" + (f" ({f['resumed']})" if f["resumed"] else "")
        numbers = f"{f['rps']:.0f}", f"{f['median_ms']:.2f}", f"{f['p90_ms']:.2f}", handshakes
        rows.append((f["group"], f["label"], *numbers))
    header = ["group", "figure", "req/s", "median ms", "p90 ms", "handshakes (resumed)"]
    ratios = []
    for name, value in result["ratios"].items():
        bar = RATIOS[name][2]
        verdict = f"expect >= {bar:g}: {'yes' if value >= bar else 'NO'}" if bar else ""
        ratios.append((name, f"{value:.2f}", verdict))
    keygen = ", ".join(f"{KEY_LABELS[k]} {ms:.2f} ms" for k, ms in result["keygen_ms"].items())
    lines = [
        f"mTLS Lab benchmark ({result['plan']}): 127.0.0.1, {env['cpus']} CPUs, "
        f"load {env['load_before']} -> {env['load_after']}, {env['openssl']}",
        "every figure: one socket + ssl client, one HTTP/1.1 GET, TCP_NODELAY",
        "",
        str(Table(header, rows)),
        "",
        f"key generation: {keygen}",
        "",
        str(Table(["ratio (same run)", "x", ""], ratios)),
    ]
    errors = result["errors"]
    return "\n".join(lines + ["", "errors:", *errors] if errors else lines)


def run(
    *, quick: bool = True, plan: Plan | None = None, progress: Callable[[str], None] | None = None
) -> dict:
    """Run the benchmark once: ``quick`` picks :data:`QUICK` or :data:`FULL`, ``plan`` either.

    ``progress`` receives one line per step (the command line prints them on stderr). The
    result is what ``--json`` prints, and :func:`table` makes the report from it.
    """
    # Function-level: MTLSServer and the demo app import Flask and cheroot, which the
    # rest of this module (and a plain ``import lab.bench``) does not need.
    from lab.course.demo import create_app
    from lab.tls.server import MTLSServer

    plan, say = plan or (QUICK if quick else FULL), progress or (lambda message: None)
    load_before, keygen_ms, chains = round(os.getloadavg()[0], 2), {}, {}
    root = pki.CertificateAuthority.create("mTLS Lab Bench CA")
    for kt, count in plan.keygen.items():  # time the keys, then use them for the chains
        say(f"generating {KEY_LABELS[kt]} keys")
        start = time.perf_counter()
        keys = [pki.generate_key(kt) for _ in range(max(1, count))]
        keygen_ms[kt] = (time.perf_counter() - start) / len(keys) * 1000
        # The leaves' key type is what a handshake pays for (each side signs with its own
        # key); RSA-4096 in the quick plan has one key for both leaves: never do that for real.
        chains[kt] = (
            root.issue_server("localhost", "127.0.0.1", key=keys[0]),
            root.issue_client("bench-client", key=keys[1 % len(keys)]),
        )
    server_cert, client_cert = chains["ec"]
    mtls = tlsconfig.client_context(client_cert, root)
    default = ssl.create_default_context(cadata=tlsconfig.trust_pem(root))
    client_cert.configure_cert(default)  # OpenSSL's groups: an X25519 key share first
    tls12 = tlsconfig.client_context(client_cert, root, max_version="1.2")
    contexts = {"mtls": mtls, "default": default, "tls12": tls12, "plain": None}
    contexts["anonymous"] = tlsconfig.client_context(None, root)
    figures: dict[str, dict] = {}
    errors: list[str] = []
    with contextlib.ExitStack() as stack:
        app, start = create_app(), stack.enter_context
        servers = {
            "raw": start(RawServer(tlsconfig.server_context(server_cert, root))),
            "lab": start(MTLSServer(app, certificate=server_cert, trust=root)),
            "tls": start(MTLSServer(app, certificate=server_cert, mode="none")),
            "plain": start(MTLSServer(app, tls=False)),
        }
        for kt in ("rsa2048", "rsa4096"):  # a raw server and a client with leaves of that type
            servers[kt] = start(RawServer(tlsconfig.server_context(chains[kt][0], root)))
            contexts[kt] = tlsconfig.client_context(chains[kt][1], root)
        specs = []
        for row in FIGURES.strip().splitlines():
            key, group, server, context, how, label = row.split(None, 5)
            figures[key] = {"label": label, "group": group.replace("_", " ")}
            client = HTTPClient(servers[server].port, contexts[context], how)
            specs.append((figures[key], client, servers[server]))
        measure(specs, plan.rounds, plan.connects, say)
        for name, server in servers.items():
            errors += [f"{name}: {e}" for e in server.errors]
        errors += [f"lab: {f}" for f in servers["lab"].handshake_failures]
    environment = {
        "cpus": os.cpu_count(),
        "load_before": load_before,
        "load_after": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "openssl": ssl.OPENSSL_VERSION,
    }
    rps = {key: f["rps"] for key, f in figures.items()}
    ratios = {name: round(rps[a] / rps[b], 3) for name, (a, b, _) in RATIOS.items()}
    return {
        "plan": plan.name,
        "figures": figures,
        "keygen_ms": keygen_ms,
        "environment": environment,
        "errors": errors,
        "ratios": ratios,
    }
