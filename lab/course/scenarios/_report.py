"""Print scenario results: the four views of one failure, and the summary table.

Kept apart from the registry so that the notebook, the CLI and the tests all
show a result the same way, and so the words are stable (no ports, no timings).
"""

from __future__ import annotations

import textwrap

from lab.course.scenarios import GROUPS, ScenarioResult, all_scenarios

WIDTH = 110
LABEL = 12


def in_order():
    """Every scenario, grouped in :data:`GROUPS` order (registration order within a group)."""
    return sorted(all_scenarios(), key=lambda sc: GROUPS.index(sc.group))


def _field(label: str, text: str) -> str:
    return textwrap.fill(
        str(text),
        WIDTH,
        initial_indent=f"  {label:<{LABEL}}",
        subsequent_indent=" " * (LABEL + 2),
        break_on_hyphens=False,
    )


def four_views(result: ScenarioResult, description: str = "") -> str:
    """The client's view, the server's record, the cause and the fix, aligned one above the other."""
    status = "-" if result.status is None else result.status
    mark = "as expected" if result.behaved else "UNEXPECTED"
    head = f"▶ {result.name}" + (f": {description}" if description else "") + f"  [{mark}]"
    lines = [
        head,
        _field("client saw", result.client_saw),
        _field("server saw", result.server_saw),
        _field("HTTP status", status),
        _field("cause", f"[{result.category}] {result.cause}"),
        _field("fix", result.fix),
    ]
    lines += [_field("note", n) for n in result.notes]
    return "\n".join(lines)


def run_group(group: str) -> list[ScenarioResult]:
    """Run every scenario of ``group``, print its four views, return the results."""
    if group not in GROUPS:
        raise ValueError(f"group must be one of {', '.join(GROUPS)}")
    results = []
    for sc in in_order():
        if sc.group != group:
            continue
        result = sc.run()
        results.append(result)
        print(four_views(result, sc.description) + "\n")
    return results


def _cut(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def summary_table(results, widths=(34, 44, 48, 56)) -> str:
    """scenario | client saw | server saw | fix, one row per result, cut to fixed widths."""
    heads = ("scenario", "client saw", "server saw", "fix")
    rows = [heads, tuple("-" * w for w in widths)]
    rows += [(r.name, r.client_saw, r.server_saw, r.fix) for r in results]
    return "\n".join(
        " | ".join(f"{_cut(c, w):<{w}}" for c, w in zip(row, widths)).rstrip() for row in rows
    )
