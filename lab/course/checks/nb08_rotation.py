"""Self-check for notebook 08's exercise: a CA rollover runbook that never breaks a client.

The check does not compare the plan with an answer key: it *plays* it, change by change,
against a real server and real clients (a fresh pair of CAs, one server per step, as the
notebook's ``play`` does), so any order that genuinely works passes, and the hint names the
first change that broke whom.
"""

from __future__ import annotations

from lab.course.check import CheckResult, hint, passed, try_calls
from lab.course.demo import create_app
from lab.pki import CertificateAuthority
from lab.tls.server import MTLSServer

ROOTS, CLIENTS = ("old", "new"), ("alice", "bob")
PARTIES, BUNDLES = ("server", *CLIENTS), ("server trusts", "clients trust")
START = dict.fromkeys(PARTIES, "old") | dict.fromkeys(BUNDLES, ["old"])
END = dict.fromkeys(PARTIES, "new") | dict.fromkeys(BUNDLES, ["new"])


def _well_formed(change) -> bool:
    """A dict of parties ('old' or 'new') and bundles (a list of roots), not empty."""

    def fits(key, value) -> bool:
        if key in PARTIES:
            return value in ROOTS
        listed = key in BUNDLES and isinstance(value, (list, tuple)) and bool(value)
        return listed and all(root in ROOTS for root in value)

    return isinstance(change, dict) and bool(change) and all(fits(*item) for item in change.items())


def _play(plan) -> tuple[str, dict]:
    """The first failure (which change broke whom, and why), or "", and the final state."""
    roots = {g: CertificateAuthority.create(f"Exercise Root CA ({g})") for g in ROOTS}
    certificates = {g: ca.issue_server("localhost") for g, ca in roots.items()}
    certificates |= {
        (name, g): ca.issue_client(name) for g, ca in roots.items() for name in CLIENTS
    }
    state = dict(START)
    for number, change in enumerate([{}, *plan]):
        state |= change
        trust = [roots[g].cert for g in state["server trusts"]]
        server = MTLSServer(create_app(), certificate=certificates[state["server"]], trust=trust)
        clients = [certificates[name, state[name]] for name in CLIENTS]
        bundle = [roots[g].cert for g in state["clients trust"]]
        for name, seen in zip(CLIENTS, try_calls(server, clients, bundle)):
            if not seen.ok:
                why = f"{name} can no longer reach the server (server saw: {seen.server_saw})"
                return f"after change {number} ({change}), {why}", state
    return "", state


def exercise_rollover_order(plan) -> CheckResult:
    """``plan``: changes (dicts) that take the server, alice and bob to the new CA, no client ever failing."""
    if not isinstance(plan, (list, tuple)) or not plan:
        return hint(
            'write the plan as a list of changes, e.g. my_plan = [{"server trusts": ["old", "new"]}, ...]'
        )
    for number, change in enumerate(plan, 1):
        if not _well_formed(change):
            return hint(
                f"change {number} is not a change like play's: server, alice and bob take 'old' or "
                "'new'; 'server trusts' and 'clients trust' take a list of roots"
            )
    broken, state = _play(plan)
    if broken:
        return hint(
            f"{broken}; which party had to trust the new root, or still needed the old one, then?"
        )
    unfinished = [key for key in END if sorted(state[key]) != sorted(END[key])]
    if unfinished:
        return hint(
            f"nothing broke, but the plan ends with {', '.join(f'{k}: {state[k]}' for k in unfinished)}; "
            f"a rollover ends with every certificate from the new CA and only the new root trusted"
        )
    return passed(
        f"all {len(plan)} changes played live: alice and bob reached the server after every one, "
        f"and the fleet ended on the new CA"
    )
