"""Notebook 05's views of a failure: both sides of one call, and the catalogue as HTML.

Why a module of its own: notebook 05 lets the learner break things by hand first
(``requests``/``ssl`` calls written out in the cell) and needs only one small
helper to print what each side saw; then it runs the whole scenario catalogue,
which reads best as one HTML table (scenario, who refused, the reason in full,
the fix) with each scenario's long four-part account folded away in a
``<details>`` block. The text views of :mod:`lab.course.scenarios` stay what the
command line prints; this module only adds the notebook's HTML.

Every view is stable from run to run: the client's words come from
:func:`lab.course.observe.observe` (normalised), the server's from its own record.
"""

from __future__ import annotations

import html
import textwrap
from typing import Callable

from lab.course import observe as _observe
from lab.course import scenarios

WIDTH = 110
LABEL = 12

#: Cells wrap at spaces; only a token longer than its column (a path) may break inside.
_STYLE = (
    "table-layout:fixed;width:100%;border-collapse:collapse;"
    "word-break:normal;overflow-wrap:break-word"
)
_CELL = "text-align:left;vertical-align:top;white-space:normal;padding:4px 6px"
_COLUMNS = (("scenario", 19), ("who refused", 15), ("the reason", 36), ("the fix", 30))


def _line(label: str, text: str) -> str:
    return textwrap.fill(
        " ".join(str(text).split()),
        WIDTH,
        initial_indent=f"{label:<{LABEL}}",
        subsequent_indent=" " * LABEL,
        break_on_hyphens=False,
        break_long_words=False,
    )


def both_sides(server, call: Callable[[], object], title: str = "") -> _observe.Observation:
    """Make one call to ``server`` and print what the client saw and what the server recorded.

    The client's line is normalised (under TLS 1.3 a refusal reaches it as an alert or
    an EOF, whichever wins a race); the server's line is its own record, and for an
    answered request it says which status the app gave. ``title`` is printed first.
    """
    obs = _observe.observe(server, call)
    server_saw = obs.server_saw
    if server_saw == "handshake ok" and obs.status is not None:
        server_saw = f"handshake ok, then the app answered HTTP {obs.status}"
    if title:
        print(title)
    print(_line("client saw", obs.client_saw))
    print(_line("server saw", server_saw))
    return obs


# ------------------------------------------------------------------ who refused
def who_refused(result: scenarios.ScenarioResult) -> str:
    """Which side said no, and where: the client, the server's TLS layer, or the app."""
    server, client, status = result.server_saw, result.client_saw, result.status
    if status is not None and status < 400:
        return f"nobody: HTTP {status}, the fault went through"
    if status == 403:
        return "the server's app (HTTP 403)"
    if status == 400 or "plain HTTP" in server:
        return "the server's TLS layer (then a plain-text 400)"
    if server.startswith(("nothing:", "no TLS handshake")):
        return "the client, before the handshake"
    if "alert" in server or "wrong version number" in client:
        return "the client, in the handshake"
    if "handshake refused" in server:
        return "the server, in the handshake"
    return "-"


def _esc(text) -> str:
    return html.escape(" ".join(str(text).split()))


def _row(result: scenarios.ScenarioResult, description: str) -> str:
    mark = "" if result.behaved else " <b>(UNEXPECTED)</b>"
    sides = (
        f"<details><summary>both sides</summary>client saw: {_esc(result.client_saw)}<br>"
        f"server saw: {_esc(result.server_saw)}"
        + "".join(f"<br>note: {_esc(n)}" for n in result.notes)
        + "</details>"
    )
    cells = (
        f"<code>{_esc(result.name)}</code>{mark}<br><small>{_esc(description)}</small>",
        _esc(who_refused(result)),
        f"<b>[{_esc(result.category)}]</b> {_esc(result.cause)}{sides}",
        _esc(result.fix),
    )
    return "<tr>" + "".join(f'<td style="{_CELL}">{c}</td>' for c in cells) + "</tr>"


class Catalogue:
    """Scenario results shown as ONE HTML table (text: a one-line count, for logs and nbval)."""

    def __init__(self, results: list[scenarios.ScenarioResult]):
        self.results = list(results)

    def _repr_html_(self) -> str:
        descriptions = {sc.name: sc.description for sc in scenarios.in_order()}
        cols = "".join(f'<col style="width:{w}%">' for _, w in _COLUMNS)
        head = "".join(f'<th style="{_CELL}">{name}</th>' for name, _ in _COLUMNS)
        rows = []
        group = None
        for r in self.results:
            sc_group = _group_of(r.name)
            if sc_group != group:
                group = sc_group
                rows.append(f'<tr><th colspan="4" style="{_CELL}">{_esc(group)}</th></tr>')
            rows.append(_row(r, descriptions.get(r.name, "")))
        return (
            f'<table style="{_STYLE}"><colgroup>{cols}</colgroup>'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )

    def __repr__(self) -> str:
        behaved = sum(r.behaved for r in self.results)
        return f"{len(self.results)} scenarios, {behaved} of them showed their fault as expected"


def _group_of(name: str) -> str:
    try:
        return scenarios.get(name).group
    except KeyError:
        return "other"


def run(group: str | None = None) -> Catalogue:
    """Run one group's scenarios (or, with None, the whole catalogue) and return the table."""
    if group is not None and group not in scenarios.GROUPS:
        raise ValueError(f"group must be one of {', '.join(scenarios.GROUPS)}")
    chosen = [
        sc for sc in scenarios.in_order() if not sc.pending and (group is None or sc.group == group)
    ]
    return Catalogue([sc.run() for sc in chosen])


__all__ = ["Catalogue", "both_sides", "run", "who_refused"]
