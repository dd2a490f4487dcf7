"""``python -m lab reset``: stop this checkout's lab servers and nginx, remove what the lab made."""

from __future__ import annotations

import sys

from lab import housekeeping
from lab.cli.args import pki_folder
from lab.paths import show
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
    pki_folder(p)
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=run)


def run(args) -> int:
    plan = [
        *(f"stop {r['pid']}: {r['command']}" for r in housekeeping.recorded_processes()),
        *(f"remove nginx folder {show(p)}" for p in sorted(runtime_dir().glob(PREFIX_STEM + "*"))),
        *(f"remove folder {show(p)}" for p in housekeeping.recorded_folders()),
        *(f"remove {show(p)}" for p in housekeeping.pki_files(args.dir)),  # refuses first
    ]
    if not plan:
        print(f"nothing to reset: no process, no recorded folder, no PKI file in {show(args.dir)}")
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
    done = housekeeping.reset(args.dir)
    print(
        f"stopped {len(done['processes'])} lab process(es), {done['nginx']} nginx; "
        f"removed {done['leftovers']} folder(s) and {done['files']} file(s)"
    )
    sys.stdout.flush()
    return 0
