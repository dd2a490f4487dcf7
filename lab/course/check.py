"""Self-checks for the "Your turn" exercises: print ✅ or a hint, never the answer.

Each notebook's checks live in ``lab/course/checks/nbNN_*.py`` as functions named
``exercise_*``; a notebook calls ``check.exercise_second_client(...)`` without knowing the
file, and this module finds the function in whichever module of :mod:`lab.course.checks`
defines it. A new exercise is one function in its notebook's module, nothing to register.

The checks import :func:`hint`, :func:`passed` and :func:`try_calls` from here, so they are
imported on first use (PEP 562 module ``__getattr__``), not when this module loads: no
import cycle, whichever module a notebook imports first.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

from lab.course import checks
from lab.course.observe import Observation, observe
from lab.course.text import wrap
from lab.tls.client import session


@dataclass
class CheckResult:
    """True or false like a bool, but displays nothing extra in a notebook (the line is printed)."""

    ok: bool
    line: str

    def __bool__(self) -> bool:
        return self.ok

    def _ipython_display_(self) -> None:
        """Already printed by :func:`report`; showing it again as a result would only repeat it."""


def report(ok: bool, success: str, hint: str, label: str = "") -> CheckResult:
    """Print one line: ✅ and what was achieved, or 💡 and a hint. Truthy when ``ok``.

    ``label`` names the check on its line, when a cell runs more than one.
    """
    line = (f"{label}: " if label else "") + (f"✅ {success}" if ok else f"💡 Not yet: {hint}")
    print(wrap(line, indent=3))  # one line in the result; wrapped on the page
    return CheckResult(bool(ok), line)


def hint(text: str, label: str = "") -> CheckResult:
    """The 💡 line: what is not there yet, and where to look (never the answer)."""
    return report(False, "", text, label)


def passed(text: str, label: str = "") -> CheckResult:
    """The ✅ line: what the learner's artefact achieved."""
    return report(True, text, "", label)


def try_calls(server, callers, trust, path: str = "/api/secure") -> list[Observation]:
    """Start ``server`` (an unstarted lab server) and call ``path`` once as each of ``callers``.

    A caller is a lab identity, or None for a client without a certificate; every client
    trusts ``trust``. Each call is seen from both ends (:func:`lab.course.observe.observe`).
    """

    def call(who):
        with session(who, trust=trust) as client:
            return client.get(server.url + path, timeout=10)

    with server:
        return [observe(server, lambda who=who: call(who)) for who in callers]


def __getattr__(name: str):
    if name.startswith("exercise_"):
        for info in pkgutil.iter_modules(checks.__path__):
            module = importlib.import_module(f"{checks.__name__}.{info.name}")
            if hasattr(module, name):
                return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
