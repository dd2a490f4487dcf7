"""Self-check for notebook 03's exercise: a session from the .pfx that trusts only the course CA."""

from __future__ import annotations

from lab.course.check import report


def exercise_pfx_session(sess, course) -> bool:
    """Real calls: the course server must answer 200; an impostor with another CA must be refused."""
    from lab.course.demo import create_app
    from lab.pki import CertificateAuthority
    from lab.tls.client import MTLSSession
    from lab.tls.server import MTLSServer

    if sess is None:
        return report(
            False, "", "build the session with client.session(path_to_pfx, trust=..., password=...)"
        )
    if not isinstance(sess, MTLSSession):
        return report(
            False, "", "use lab.client.session(...): a plain requests.Session cannot open a .pfx"
        )
    with MTLSServer(create_app(), certificate=course.server, trust=course.ca) as real:
        try:
            status = sess.get(real.url + "/api/secure").status_code
        except Exception as exc:  # noqa: BLE001
            return report(
                False,
                "",
                f"the call to the course server failed ({type(exc).__name__}); check the password and the trust argument",
            )
    if status != 200:
        return report(
            False, "", f"the course server answered {status}; is the .pfx certs/client.pfx?"
        )
    evil = CertificateAuthority.create("Exercise Impostor CA")
    with MTLSServer(
        create_app(), certificate=evil.issue_server("localhost", "127.0.0.1"), mode="none"
    ) as fake:
        try:
            sess.get(fake.url + "/api/public")
        except Exception:  # noqa: BLE001 - refusing the impostor is the goal
            return report(
                True, "your session presents the .pfx and refuses a server from another CA", ""
            )
    return report(
        False,
        "",
        "your session accepted an impostor's certificate: trust only the course CA (trust=course.ca_file)",
    )
