"""Self-checks for the "Your turn" exercises: print ✅ or a hint, never the answer.

Each notebook's checks live in ``lab/course/checks/nbNN_*.py`` as functions named
``exercise_*``; a notebook calls ``check.exercise_second_client(...)`` without knowing the
file, and this module finds the function in whichever module of :mod:`lab.course.checks`
defines it. A new exercise is one function in its notebook's module, nothing to register.

The checks import :func:`report` from here, so they are imported on first use
(PEP 562 module ``__getattr__``), not when this module loads: no import cycle,
whichever module a notebook imports first.
"""

from __future__ import annotations

import importlib
import pkgutil

from lab.course import checks
from lab.course.feedback import CheckResult, report

__all__ = ["CheckResult", "report"]


def __getattr__(name: str):
    if name.startswith("exercise_"):
        for info in pkgutil.iter_modules(checks.__path__):
            module = importlib.import_module(f"{checks.__name__}.{info.name}")
            if hasattr(module, name):
                return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
