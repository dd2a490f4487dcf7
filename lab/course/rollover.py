"""Replace the CA itself (a root rollover) without breaking anyone, and see what breaks when the order is wrong.

Why: renewing a leaf is routine; replacing the *root* touches every party at
once. Every server and every client holds a trust bundle, and a certificate from
the new CA is accepted only by parties whose bundle already holds the new root.
The safe order is therefore fixed:

1. **Trust first.** Add the new root to every bundle (servers and clients), next
   to the old one. Nothing is re-issued yet, so nothing can break.
2. **Then re-issue.** Move servers and clients to certificates from the new CA,
   one at a time. A mixed fleet works because everyone trusts both roots.
3. **Remove the old root last**, when no certificate in use chains to it.

Swap steps 1 and 2 and the parties that do not trust the new root yet refuse
the handshake. :func:`run_plan` plays any order of :data:`STEPS` against real
servers and clients and prints, step by step, who can still talk to whom.

A **cross-signed intermediate** softens the rule: the new issuing CA's
certificate is signed a second time by the *old* root (same subject, same key).
A leaf from the new CA presented with that cross certificate chains to the old
root, so it is accepted by parties that have not received the new root yet.
That is how public CAs roll their roots (Let's Encrypt's ISRG Root X1 was
cross-signed by IdenTrust's DST Root CA X3 for years).

Each step starts a fresh server with the fleet's configuration (one server per
step keeps the demonstration readable); in production each machine changes its
own files and hot-swaps (:mod:`lab.ops.rotation`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from lab.course.demo import create_app
from lab.course.observe import Observation, observe
from lab.pki import CertificateAuthority, IssuedCertificate, pem
from lab.tls import client as _client
from lab.tls.server import MTLSServer

CLIENTS = ("alice", "bob")

#: How a certificate is described in the plan's table.
GENERATIONS = {
    "old": "old CA",
    "new": "new CA",
    "new-cross": "new CA, cross-signed chain",
}


# ---------------------------------------------------------------- the PKIs
def cross_sign(issuing: CertificateAuthority, by: CertificateAuthority) -> x509.Certificate:
    """``issuing``'s CA certificate signed again by ``by``: same subject, same key, same extensions.

    Because subject and key are unchanged, every leaf ``issuing`` signs verifies
    against either version; which root a verifier reaches depends only on which
    version of the intermediate it was given.
    """
    src = issuing.cert
    builder = (
        x509.CertificateBuilder()
        .subject_name(src.subject)
        .issuer_name(by.cert.subject)
        .public_key(src.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(src.not_valid_before_utc)
        .not_valid_after(min(src.not_valid_after_utc, by.cert.not_valid_after_utc))
    )
    for ext in src.extensions:
        if isinstance(ext.value, x509.AuthorityKeyIdentifier):
            continue  # points at the old root now
        builder = builder.add_extension(ext.value, critical=ext.critical)
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(by.key.public_key()), critical=False
    )
    return builder.sign(by.key, hashes.SHA256())


@dataclass
class RolloverPKI:
    """The old CA, the new CA, and the new issuing CA cross-signed by the old root."""

    old_root: CertificateAuthority
    old_issuing: CertificateAuthority
    new_root: CertificateAuthority
    new_issuing: CertificateAuthority
    cross: x509.Certificate

    @classmethod
    def create(cls, *, key_type: str = "ec") -> "RolloverPKI":
        old_root = CertificateAuthority.create("mTLS Lab Root CA 2016", key_type=key_type)
        new_root = CertificateAuthority.create("mTLS Lab Root CA 2026", key_type=key_type)
        old_issuing = old_root.create_intermediate("mTLS Lab Issuing CA 2016", key_type=key_type)
        new_issuing = new_root.create_intermediate("mTLS Lab Issuing CA 2026", key_type=key_type)
        return cls(old_root, old_issuing, new_root, new_issuing, cross_sign(new_issuing, old_root))

    def roots(self, *generations: str) -> list[x509.Certificate]:
        """A trust bundle: the roots of the named generations ("old", "new")."""
        table = {"old": self.old_root.cert, "new": self.new_root.cert}
        return [table[g] for g in generations]

    def bundle_pem(self, *generations: str) -> bytes:
        """The same bundle as PEM, as a file on a server or client would hold it."""
        return b"".join(pem(c) for c in self.roots(*generations))

    def _leaf(self, generation: str, issue: Callable[[CertificateAuthority], IssuedCertificate]):
        if generation == "old":
            return issue(self.old_issuing)
        leaf = issue(self.new_issuing)
        if generation == "new-cross":
            return IssuedCertificate(leaf.cert, leaf.key, [self.cross])
        if generation == "new":
            return leaf
        raise ValueError(f"unknown generation {generation!r}; use one of {', '.join(GENERATIONS)}")

    def issue_server(self, generation: str) -> IssuedCertificate:
        """A server certificate for localhost from the old or new CA (``"new-cross"``: cross chain)."""
        return self._leaf(generation, lambda ca: ca.issue_server("localhost", "127.0.0.1"))

    def issue_client(self, name: str, generation: str) -> IssuedCertificate:
        return self._leaf(generation, lambda ca: ca.issue_client(name))


# ------------------------------------------------------------ the fleet
@dataclass
class Fleet:
    """What every party holds right now: which certificate, which roots in its bundle."""

    server_cert: str = "old"
    server_trust: set[str] = field(default_factory=lambda: {"old"})
    client_trust: set[str] = field(default_factory=lambda: {"old"})
    clients: dict[str, str] = field(default_factory=lambda: {name: "old" for name in CLIENTS})


def _trust_new_on_server(f: Fleet) -> None:
    f.server_trust.add("new")


def _trust_new_on_clients(f: Fleet) -> None:
    f.client_trust.add("new")


def _remove_old_root(f: Fleet) -> None:
    f.server_trust.discard("old")
    f.client_trust.discard("old")


def _set_server(generation: str):
    def step(f: Fleet) -> None:
        f.server_cert = generation

    return step


def _set_client(name: str, generation: str):
    def step(f: Fleet) -> None:
        f.clients[name] = generation

    return step


def _direct_chains(f: Fleet) -> None:
    """Everyone trusts the new root now: present the new CA's own chain instead of the cross one."""
    f.server_cert = "new" if f.server_cert == "new-cross" else f.server_cert
    for name, gen in f.clients.items():
        f.clients[name] = "new" if gen == "new-cross" else gen


