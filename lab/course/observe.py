"""See both sides of one call: what the client saw and what the server recorded.

Why: under TLS 1.3 the client sends its certificate *after* it considers the
handshake done, so when the server refuses it the client sees either the
server's alert or a bare EOF/reset, whichever wins the race. Where a notebook
shows what the learner's own code prints, it prints the exception's type and
quotes one run's text; ``observe`` is for the cells where the point is elsewhere:
the client's view becomes one stable sentence (the raw exception is kept in
``client_error``), and the server's own record, which is deterministic, says *why*.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import requests

from lab.course.text import wrap
from lab.paths import ROOT
from lab.tls.failures import client_view, scrub

# client_view, the one-line account of a client failure, lives in the mTLS core
# (lab.tls.failures); notebooks find it here, beside observe.
__all__ = ["Observation", "attempt", "client_view", "observe"]


@dataclass
class Observation:
    """One call, seen from both ends."""

    status: int | None
    body: str
    client_saw: str
    server_saw: str
    client_error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.client_error is None and self.status is not None and self.status < 400

    def __str__(self) -> str:
        return "\n".join(
            wrap(line, indent=12)
            for line in (f"client saw: {self.client_saw}", f"server saw: {self.server_saw}")
        )

    __repr__ = __str__


def observe(server, call: Callable[[], requests.Response]) -> Observation:
    """Run ``call`` (a request to ``server``) and pair its outcome with the server's record.

    ``server`` may be None when the other end is not a lab server (then only the
    client's side is known).
    """
    before = len(server.handshake_failures) if server is not None else 0
    error = None
    try:
        response = call()
    except Exception as exc:  # a failure is what we came to see
        error = exc
    server_saw = "(not a lab server)"
    if server is not None:  # after a client error, give the server's thread time to record why
        failure = server.wait_for_handshake_failure(after=before, timeout=3.0 if error else 0)
        server_saw = f"handshake refused: {failure.reason}" if failure else "handshake ok"
        if error and not failure:
            server_saw = "nothing: no failed handshake recorded"
    if error is not None:
        return Observation(None, "", client_view(error), server_saw, error)
    body = response.text.strip()
    return Observation(
        response.status_code, body, f"HTTP {response.status_code}: {_summary(response)}", server_saw
    )


def _summary(response) -> str:
    """The body in one line; for RFC 9457 problem details, its title and detail."""
    if response.headers.get("Content-Type", "").startswith("application/problem+json"):
        try:
            problem = response.json()
            return f"{problem.get('title', '')}: {problem.get('detail', '')}"
        except ValueError:
            pass
    text = " ".join(response.text.split())
    return text if len(text) <= 160 else text[:157] + "..."


def attempt(fn: Callable, *args, **kwargs):
    """Call ``fn`` and print a stable one-line outcome: its result, or the error and its message.

    For the cells that show an expected failure (a wrong password, a corrupt
    file): the learner sees exactly what the lab raised, and nbval sees the same
    line on every run.
    """
    try:
        result = fn(*args, **kwargs)
    except Exception as exc:  # showing the failure is the point
        short = str(exc).replace(str(ROOT) + "/", "")  # paths relative to the checkout
        print(wrap(f"refused: {type(exc).__name__}: {scrub(short)}"))
        return None
    print(f"ok: {result!r}" if result is not None else "ok")
    return result
