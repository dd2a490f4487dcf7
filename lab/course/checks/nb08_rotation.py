"""Self-check for notebook 08's exercise: a CA rollover runbook that never breaks a client.

The check does not compare the plan with an answer key: it *plays* it, change by change,
against a real server and real clients (a fresh pair of CAs, one server per step, as the
notebook's ``play`` does), so any order that genuinely works passes, and the hint names the
first change that broke whom.
"""

from __future__ import annotations

import requests

from lab.course.check import hint, passed
from lab.course.demo import create_app
from lab.pki import CertificateAuthority
from lab.tls import client
from lab.tls.server import MTLSServer

PARTIES = ("server", "alice", "bob")
BUNDLES = ("server trusts", "clients trust")
START = dict.fromkeys(PARTIES, "old") | dict.fromkeys(BUNDLES, ["old"])
END = dict.fromkeys(PARTIES, "new") | dict.fromkeys(BUNDLES, ["new"])


def _malformed(plan) -> str:
    """One line on the first change that is not well-formed; "" when the plan is."""
    if not isinstance(plan, (list, tuple)) or not plan:
        return 'write the plan as a list of changes, e.g. my_plan = [{"server trusts": ["old", "new"]}, ...]'
    for number, change in enumerate(plan, 1):
        if not isinstance(change, dict) or not change:
            return f"change {number} is not a dict such as {{'server': 'new'}}"
        for key, value in change.items():
            if key in PARTIES and value not in ("old", "new"):
                return f"change {number}: {key!r} takes 'old' or 'new' (this rollover has no cross certificate)"
            if key in BUNDLES and (
                not isinstance(value, (list, tuple))
                or not value
                or any(r not in ("old", "new") for r in value)
            ):
                return f"change {number}: {key!r} takes a list of roots, such as ['old', 'new']"
            if key not in PARTIES + BUNDLES:
                return f"change {number}: {key!r} is neither a party nor a bundle; use one of {', '.join(PARTIES + BUNDLES)}"
    return ""


def _play(plan):
    """(number, change, who, reason) of the first failure, or None and the final state."""
    roots = {g: CertificateAuthority.create(f"Exercise Root CA ({g})") for g in ("old", "new")}
    certificates = {g: ca.issue_server("localhost") for g, ca in roots.items()}
    certificates |= {
        (name, g): ca.issue_client(name) for g, ca in roots.items() for name in ("alice", "bob")
    }
    state = dict(START)
    for number, change in enumerate([{}, *plan]):
        state |= change
        trust = [roots[g].cert for g in state["server trusts"]]
        with MTLSServer(
            create_app(), certificate=certificates[state["server"]], trust=trust
        ) as srv:
            for name in ("alice", "bob"):
                before = len(srv.handshake_failures)
                bundle = [roots[g].cert for g in state["clients trust"]]
                try:
                    with client.session(certificates[name, state[name]], trust=bundle) as s:
                        s.get(srv.url + "/api/secure", timeout=5).raise_for_status()
                except requests.RequestException:
                    failure = srv.wait_for_handshake_failure(after=before)
                    return (
                        number,
                        change,
                        name,
                        failure.reason if failure else "no handshake failure",
                    ), state
    return None, state


def exercise_rollover_order(plan):
    """``plan``: changes (dicts) that take the server, alice and bob to the new CA, no client ever failing."""
    problem = _malformed(plan)
    if problem:
        return hint(problem)
    broken, state = _play(plan)
    if broken:
        number, change, name, reason = broken
        return hint(
            f"after change {number} ({change}), {name} can no longer reach the server (server saw: "
            f"{reason}); which party had to trust the new root, or still needed the old one, then?"
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
