"""Self-check for notebook 06's exercise: publish the CRL that revokes carol, as a CA would.

Why these checks: a CRL replaces the one before it, so the new file must still list
everyone revoked so far (bob), carry a higher CRL number (RFC 5280 §5.2.3), name the
reason truthfully, and be fresh; and only a real server that loads it can prove it works.
"""

from __future__ import annotations

from pathlib import Path

from lab.course.check import CheckResult, hint, passed, try_calls
from lab.course.demo import create_app
from lab.errors import LabError
from lab.revocation import Revocations
from lab.tls.server import MTLSServer


def _problem(crl_path, ca, carol, previous) -> str | None:
    """What is wrong with the CRL file itself, in one sentence, or None."""
    if crl_path is None or not Path(crl_path).exists():
        return "write the CRL to workdir / 'carol-crl.pem' and pass that path"
    try:
        record = Revocations.load(ca, crl_path)  # only CRLs, each signed by the course CA
    except LabError as exc:
        return f"sign the CRL with course.ca.key, and write only the CRL: {exc}"
    entry = record.status(carol.cert.serial_number)  # not there: the live check says so
    if entry is not None and entry.reason_name != "affiliationChanged":
        return (
            f"the reason on the CRL is {entry.reason_name}; someone who left the company is "
            f"'affiliationChanged' (her key was not stolen)"
        )
    last = Revocations.load(ca, previous).crl_number if previous is not None else -1
    if record.crl_number <= last:
        return f"the CRL number must be higher than the last one ({last})"
    return None  # a stale CRL: the live server refuses everybody, and its record says why


def exercise_revoke_carol(
    crl_path, ca, carol, still_good, still_revoked=(), previous=None
) -> CheckResult:
    """``crl_path`` revokes carol (affiliationChanged) and ``still_revoked``, numbered above
    ``previous``, fresh; a real server with it refuses carol and admits ``still_good``."""
    problem = _problem(crl_path, ca, carol, previous)
    if problem:
        return hint(problem)
    certificate = ca.issue_server("localhost", "127.0.0.1")
    server = MTLSServer(create_app("nb06-check"), certificate=certificate, trust=ca, crl=crl_path)
    carol_seen, good_seen, *others = try_calls(server, [carol, still_good, *still_revoked], ca)
    if "certificate revoked" not in carol_seen.server_saw:
        return hint(f"carol is not refused as revoked (server saw: {carol_seen.server_saw})")
    for who, seen in zip(still_revoked, others):
        if seen.ok:
            return hint(
                f"{who.common_name} is missing: a new CRL replaces the old one, so leaving "
                f"an entry out un-revokes that certificate"
            )
    if not good_seen.ok:
        return hint(
            f"the CRL also shuts out {still_good.common_name} ({good_seen.server_saw}); "
            f"revoke only who must go"
        )
    return passed(
        "carol is on the CRL (affiliationChanged) beside every earlier entry, under a higher "
        f"number; a real server refuses her at the handshake and lets {still_good.common_name} in"
    )
