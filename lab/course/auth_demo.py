"""One line per caller for an authorization demonstration: what notebook 10's payments API uses.

Each call can end three ways: an answer (200), a refusal by the app (403
problem+json, whose ``detail`` is the lesson), or a refusal by the TLS layer
before the app runs (the server's record says why). :func:`call_as` prints all
three the same way, one line per caller. Notebook 04 writes its own, shorter
version in front of the learner; this one stays while notebook 10 calls it.
"""

from __future__ import annotations

from lab.course.observe import observe
from lab.course.text import wrap
from lab.tls import client

#: Wrap each printed line at this many columns (None: the page width, lab.course.text.WIDTH).
WRAP_AT: int | None = None


def wrapped(line: str, indent: int = 4) -> str:
    """``line`` wrapped at :data:`WRAP_AT` (at spaces only), continuation lines indented."""
    return wrap(line, WRAP_AT, indent)


def verdict(response) -> str:
    """``200 Hello ...`` or ``403 <title>: <detail>`` for a problem+json refusal."""
    if response.headers.get("Content-Type", "").startswith("application/problem+json"):
        body = response.json()
        return f"{response.status_code} {body.get('title')}: {body.get('detail')}"
    return f"{response.status_code} {response.text.strip()}"


def call_as(server, callers: dict, trust, path: str = "/api/secure") -> dict:
    """Call ``path`` once per ``{label: identity or None}`` and print one line each.

    Returns ``{label: status or None}`` (None when the TLS layer refused the handshake).
    Each caller gets its own session, so each call is its own handshake.
    """
    width = max(len(label) for label in callers)
    statuses = {}
    for label, identity in callers.items():
        got = {}

        def call():
            got["response"] = session.get(server.url + path)
            return got["response"]

        with client.session(identity, trust=trust) as session:
            seen = observe(server, call)
        if "response" in got:
            line = verdict(got["response"])
            statuses[label] = got["response"].status_code
        else:
            line = f"TLS refused at the handshake ({seen.server_saw.removeprefix('handshake refused: ')})"
            statuses[label] = None
        print(wrapped(f"{label:<{width}} -> {line}", indent=width + 4))
    return statuses
