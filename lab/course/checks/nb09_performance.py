"""Self-check for notebook 09's exercise: twenty requests, one handshake."""

from __future__ import annotations

from lab.course.check import hint, passed


def exercise_one_handshake(srv, responses) -> bool:
    """The server's own count decides: 20 answered requests must have cost exactly one handshake."""
    if srv is None or not getattr(srv, "running", False):
        return hint("call the check inside the `with MTLSServer(...) as s:` block and pass `s`")
    responses = list(responses or [])
    if len(responses) != 20:
        return hint(f"{len(responses)} responses collected; make 20 calls and append each response")
    codes = sorted({getattr(r, "status_code", None) for r in responses}, key=str)
    if codes != [200]:
        return hint(
            f"status codes {codes}; every call to /healthz with the course client should get 200"
        )
    if srv.handshakes != 1:
        return hint(
            f"the server performed {srv.handshakes} handshakes for 20 requests; "
            "create the session once, before the loop, and reuse it"
        )
    return passed("20 requests, 1 handshake: the session kept its connection alive")
