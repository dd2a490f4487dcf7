"""What a scenario is, and the plumbing the scenarios share: one PKI, one call seen from both ends.

Why one shared PKI: key generation and signing are the slow part, and most faults need only
*one* odd certificate beside a good set, made once per process. Its files go to a private
folder under the checkout's state folder (they include keys), for the faults that live in a
file (a .pfx, an encrypted key, a bundle named by REQUESTS_CA_BUNDLE).
"""

from __future__ import annotations

import functools
import types
from dataclasses import dataclass, field
from typing import Callable

import requests
from flask import Flask, request

from lab import housekeeping
from lab.course import demo
from lab.course.observe import Observation, observe
from lab.pki import CertificateAuthority
from lab.pki.certinfo import common_name
from lab.tls.client import session
from lab.tls.failures import scrub
from lab.tls.identity import peer_certificate
from lab.tls.server import MTLSServer


@dataclass
class ScenarioResult:
    """What happened, from both sides, and what it means."""

    name: str
    client_saw: str  # what the client's code raised (type: text), or "HTTP status: body"
    server_saw: str  # the server's own record
    status: int | None
    category: str
    cause: str
    fix: str
    behaved: bool = True  # did the scenario produce the outcome it demonstrates?
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        status = self.status if self.status is not None else "-"
        return (
            f"scenario:    {self.name}\n"
            f"client saw:  {self.client_saw}\n"
            f"server saw:  {self.server_saw}\n"
            f"HTTP status: {status}\n"
            f"diagnosis:   [{self.category}] {self.cause}\n"
            f"fix:         {self.fix}"
        )


@dataclass(frozen=True)
class Scenario:
    """One entry of the catalogue: its name, group, one-line description, and how to run it."""

    name: str
    group: str
    description: str
    run: Callable[[], ScenarioResult]


@functools.lru_cache(maxsize=1)
def kit() -> types.SimpleNamespace:
    """The good set every scenario starts from: root, issuing, other CA, server, alice, dir."""
    root = CertificateAuthority.create("Scenario Root CA")
    other = CertificateAuthority.create("Unknown Corp Root CA", organization="Unknown Corp")
    alice = root.issue_client("alice")
    d = housekeeping.temporary_folder("scenarios")  # holds keys: removed at exit, or by reset
    root.write(d / "rootCA")
    other.write(d / "otherCA")
    alice.write(d / "alice")
    alice.to_pkcs12(d / "alice.pfx", "correct-horse-battery")  # wrong-pfx-password tries another
    alice.write(d / "alice-encrypted", password="alice-passphrase")  # and no passphrase given
    root.issue_client("carol", mismatched_key=True).write(d / "carol")
    return types.SimpleNamespace(
        root=root,
        issuing=root.create_intermediate("Scenario Issuing CA"),
        other=other,
        server=root.issue_server("localhost", "127.0.0.1"),
        alice=alice,
        dir=d,
    )


def raw(exc: BaseException) -> str:
    """The exception as the client's code prints it, ports and C line numbers scrubbed."""
    return f"{type(exc).__name__}: {scrub(str(exc))}".replace(str(kit().dir), "scenarios")


def recording(app: Flask) -> list[str]:
    """Make ``app`` note each request it answers: path, who (client certificate CN), status."""
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


def call(server, fn, record: list[str] | None = None) -> Observation:
    """``observe`` with the client's exception raw (type and text), and the app's record."""
    seen = observe(server, fn)
    if seen.client_error:
        seen.client_saw = raw(seen.client_error)
    if seen.server_saw.startswith("handshake ok") and record:
        seen.server_saw = "handshake ok; " + record[-1]
    return seen


def handshake(
    identity, *, app=None, path="/api/secure", headers=None, client=None, **server
) -> Observation:
    """GET ``path`` on a lab server as ``identity`` (or with a ``requests.Session``).

    The server runs ``app`` (the demo app by default) with the good server certificate,
    trusting the root, in mode require; ``server`` overrides those (certificate=, trust=,
    mode=, crl=, min_version=...), ``client`` the lab client's options (trust=, max_version=).
    """
    k, app = kit(), app or demo.create_app("scenario-demo")
    record = recording(app)
    if not isinstance(identity, requests.Session):
        identity = session(identity, **{"trust": k.root, **(client or {})})
    with MTLSServer(app, **{"certificate": k.server, "trust": k.root, **server}) as s:
        return call(s, lambda: identity.get(s.url + path, headers=headers, timeout=10), record)


def refused(seen: Observation, reason: str, client: str = "") -> bool:
    """The server's record holds ``reason``; and the client's text ``client``, when given."""
    return reason in seen.server_saw and client in seen.client_saw


def plain(cert=None, verify=None) -> requests.Session:
    """requests as most code uses it: a Session with ``cert``/``verify``, the environment ignored."""
    s = requests.Session()
    s.trust_env, s.cert, s.verify = False, cert, verify
    return s
