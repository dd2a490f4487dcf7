"""Self-check for notebook 08's exercise: a CA rollover plan that never breaks a client.

The check does not compare the list with an answer key: it *plays* the plan
against real servers and clients (:func:`lab.course.rollover.run_plan`), so any order
that genuinely works passes, and the hint names the first step that broke whom.
"""

from __future__ import annotations

from lab.course.check import report
from lab.course.rollover import REQUIRED, STEPS, run_plan


def exercise_rollover_order(order):
    """``order``: step names from ``rollover.STEPS`` that take alice, bob and the server to the new CA."""
    if not order:
        return report(
            False,
            "",
            'list the step names, e.g. my_order = ["server trusts new root", ...] '
            "(the keys of rollover.STEPS)",
        )
    unknown = [s for s in order if s not in STEPS]
    if unknown:
        return report(
            False, "", f"{unknown[0]!r} is not a step; copy the names from rollover.STEPS"
        )
    missing = sorted(REQUIRED - set(order))
    if missing:
        return report(
            False,
            "",
            f"the plan never does: {', '.join(missing)}; a rollover ends with every "
            f"certificate from the new CA and the old root removed",
        )
    result = run_plan(order)
    broken = result.first_failure
    if broken:
        step, probe = broken
        return report(
            False,
            "",
            f"after '{step.step}', {probe.label()} can no longer reach the server "
            f"({probe.observation.server_saw}); which party had to trust the new root "
            f"(or still needed the old one) at that point?",
        )
    if not result.complete:
        return report(
            False,
            "",
            "nothing broke, but the fleet did not end fully on the new CA with the old "
            "root removed; look at the order of the last steps",
        )
    return report(
        True,
        f"all {len(order)} steps played live: alice and bob reached the server at every step, "
        f"and the fleet ended on the new CA",
        "",
    )
