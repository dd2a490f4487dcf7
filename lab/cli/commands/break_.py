"""``python -m lab break``: the failure catalogue from the shell.

``--list`` names every scenario (one a line: name, then description);
``break NAME`` runs one and prints its five parts; ``--all`` runs them all and
prints a table, exiting 0 only when every runnable scenario produced the
outcome it demonstrates (pending ones are listed, not counted).
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
            tail = f"  (pending: {sc.pending})" if sc.pending else ""
            print(f"{sc.name:<{width}}  {sc.description}{tail}")
        return 0
    if args.all:
        return _run_all()
    try:
        sc = scenarios.get(args.name)
    except KeyError:
        raise UnknownScenarioError(
            f"no scenario named {args.name!r}; `python -m lab break --list` shows them"
        ) from None
    if sc.pending:
        print(f"{sc.name}: pending ({sc.pending})")
        return 0
    result = sc.run()
    print(result)
    if result.client_error:
        print(f"client raw:  {result.client_error}")
    for note in result.notes:
        print(f"note:        {note}")
    print(
        f"outcome:     {'as expected' if result.behaved else 'UNEXPECTED: the scenario did not show its fault'}"
    )
    return 0 if result.behaved else 1


def _run_all() -> int:
    rows, failed, pending = [], 0, 0
    catalogue = scenarios.in_order()
    width = max(len(sc.name) for sc in catalogue)
    for sc in catalogue:
        if sc.pending:
            pending += 1
            rows.append(f"{sc.name:<{width}}  {sc.group:<11}  pending      {sc.pending}")
            continue
        try:
            result = sc.run()
            ok, category = result.behaved, result.category
        except Exception as exc:  # noqa: BLE001 - one broken scenario must not hide the others
            ok, category = False, f"crashed: {type(exc).__name__}: {exc}"
        failed += not ok
        rows.append(
            f"{sc.name:<{width}}  {sc.group:<11}  {'ok' if ok else 'UNEXPECTED':<11}  {category}"
        )
    print(f"{'scenario':<{width}}  {'group':<11}  {'outcome':<11}  diagnosis")
    print("\n".join(rows))
    ran = len(catalogue) - pending
    print(f"{ran - failed}/{ran} scenarios behaved as expected, {pending} pending")
    return 0 if failed == 0 else 1
