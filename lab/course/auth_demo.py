"""Stable one-line printouts of authentication and authorization outcomes, for notebook 04.

Why: the authorization notebook shows every option with an accepted and a
refused call. Each call can end three ways: an answer (200), a refusal by the
app (403 problem+json, whose ``detail`` is the lesson), or a refusal by the TLS
layer before the app runs (the server's record says why). :func:`call_as`
prints all three the same way, one line per caller, with nothing volatile in
it, so the notebook stays about the ~10 lines that matter.
"""

from __future__ import annotations

import json

from lab.course.observe import observe
from lab.course.text import wrap
from lab.tls import client
from lab.tls.identity import ClientIdentity

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


def problem_json(response) -> str:
    """The problem+json body, pretty-printed."""
    return json.dumps(response.json(), indent=2)


def show_identity(identity: ClientIdentity) -> None:
    """The claims a view can use, one per line."""
    rows = [
        ("subject", identity.subject),
        ("common_name", identity.common_name),
        ("issuer", identity.issuer),
        ("serial", identity.serial),
        ("thumbprint", identity.thumbprint),
        ("spki_pin", identity.spki_pin),
        ("not_before", f"{identity.not_before:%Y-%m-%d %H:%M:%S} UTC"),
        ("not_after", f"{identity.not_after:%Y-%m-%d %H:%M:%S} UTC"),
        ("dns", ", ".join(identity.dns) or "-"),
        ("emails", ", ".join(identity.emails) or "-"),
        ("uris", ", ".join(identity.uris) or "-"),
        ("spiffe_id", identity.spiffe_id or "-"),
        ("claims", json.dumps(identity.claims) if identity.claims else "{}"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
