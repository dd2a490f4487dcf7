"""Self-check for notebook 02's exercise: a server in optional mode."""

from __future__ import annotations

from lab.course.check import report


def exercise_optional_server(srv, course) -> bool:
    """Real calls: anonymous /api/public 200 and /api/secure 403; with the course client 200."""
    from lab.tls.client import session

    if srv is None or not getattr(srv, "running", False):
        return report(
            False,
            "",
            "start an MTLSServer (server.MTLSServer(...).start() or a with block) and pass it in",
        )
    if srv.mode != "optional":
        return report(
            False,
            "",
            f"the server's mode is {srv.mode!r}; which mode asks for a certificate without requiring one?",
        )
    anonymous = session(None, trust=course.ca)
    try:
        public = anonymous.get(srv.url + "/api/public").status_code
        secure = anonymous.get(srv.url + "/api/secure").status_code
        with_cert = session(course.client, trust=course.ca).get(srv.url + "/api/secure").status_code
    except Exception as exc:  # noqa: BLE001
        return report(
            False,
            "",
            f"a call to your server failed ({type(exc).__name__}); is it serving demo.create_app() with course.server?",
        )
    if (public, secure, with_cert) != (200, 403, 200):
        return report(
            False,
            "",
            f"got /api/public {public}, anonymous /api/secure {secure}, with certificate {with_cert}; expected 200, 403, 200",
        )
    return report(
        True, "anonymous callers reach /api/public only; /api/secure needs a certificate", ""
    )
