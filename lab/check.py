"""Self-checks for the "Your turn" exercises: print ✅ or a hint, never the answer.

Each notebook's checks live in ``lab/checks/nbNN_*.py`` as functions named
``exercise_*``; this module gathers them, so a notebook calls
``check.exercise_second_client(...)`` without knowing which file holds it.
"""

from __future__ import annotations

import importlib
import pkgutil

from . import checks as _checks


def report(ok: bool, success: str, hint: str) -> bool:
    """Print one line: ✅ and what was achieved, or 💡 and a hint. Returns ``ok``."""
    print(f"✅ {success}" if ok else f"💡 Not yet: {hint}")
    return ok


def _gather() -> None:
    for info in pkgutil.iter_modules(_checks.__path__):
        module = importlib.import_module(f"{_checks.__name__}.{info.name}")
        for name in dir(module):
            if name.startswith("exercise_"):
                globals()[name] = getattr(module, name)


_gather()
