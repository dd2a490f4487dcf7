"""``python -m lab doctor``: lint certificates, keys and .pfx files before they fail a handshake.

With no arguments it examines the course PKI (``certs/``). Exit code 1 when any
finding is an error, so it can gate a deployment or a CI job.
"""

from __future__ import annotations

from pathlib import Path

from lab.errors import MissingFileError
from lab.ops import doctor
from lab.paths import certs_dir, show


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "doctor",
        help="check certificates, keys and .pfx files (SAN, EKU, chain, key match, expiry...)",
        description="Lint certificate, key and .pfx files: the key matches the certificate, the chain "
        "builds to a root, the EKU fits the role, a server certificate has a SAN, validity "
        "and days left, key strength, signature hash, CA flags. Exit 1 on any error.",
    )
    p.add_argument("files", nargs="*", type=Path, help="files (or folders) to examine")
    p.add_argument("--dir", type=Path, default=None, help="examine every file in this folder")
    p.add_argument(
        "--root",
        type=Path,
        action="append",
        default=[],
        metavar="CA.pem",
        help="a trusted root for the chain check (repeatable; roots in the folder are found too)",
    )
    p.add_argument(
        "--password",
        default=None,
        help="password of .pfx files / encrypted keys (default: pfx-password.txt beside the .pfx)",
    )
    p.add_argument("--quiet", action="store_true", help="show errors and warnings only")
    p.set_defaults(func=run)


def run(args) -> int:
    directory = args.dir
    if directory is None and not args.files:
        directory = certs_dir()
    if directory is not None and not Path(directory).is_dir():
        raise MissingFileError(
            f"{show(directory)} is not a folder; create the PKI with `python -m lab pki init`"
        )
    report = doctor.examine(
        args.files, directory=directory, roots=args.root, password=args.password
    )
    print(report.as_text(show_info=not args.quiet))
    return 1 if report.errors else 0
