"""``python -m lab break``: the failure catalogue from the shell.

``--list`` names every scenario (one a line: name, then description);
``break NAME`` runs one and prints its five parts; ``--all`` runs them all and
prints a table, exiting 0 only when every scenario produced the outcome it
demonstrates. Stopped by SIGTERM or Ctrl-C, it still removes the folders its
scenarios made (:func:`lab.cli.main` turns SIGTERM into a normal exit).
"""

from __future__ import annotations

from lab.course import scenarios
from lab.errors import LabError


class UnknownScenarioError(LabError, KeyError):
    """No scenario by that name."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "break",
        help="run the failure catalogue: every way mTLS breaks, seen from both ends",
        description="Reproduce an mTLS failure live on loopback and show what the client saw, what the "
        "server recorded, the HTTP status, the cause and the fix.",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("name", nargs="?", help="the scenario to run (see --list)")
    what.add_argument("--list", action="store_true", help="list the scenarios, one a line")
    what.add_argument("--all", action="store_true", help="run every scenario and print a table")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.list:
        catalogue = scenarios.in_order()
        width = max(len(sc.name) for sc in catalogue)
        for sc in catalogue:
            print(f"{sc.name:<{width}}  {sc.description}")
        return 0
    if args.all:
        return _run_all()
    try:
        sc = scenarios.get(args.name)
    except KeyError:
        raise UnknownScenarioError(
            f"no scenario named {args.name!r}; `python -m lab break --list` shows them"
        ) from None
    result = sc.run()
    print(result)
    for note in result.notes:
        print(f"note:        {note}")
    print(
        f"outcome:     {'as expected' if result.behaved else 'UNEXPECTED: the scenario did not show its fault'}"
    )
    return 0 if result.behaved else 1


def _run_all() -> int:
    rows, failed = [], 0
    catalogue = scenarios.in_order()
    width = max(len(sc.name) for sc in catalogue)
    for sc in catalogue:
        try:
            result = sc.run()
            ok, category = result.behaved, result.category
        except Exception as exc:  # one broken scenario must not hide the others
            ok, category = False, f"crashed: {type(exc).__name__}: {exc}"
        failed += not ok
        rows.append(
            f"{sc.name:<{width}}  {sc.group:<11}  {'ok' if ok else 'UNEXPECTED':<11}  {category}"
        )
    print(f"{'scenario':<{width}}  {'group':<11}  {'outcome':<11}  diagnosis")
    print("\n".join(rows))
    print(f"{len(catalogue) - failed}/{len(catalogue)} scenarios behaved as expected")
    return 0 if failed == 0 else 1