#: Every step a rollover plan can use, by name.
STEPS: dict[str, Callable[[Fleet], None]] = {
    "server trusts new root": _trust_new_on_server,
    "clients trust new root": _trust_new_on_clients,
    "reissue server certificate": _set_server("new"),
    "reissue alice": _set_client("alice", "new"),
    "reissue bob": _set_client("bob", "new"),
    "remove old root": _remove_old_root,
    "reissue server certificate (cross-signed chain)": _set_server("new-cross"),
    "reissue alice (cross-signed chain)": _set_client("alice", "new-cross"),
    "switch to direct chains": _direct_chains,
}

#: The safe order: trust first, re-issue one party at a time, remove the old root last.
RIGHT_ORDER = [
    "server trusts new root",
    "clients trust new root",
    "reissue server certificate",
    "reissue alice",
    "reissue bob",
    "remove old root",
]

#: The steps a complete rollover must contain (the exercise checks for them).
REQUIRED = set(RIGHT_ORDER)


# ------------------------------------------------------------- playing it
@dataclass
class Probe:
    """One client calling the server in one fleet state."""

    client: str
    generation: str
    observation: Observation

    @property
    def ok(self) -> bool:
        return self.observation.ok

    def label(self) -> str:
        return f"{self.client} ({GENERATIONS[self.generation]})"


@dataclass
class StepResult:
    step: str
    fleet: Fleet
    probes: list[Probe]

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.probes)

    def line(self, width: int) -> str:
        cells = "   ".join(f"{p.client}: {'ok' if p.ok else 'FAILS':<5}" for p in self.probes)
        return f"{self.step:<{width}}  {cells}".rstrip()


