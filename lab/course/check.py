"""Self-checks for the "Your turn" exercises: print ✅ or a hint, never the answer.

Each notebook's checks live in ``lab/course/checks/nbNN_*.py`` as functions named
``exercise_*``; :data:`EXERCISES` says which module holds each one, so a notebook
calls ``check.exercise_second_client(...)`` without knowing the file. A new
exercise: write it in its notebook's module, add one line to :data:`EXERCISES`.

The checks import :func:`report` from here, so they are imported on first use
(PEP 562 module ``__getattr__``), not when this module loads: no import cycle,
whichever module a notebook imports first.
"""

from __future__ import annotations

import importlib

from lab.course.feedback import CheckResult, report

#: exercise function -> the module of lab.course.checks that defines it.
EXERCISES = {
    "exercise_client_extfile": "nb01_pki",
    "exercise_require_client_certificates": "nb02_server",
    "exercise_pfx_by_hand": "nb03_client",
    "exercise_payments_policy": "nb04_authorization",
    "exercise_mysteries": "nb05_breaking_it",
    "exercise_revoke_carol": "nb06_revocation",
    "exercise_forward_directive": "nb07_behind_nginx",
    "exercise_rollover_order": "nb08_rotation",
    "exercise_one_handshake": "nb09_performance",
    "exercise_quiz": "nb10_production",
    "exercise_audit": "nb10_production",
    "exercise_job_csr": "nb11_deploy",
}

__all__ = ["CheckResult", "report", *EXERCISES]


def __getattr__(name: str):
    if name not in EXERCISES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"lab.course.checks.{EXERCISES[name]}")
    return getattr(module, name)


def __dir__() -> list[str]:
    return sorted(__all__)
