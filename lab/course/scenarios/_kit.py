"""Shared plumbing for the scenarios: one throwaway PKI, recording apps, the five-part result.

Why one shared PKI: key generation and certificate signing are the slow part of a
scenario, and most faults only need *one* odd certificate next to a good set. The
good set (a root, an issuing intermediate, a server, alice and bob, and an
unrelated "other" CA) is made once per process, in memory, with ECDSA P-256; each
scenario adds only its own broken piece. Files are written once, into a private
temporary folder, for the scenarios whose fault lives in a file (a .pfx, an
encrypted key, a CA bundle named by REQUESTS_CA_BUNDLE).

Why the server's record decides: under TLS 1.3 the client may see a refusal as an
alert or as a bare EOF (a race). :func:`handshake_result` asks the server what it
saw, so ``behaved`` and the printed outcome are the same on every run.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from flask import Flask, request

from lab import housekeeping
from lab.course import observe
from lab.course.scenarios._model import ScenarioResult
from lab.pki import CertificateAuthority, IssuedCertificate
from lab.pki.certinfo import common_name
from lab.tls.identity import peer_certificate
from lab.tls.server import MTLSServer

#: What the "server saw" part says when a fault stopped the client before it connected.
PFX_PASSWORD = "correct-horse-battery"
KEY_PASSPHRASE = "alice-passphrase"
NOTHING_REACHED = "nothing: no connection reached the server (the client failed before connecting)"


@dataclass
class ScenarioPKI:
    """The good set every scenario starts from (see the module docstring)."""

    root: CertificateAuthority
    issuing: CertificateAuthority
    other: CertificateAuthority
    server: IssuedCertificate
    alice: IssuedCertificate
    bob: IssuedCertificate
    dir: Path

    def file(self, name: str) -> Path:
        return self.dir / name


@functools.lru_cache(maxsize=1)
def shared_pki() -> ScenarioPKI:
    """Build (once per process) the PKI the scenarios share, and write its files."""
    root = CertificateAuthority.create("Scenario Root CA")
    issuing = root.create_intermediate("Scenario Issuing CA")
    other = CertificateAuthority.create("Unknown Corp Root CA", organization="Unknown Corp")
    server = root.issue_server("localhost", "127.0.0.1")
    alice = root.issue_client("alice")
    bob = root.issue_client("bob")
    d = housekeeping.temporary_folder("scenarios")  # holds keys: removed at exit, or by reset
    root.write(d / "rootCA")
    other.write(d / "otherCA")
    alice.write(d / "alice")
    alice.to_pkcs12(d / "alice.pfx", PFX_PASSWORD)
    alice.write(d / "alice-encrypted", password=KEY_PASSPHRASE)
    root.issue_client("carol", mismatched_key=True).write(d / "carol")
    return ScenarioPKI(root, issuing, other, server, alice, bob, d)


# ------------------------------------------------------------------- apps
def record_requests(app: Flask) -> list[str]:
    """Make ``app`` note every request it answers: path, who (client certificate CN), status."""
    record: list[str] = []

    @app.after_request
    def _note(response):
        cert = peer_certificate()
        who = (
            f"client certificate CN={common_name(cert.subject)}"
            if cert
            else "no client certificate"
        )
        line = f"{request.method} {request.path} from {who} -> {response.status_code}"
        if response.status_code >= 400 and response.mimetype == "application/problem+json":
            line += f" ({(response.get_json(silent=True) or {}).get('detail', '')})"
        record.append(line)
        return response

    return record


def demo_app() -> tuple[Flask, list[str]]:
    """The guide's SecureController (``lab.course.demo``), with a request record."""
    from lab.course.demo import create_app

    app = create_app("scenario-demo")
    return app, record_requests(app)


# ----------------------------------------------------------------- results
def server_view(server: MTLSServer, obs: observe.Observation, record: list[str] | None) -> str:
    """The server's side of an observation: the handshake record, then what the app answered."""
    if obs.server_saw.startswith("handshake ok") and record:
        return "handshake ok; " + record[-1]
    return obs.server_saw