@dataclass
class PlanResult:
    """The table of a rollover plan: one row per step, every client probed against the server."""

    steps: list[StepResult]

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)

    @property
    def first_failure(self) -> tuple[StepResult, Probe] | None:
        for s in self.steps:
            for p in s.probes:
                if not p.ok:
                    return s, p
        return None

    @property
    def complete(self) -> bool:
        """The fleet ended fully on the new CA, with the old root gone."""
        f = self.steps[-1].fleet
        return (
            f.server_cert == "new"
            and all(g == "new" for g in f.clients.values())
            and f.server_trust == {"new"}
            and f.client_trust == {"new"}
        )

    def __str__(self) -> str:
        width = max(len(s.step) for s in self.steps)
        lines = [s.line(width) for s in self.steps]
        broken = self.first_failure
        if broken:
            step, probe = broken
            f = step.fleet
            lines += [
                "",
                f"first break at '{step.step}': {probe.label()} calling the server "
                f"({GENERATIONS[f.server_cert]}; server trusts {_roots(f.server_trust)}, "
                f"clients trust {_roots(f.client_trust)})",
                *("  " + line for line in str(probe.observation).splitlines()),
            ]
        else:
            lines += ["", "every client reached the server at every step"]
        return "\n".join(lines)

    __repr__ = __str__


def _roots(generations: set[str]) -> str:
    return " + ".join(f"{g} root" for g in sorted(generations, reverse=True)) or "nothing"


def probe(
    pki: RolloverPKI, fleet: Fleet, identities: dict[tuple[str, str], IssuedCertificate]
) -> list[Probe]:
    """Start a server configured as ``fleet`` says, call it once from each client, close it."""
    server_id = identities[("server", fleet.server_cert)]
    out = []
    with MTLSServer(
        create_app(),
        certificate=server_id,
        trust=pki.roots(*sorted(fleet.server_trust)),
        raise_errors=False,
    ) as srv:
        for name, gen in fleet.clients.items():
            sess = _client.session(
                identities[(name, gen)], trust=pki.roots(*sorted(fleet.client_trust))
            )
            with sess:
                obs = observe(srv, lambda: sess.get(srv.url + "/api/secure", timeout=5))
            out.append(Probe(name, gen, obs))
    return out


def _identities(pki: RolloverPKI) -> dict[tuple[str, str], IssuedCertificate]:
    ids = {("server", g): pki.issue_server(g) for g in GENERATIONS}
    for name in CLIENTS:
        for g in GENERATIONS:
            ids[(name, g)] = pki.issue_client(name, g)
    return ids


def run_plan(order: Sequence[str], pki: RolloverPKI | None = None) -> PlanResult:
    """Play ``order`` (names from :data:`STEPS`) from the starting fleet, probing after every step."""
    unknown = [s for s in order if s not in STEPS]
    if unknown:
        raise ValueError(
            f"unknown step(s) {', '.join(map(repr, unknown))}; the steps are: " + "; ".join(STEPS)
        )
    pki = pki or RolloverPKI.create()
    ids = _identities(pki)
    fleet = Fleet()
    results = [StepResult("(before the rollover)", copy.deepcopy(fleet), probe(pki, fleet, ids))]
    for name in order:
        STEPS[name](fleet)
        results.append(StepResult(name, copy.deepcopy(fleet), probe(pki, fleet, ids)))
    return PlanResult(results)


def check_one(
    pki: RolloverPKI,
    *,
    server: str,
    server_trust: Iterable[str],
    client: str,
    client_trust: Iterable[str],
) -> Observation:
    """One call with an explicit configuration, e.g. a cross-signed server and an old-root-only client."""
    fleet = Fleet(
        server_cert=server,
        server_trust=set(server_trust),
        client_trust=set(client_trust),
        clients={"alice": client},
    )
    ids = {
        ("server", server): pki.issue_server(server),
        ("alice", client): pki.issue_client("alice", client),
    }
    return probe(pki, fleet, ids)[0].observation


__all__ = [
    "RolloverPKI",
    "cross_sign",
    "Fleet",
    "STEPS",
    "RIGHT_ORDER",
    "REQUIRED",
    "run_plan",
    "PlanResult",
    "check_one",
]
