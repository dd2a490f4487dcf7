"""``python -m lab reset``: stop lab servers (and lab-started nginx), remove the generated PKI."""

from __future__ import annotations

import sys
from pathlib import Path

from lab import housekeeping
from lab.paths import certs_dir, show


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "reset",
        help="stop this checkout's lab servers and nginx, remove the generated PKI",
        description="Start again from scratch: stop the `python -m lab serve/ocsp` processes "
        "and nginx that this checkout started (recorded in .lab-state/; nothing else is "
        "touched), remove the folders with keys they left, then delete everything in "
        "certs/ but its README.",
    )
    p.add_argument("--dir", type=Path, default=None, help="the PKI folder (default: certs/)")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=run)


def run(args) -> int:
    directory = args.dir or certs_dir()
    files = housekeeping.generated_files(directory)
    procs = housekeeping.lab_processes()
    if not args.yes:
        print(
            f"This stops {len(procs)} process(es) this checkout started, and deletes "
            f"{len(files)} item(s) in {show(directory)}."
        )
        try:
            answer = input("Continue? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing changed (use --yes to skip this question)")
            return 1
    done = housekeeping.reset(directory)
    for cmd in done["processes"]:
        print(f"stopped: {cmd}")
    print(
        f"stopped {len(done['processes'])} lab process(es), {done['nginx']} nginx; "
        f"removed {done['leftovers']} leftover folder(s) and {done['files']} item(s) "
        f"from {show(directory)}"
    )
    sys.stdout.flush()
    return 0
