"""Self-check for notebook 06's exercise: carol left the company; revoke her and prove it at the handshake."""

from __future__ import annotations

from pathlib import Path

from lab.course.check import report


def exercise_revoke_carol(crl_path, ca, carol, still_good):
    """``crl_path`` lists carol (affiliationChanged), is fresh, and a real server refuses her but not ``still_good``."""
    import datetime as dt

    from cryptography import x509

    from lab.course import observe
    from lab.course.demo import create_app
    from lab.errors import LabError
    from lab.revocation import load_crl, reason_name
    from lab.tls.client import session
    from lab.tls.server import MTLSServer

    if crl_path is None or not Path(crl_path).exists():
        return report(
            False,
            "",
            "write the CRL with record.write_crl(workdir / 'carol-crl.pem') and pass that path",
        )
    try:
        crl = load_crl(crl_path)
    except LabError as exc:
        return report(False, "", f"the file is not a CRL ({exc})")
    if crl.issuer != ca.cert.subject or not crl.is_signature_valid(ca.key.public_key()):
        return report(
            False,
            "",
            "the CRL must be signed by the course CA: build the record with Revocations(course.ca)",
        )
    entry = crl.get_revoked_certificate_by_serial_number(carol.cert.serial_number)
    if entry is None:
        return report(
            False,
            "",
            "carol's serial is not on the CRL: record.revoke(carol, ...) before write_crl",
        )
    try:
        reason = reason_name(entry.extensions.get_extension_for_class(x509.CRLReason).value.reason)
    except x509.ExtensionNotFound:
        reason = "unspecified"
    if reason != "affiliationChanged":
        return report(
            False,
            "",
            f"the reason on the CRL is {reason}; someone who left the company is "
            f"'affiliationChanged' (her key was not stolen)",
        )
    if crl.next_update_utc is None or crl.next_update_utc <= dt.datetime.now(dt.timezone.utc):
        return report(
            False, "", "the CRL is stale (nextUpdate has passed): a stale CRL refuses everybody"
        )
    server_cert = ca.issue_server("localhost", "127.0.0.1")
    with MTLSServer(create_app("nb06-check"), certificate=server_cert, trust=ca, crl=crl_path) as s:

        def call(who):
            return observe.observe(
                s, lambda: session(who, trust=ca).get(s.url + "/api/secure", timeout=10)
            )

        carol_seen, good_seen = call(carol), call(still_good)
    if "certificate revoked" not in carol_seen.server_saw:
        return report(
            False,
            "",
            f"a server with this CRL did not refuse carol (server saw: {carol_seen.server_saw})",
        )
    if good_seen.status != 200:
        return report(
            False,
            "",
            f"the CRL also shuts out {still_good.common_name} "
            f"(server saw: {good_seen.server_saw}); revoke only carol",
        )
    return report(
        True,
        "carol is on the CRL (affiliationChanged); a real server refuses her at the "
        f"handshake and lets {still_good.common_name} in",
        "",
    )
