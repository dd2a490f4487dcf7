"""The failure catalogue: every way mTLS breaks, reproduced live, seen from both ends.

Each scenario builds its fault, runs a real client against a real server on
loopback, and returns a :class:`ScenarioResult` with five parts: what the client
saw, what the server recorded, the HTTP status (if any), the diagnosis (category
and plain-language cause) and the fix. The server's record is the authority, so
the one-line outcome is the same on every run.

Scenarios live in the modules of this package, grouped by theme, and register
themselves with the :func:`scenario` decorator; a module added here is picked up
without touching any other file.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Callable

GROUPS = ("trust", "identity", "time", "usage", "transport", "application")


@dataclass
class ScenarioResult:
    """What happened, from both sides, and what it means."""

    name: str
    client_saw: str
    server_saw: str
    status: int | None
    category: str
    cause: str
    fix: str
    behaved: bool = True  # did the scenario produce the outcome it demonstrates?
    notes: list[str] = field(default_factory=list)
    #: the client's exception as raised (type: message, ports scrubbed). Under TLS 1.3
    #: its wording can differ between runs (alert or EOF); ``client_saw`` is the stable view.
    client_error: str = ""

    def one_line(self) -> str:
        mark = "as expected" if self.behaved else "UNEXPECTED"
        return f"{self.name}: {self.category}: {self.cause} [{mark}]"

    def __str__(self) -> str:
        status = self.status if self.status is not None else "-"
        return (
            f"scenario:    {self.name}\n"
            f"client saw:  {self.client_saw}\n"
            f"server saw:  {self.server_saw}\n"
            f"HTTP status: {status}\n"
            f"diagnosis:   [{self.category}] {self.cause}\n"
            f"fix:         {self.fix}"
        )

    __repr__ = __str__


@dataclass
class Scenario:
    name: str
    group: str
    description: str
    run: Callable[[], ScenarioResult]
    pending: str | None = None  # reason, when the scenario cannot run yet


REGISTRY: dict[str, Scenario] = {}


def scenario(name: str, group: str, description: str, *, pending: str | None = None):
    """Register a scenario function (no arguments, returns a ScenarioResult)."""
    if group not in GROUPS:
        raise ValueError(f"group must be one of {GROUPS}")

    def decorate(fn: Callable[[], ScenarioResult]):
        existing = REGISTRY.get(name)
        # A pending placeholder never replaces a real scenario of the same name, and a
        # real one always replaces a placeholder, whatever order the modules load in.
        if existing is None or existing.pending or not pending:
            REGISTRY[name] = Scenario(name, group, description, fn, pending)
        return fn

    return decorate


def _load_all() -> None:
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


def all_scenarios() -> list[Scenario]:
    _load_all()
    return [REGISTRY[k] for k in REGISTRY]


def get(name: str) -> Scenario:
    _load_all()
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(
            f"no scenario named {name!r}; `python -m lab break --list` shows them"
        ) from None


def run(name: str) -> ScenarioResult:
    sc = get(name)
    if sc.pending:
        raise RuntimeError(f"scenario {name} is pending: {sc.pending}")
    return sc.run()


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
