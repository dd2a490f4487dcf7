"""Self-check for notebook 09's exercise: twenty requests, one handshake."""

from __future__ import annotations

from lab.course.check import hint, passed


def exercise_one_handshake(srv, responses) -> bool:
    """The server's own count decides: 20 answered requests must have cost exactly one handshake."""
    if srv is None or not getattr(srv, "running", False):
        return hint("call the check inside the `with MTLSServer(...) as s:` block and pass `s`")
    codes = [getattr(r, "status_code", None) for r in responses or []]
    if codes != [200] * 20:
        return hint(
            f"{len(codes)} responses collected, status codes {sorted(set(codes), key=str)}; make "
            "20 calls to /healthz with the course client and append each response"
        )
    if srv.handshakes != 1:
        return hint(
            f"the server performed {srv.handshakes} handshakes for 20 requests; "
            "create the session once, before the loop, and reuse it"
        )
    return passed("20 requests, 1 handshake: the session kept its connection alive")
