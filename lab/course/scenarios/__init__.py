"""The failure catalogue behind ``python -m lab break``: every way mTLS breaks, run live.

Each scenario builds its fault, calls a real server on loopback with a real client,
and returns a :class:`ScenarioResult`: what the client's own code raised (the
exception's type and text, ports and C line numbers scrubbed), what the server
recorded, the HTTP status, a category, the cause and the fix.

Why the server's record decides whether a scenario ``behaved``: under TLS 1.3 the
client finishes its handshake before the server has read the client's certificate.
A refusal then reaches the client as the server's alert or, when the client was
already writing its request, as a bare EOF, whichever wins the race. The client's
text is shown as raised; the judgement uses the server's record, which never varies.

The scenarios themselves are in :mod:`lab.course.scenarios.catalogue`.
"""

from __future__ import annotations

from lab.course.scenarios.catalogue import SCENARIOS
from lab.course.scenarios.kit import Scenario, ScenarioResult
from lab.errors import LabError


def in_order() -> list[Scenario]:
    """Every scenario, in catalogue order (grouped: trust, identity, time, usage, transport,
    application)."""
    return list(SCENARIOS)


def get(name: str) -> Scenario:
    """The scenario named ``name``; a LabError (one line on the command line) if none is."""
    for sc in in_order():
        if sc.name == name:
            return sc
    raise LabError(f"no scenario named {name!r}; `python -m lab break --list` shows them")


__all__ = ["Scenario", "ScenarioResult", "get", "in_order"]
