"""Self-checks for the "Your turn" exercises: print ✅ or a hint, never the answer.

Each notebook's checks live in ``lab/course/checks/nbNN_*.py`` as functions named
``exercise_*``; this module gathers them, so a notebook calls
``check.exercise_second_client(...)`` without knowing which file holds it.
"""

from __future__ import annotations

import importlib
import pkgutil

from lab.course import checks as _checks


class CheckResult:
    """True or false like a bool, but displays nothing extra in a notebook (the line is printed)."""

    def __init__(self, ok: bool, line: str):
        self.ok = bool(ok)
        self.line = line

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return self.line

    def _ipython_display_(self) -> None:
        """Already printed by :func:`report`; showing it again as a result would only repeat it."""


def report(ok: bool, success: str, hint: str) -> CheckResult:
    """Print one line: ✅ and what was achieved, or 💡 and a hint. Truthy when ``ok``."""
    line = f"✅ {success}" if ok else f"💡 Not yet: {hint}"
    print(line)
    return CheckResult(ok, line)


def _gather() -> None:
    for info in pkgutil.iter_modules(_checks.__path__):
        module = importlib.import_module(f"{_checks.__name__}.{info.name}")
        for name in dir(module):
            if name.startswith("exercise_"):
                globals()[name] = getattr(module, name)


_gather()