def raw_error(exc: BaseException | None) -> str:
    """The client's exception, type and message, with ports and line numbers scrubbed."""
    if exc is None:
        return ""
    return f"{type(exc).__name__}: {observe.scrub(str(exc))}"


def handshake_result(
    name: str,
    *,
    identity,
    server_cert=None,
    server_trust=None,
    client_trust=None,
    mode: str = "require",
    path: str = "/api/secure",
    server_options=None,
    client_options=None,
    expect_server: str,
    expect_client: str | None = None,
    category: str,
    cause: str,
    fix: str,
    notes=(),
) -> ScenarioResult:
    """Run the demo app over mTLS with one fault injected, and judge the outcome.

    ``expect_server`` must appear in the server's record (a refused handshake's
    reason, or ``handshake ok; ...`` plus the app's request line); when the client
    is the side that refused, ``expect_client`` must appear in its stable view.
    """
    from lab.tls.client import session

    pki = shared_pki()
    app, record = demo_app()
    srv = server_cert or pki.server
    with MTLSServer(
        app, certificate=srv, trust=server_trust or pki.root, mode=mode, **(server_options or {})
    ) as s:
        obs = observe.observe(
            s,
            lambda: session(identity, trust=client_trust or pki.root, **(client_options or {})).get(
                s.url + path, timeout=10
            ),
        )
        server_saw = server_view(s, obs, record)
    behaved = expect_server in server_saw and (
        expect_client is None or expect_client in obs.client_saw
    )
    return ScenarioResult(
        name,
        obs.client_saw,
        server_saw,
        obs.status,
        category,
        cause,
        fix,
        behaved=behaved,
        notes=list(notes),
        client_error=raw_error(obs.client_error),
    )


def client_side_failure(
    name: str,
    call: Callable[[MTLSServer], object],
    *,
    expect_error: type,
    category: str,
    cause: str,
    fix: str,
    notes=(),
) -> ScenarioResult:
    """A fault that stops the client before it connects: show that nothing reached the server."""
    pki = shared_pki()
    app, record = demo_app()
    with MTLSServer(app, certificate=pki.server, trust=pki.root) as s:
        obs = observe.observe(s, lambda: call(s), wait=0.3)
        untouched = s.handshakes == 0 and not s.handshake_failures and not record
    server_saw = NOTHING_REACHED if untouched else obs.server_saw
    err = obs.client_error
    client_saw = f"{type(err).__name__}: {observe.scrub(str(err))}" if err else obs.client_saw
    behaved = untouched and isinstance(err, expect_error)
    return ScenarioResult(
        name,
        client_saw,
        server_saw,
        None,
        category,
        cause,
        fix,
        behaved=behaved,
        notes=list(notes),
        client_error=raw_error(err),
    )


# ------------------------------------------------------------- plain HTTP
class PlainHTTPListener:
    """A plain-HTTP (no TLS) listener on loopback that notes what arrived before answering 400.

    It stands for an app bound to ``http://`` only (the guide's "HTTPS not bound"):
    a TLS client's first bytes are a ClientHello (``16 03 01 ...``), which no HTTP
    parser can read, so it answers ``400 Bad Request`` in plain text, and that
    answer is what the client's TLS stack then fails to parse.
    """

    def __init__(self):
        import socket

        self.received: list[bytes] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._thread = None

    def _serve(self) -> None:
        try:
            conn, _ = self._sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(3)
            try:
                self.received.append(conn.recv(4096))
                conn.sendall(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                    b"Content-Length: 12\r\nConnection: close\r\n\r\nBad Request\n"
                )
            except OSError:
                pass

    def __enter__(self) -> "PlainHTTPListener":
        import threading

        self._thread = threading.Thread(target=self._serve, daemon=True, name="lab-plain-http")
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._sock.close()
        if self._thread is not None:
            self._thread.join(timeout=3)

    def what_arrived(self) -> str:
        if not self.received:
            return "nothing arrived"
        first = self.received[0]
        if first[:2] == b"\x16\x03":
            return (
                f"a TLS ClientHello (bytes {first[:3].hex(' ')} ...) where an HTTP request line "
                f"was expected; answered 400 Bad Request in plain text"
            )
        return f"{first[:40]!r}"
