"""``python -m lab break``: the failure catalogue from the shell.

``--list`` names every scenario (one a line: name, then description);
``break NAME`` runs one and prints its five parts; ``--all`` runs them all and
prints a table, exiting 0 only when every scenario produced the outcome it
demonstrates. Stopped by SIGTERM or Ctrl-C, it still removes the folders its
scenarios made (:func:`lab.cli.main` turns SIGTERM into a normal exit).
"""

from __future__ import annotations

from lab.course import scenarios
from lab.course.table import Table


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
    catalogue = scenarios.in_order()
    if args.list:
        width = max(len(sc.name) for sc in catalogue)
        for sc in catalogue:
            print(f"{sc.name:<{width}}  {sc.description}")
        return 0
    if args.all:
        return _run_all(catalogue)
    result = scenarios.get(args.name).run()
    print(result)
    for note in result.notes:
        print(f"note:        {note}")
    print(
        f"outcome:     {'as expected' if result.behaved else 'UNEXPECTED: the scenario did not show its fault'}"
    )
    return 0 if result.behaved else 1


def _run_all(catalogue) -> int:
    rows = []
    for sc in catalogue:
        try:
            result = sc.run()
            ok, category = result.behaved, result.category
        except Exception as exc:  # one broken scenario must not hide the others
            ok, category = False, f"crashed: {type(exc).__name__}: {exc}"
        rows.append((sc.name, sc.group, "ok" if ok else "UNEXPECTED", category))
    print(Table(["scenario", "group", "outcome", "diagnosis"], rows))
    behaved = sum(row[2] == "ok" for row in rows)
    print(f"{behaved}/{len(rows)} scenarios behaved as expected")
    return 0 if behaved == len(rows) else 1
