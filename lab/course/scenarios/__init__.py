"""The failure catalogue: every way mTLS breaks, reproduced live, seen from both ends.

Each scenario builds its fault, runs a real client against a real server on
loopback, and returns a :class:`ScenarioResult` with five parts: what the client
saw, what the server recorded, the HTTP status (if any), the diagnosis (category
and plain-language cause) and the fix. The server's record is the authority, so
the one-line outcome is the same on every run.

Scenarios live in the modules of this package, grouped by theme; each module
lists its own in ``SCENARIOS``, and :data:`MODULES` below lists the modules. A new
scenario: write it with ``@scenario(...)``, add it to its module's ``SCENARIOS``.
"""

from __future__ import annotations

from lab.course.scenarios import (
    application,
    headers,
    identity,
    kestrel,
    revocation,
    transport,
    trust,
    usage,
    validity,
)
from lab.course.scenarios._model import GROUPS, Scenario, ScenarioResult, scenario

__all__ = ["GROUPS", "REGISTRY", "Scenario", "ScenarioResult", "scenario"]

#: Every module of scenarios.
MODULES = (
    application,
    headers,
    identity,
    kestrel,
    revocation,
    transport,
    trust,
    usage,
    validity,
)

#: Every scenario by name.
REGISTRY: dict[str, Scenario] = {sc.name: sc for module in MODULES for sc in module.SCENARIOS}


def all_scenarios() -> list[Scenario]:
    return list(REGISTRY.values())


def get(name: str) -> Scenario:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(
            f"no scenario named {name!r}; `python -m lab break --list` shows them"
        ) from None


def run(name: str) -> ScenarioResult:
    return get(name).run()


def in_order() -> list[Scenario]:
    """Every scenario, grouped in :data:`GROUPS` order."""
    from lab.course.scenarios._report import in_order as _in_order

    return _in_order()


def run_group(group: str) -> list[ScenarioResult]:
    """Run a group's scenarios and print each one's four views (the notebook's cells)."""
    from lab.course.scenarios._report import run_group as _run_group

    return _run_group(group)


def summary_table(results) -> str:
    """The closing table: scenario | client saw | server saw | fix."""
    from lab.course.scenarios._report import summary_table as _summary_table

    return _summary_table(results)


def four_views(result: ScenarioResult) -> str:
    """One result as four aligned views: client saw, server saw, cause, fix."""
    from lab.course.scenarios._report import four_views as _four_views

    sc = REGISTRY.get(result.name)
    return _four_views(result, sc.description if sc else "")
