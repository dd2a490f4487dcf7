"""What a scenario is and what it returns (kept apart so the catalogue and the registry share it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

GROUPS = ("trust", "identity", "time", "usage", "transport", "application")


@dataclass
class ScenarioResult:
    """What happened, from both sides, and what it means."""

    name: str
    client_saw: str  # what the client's code raised (type: text), or "HTTP status: body"
    server_saw: str  # the server's own record
    status: int | None
    category: str
    cause: str
    fix: str
    behaved: bool = True  # did the scenario produce the outcome it demonstrates?
    notes: list[str] = field(default_factory=list)
    client_error: str = ""  # kept for callers of the earlier API; client_saw is already raw

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
    """One entry of the catalogue: its name, group, one-line description, and how to run it."""

    name: str
    group: str
    description: str
    run: Callable[[], ScenarioResult]

    #: Every scenario runs; kept so that older callers reading ``pending`` still work.
    pending = None

    def __call__(self) -> ScenarioResult:
        return self.run()
