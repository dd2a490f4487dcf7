"""What a scenario is and what it returns: the types every scenario module uses.

Kept apart from the package ``__init__`` so the scenario modules can import them
while the package imports the modules (no import cycle, no registration by side effect).
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class Scenario:
    """One entry of the catalogue: its name, group, one-line description, and the function that runs it."""

    name: str
    group: str
    description: str
    run: Callable[[], ScenarioResult]

    #: Every scenario in the catalogue runs; notebook 05 counts the pending ones (0).
    pending = None

    def __call__(self) -> ScenarioResult:
        return self.run()


def scenario(name: str, group: str, description: str):
    """Make a function (no arguments, returns a ScenarioResult) a :class:`Scenario`.

    Nothing is registered: each module lists its scenarios in ``SCENARIOS`` and
    :mod:`lab.course.scenarios` lists the modules.
    """
    if group not in GROUPS:
        raise ValueError(f"group must be one of {GROUPS}")

    def decorate(fn: Callable[[], ScenarioResult]) -> Scenario:
        return Scenario(name, group, description, fn)

    return decorate
