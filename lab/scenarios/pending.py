"""Placeholders for scenarios whose machinery arrives with another part of the course.

Each is listed (``python -m lab break --list``) with the reason it cannot run
yet. The real scenario registers under the same name in its own module
(``revocation.py``) and replaces the placeholder, whatever the
import order (see :func:`lab.scenarios.scenario`).
"""

from __future__ import annotations

from importlib.util import find_spec

from . import ScenarioResult, scenario


def _not_yet() -> ScenarioResult:
    raise RuntimeError("this scenario is pending")


if find_spec(f"{__package__}.revocation") is None:
    scenario("revoked-client", "trust",
             "a revoked client certificate: accepted without a revocation check, refused with one",
             pending="arrives with the revocation issue")(_not_yet)
