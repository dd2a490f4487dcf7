"""``python -m lab pki status``: which certificates expire soon or are revoked, as a check that can fail a build.

Why a command: expiry monitoring belongs in cron or CI, where only the exit code
is read. It prints every certificate file in the folder with its role and the
days it has left, and every CRL beside them, and exits 1 when any certificate is
expired, not yet valid, inside the warning window, revoked, or unreadable, or a
CRL is stale, due for re-signing or unusable; 0 when all is well.
"""

from __future__ import annotations

from pathlib import Path

from lab.cli.commands._days import days_type
from lab.ops.expiry import scan
from lab.paths import certs_dir


def register_pki(pki_subparsers) -> None:
    p = pki_subparsers.add_parser(
        "status",
        help="list certificates with role and days left; exit 1 if any expires soon or is revoked",
        description="Check every certificate file in a folder (*.crt, *.pem, *.cer, *.der, *.pfx): role and "
        "days left. The folder's CRLs (crl.pem, *.crl), when a CA certificate in the folder "
        "signed them, mark the certificates they list as REVOKED, and get a row each. Exit 1 "
        "when a certificate is expired, not yet valid, unreadable, revoked, or expires within "
        "--warn-days, or a CRL is stale, in the last quarter of its window, or unusable; 0 "
        "otherwise. Meant for cron and CI.",
    )
    p.add_argument("--dir", type=Path, default=None, help="the folder to check (default: certs/)")
    p.add_argument(
        "--warn-days",
        type=days_type("--warn-days", allow_zero=True),
        default=30,
        help="warn when a certificate expires within this many days (default 30)",
    )
    p.add_argument(
        "--password", help="password for .pfx files (default: pfx-password.txt in the folder)"
    )
    p.set_defaults(func=_status)


def _status(args) -> int:
    report = scan(args.dir or certs_dir(), warn_days=args.warn_days, password=args.password)
    print(report.as_text())
    return report.exit_code
