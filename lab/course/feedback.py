"""The one line a self-check prints: ✅ and what was achieved, or 💡 and a hint (never the answer).

Its own module so that :mod:`lab.course.check` can import every notebook's checks
while those checks import :func:`report` (through ``lab.course.check``) without a cycle.
"""

from __future__ import annotations

from lab.course.text import wrap


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
    print(wrap(line, indent=3))  # one line in the result; wrapped on the page
    return CheckResult(ok, line)
