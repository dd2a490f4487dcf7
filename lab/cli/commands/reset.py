"""``python -m lab reset``: stop this checkout's lab servers and nginx, remove what the lab made."""

from __future__ import annotations

import sys
from pathlib import Path

from lab import housekeeping
from lab.paths import certs_dir, show
from lab.proxy.process import PREFIX_STEM, runtime_dir


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "reset",
        help="stop this checkout's lab servers and nginx, remove the PKI files the lab made",
        description="Start again from scratch: stop the `python -m lab serve/ocsp` processes "
        "and nginx that this checkout started (recorded in .lab-state/; nothing else is "
        "touched), remove the folders with keys they left, then the files of the PKI folder "
        "that the lab made (rootCA.pem/.key, the certificates its CA signed with their .key "
        "and .pfx, pfx-password.txt, the CRL). A folder that is not a lab PKI is refused.",
    )
    p.add_argument("--dir", type=Path, default=None, help="the PKI folder (default: certs/)")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=run)


def run(args) -> int:
    directory = args.dir or certs_dir()
    plan = [
        *(f"stop {r['pid']}: {r['command']}" for r in housekeeping.recorded_processes()),
        *(f"stop nginx in {show(p)}" for p in sorted(runtime_dir().glob(PREFIX_STEM + "*"))),
        *(f"remove folder {show(p)}" for p in housekeeping.recorded_folders()),
        *(f"remove {show(p)}" for p in housekeeping.pki_files(directory)),  # refuses first
    ]
    if not plan:
        print(f"nothing to reset: no process, no recorded folder, no PKI file in {show(directory)}")
        return 0
    print("\n".join(plan))
    if not args.yes:
        try:
            answer = input("Continue? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing changed (use --yes to skip this question)")
            return 1
    done = housekeeping.reset(directory)
    print(
        f"stopped {len(done['processes'])} lab process(es), {done['nginx']} nginx; "
        f"removed {done['leftovers']} folder(s) and {done['files']} file(s)"
    )
    sys.stdout.flush()
    return 0
