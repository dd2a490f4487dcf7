"""``python -m lab pki revoke NAME`` and ``pki crl``: revoke a certificate, re-sign the CRL.

Why a command: revocation is what you do at 3 a.m. when a laptop with a client
key is stolen, so it must be one line. It adds the certificate to the CA's
record, ``certs/crl.pem``, and signs a new CRL (next CRL number, fresh
thisUpdate/nextUpdate). Servers that loaded the old CRL keep using it until
they are restarted; the OCSP responder (``python -m lab ocsp``) sees the change
on its next request.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from lab import pki
from lab.cli.args import days_type
from lab.course import coursepki
from lab.errors import MissingFileError
from lab.paths import certs_dir, show
from lab.revocation import REASONS, Revocations

CRL_FILE = "crl.pem"


def register_pki(pki_subparsers) -> None:
    p = pki_subparsers.add_parser(
        "revoke",
        help="revoke a certificate and update crl.pem",
        description="Add a certificate issued by the course CA to the CRL (crl.pem in the PKI folder) "
        "and sign a fresh CRL.",
    )
    p.add_argument(
        "name", help="the certificate's name (NAME.crt in the PKI folder) or a path to it"
    )
    p.add_argument(
        "--reason",
        choices=list(REASONS),
        default="unspecified",
        help="RFC 5280 reason code (default: unspecified; a stolen key is keyCompromise)",
    )
    _crl_options(p)
    p.set_defaults(func=_revoke)

    p = pki_subparsers.add_parser(
        "crl",
        help="re-sign crl.pem with a fresh nextUpdate (a stale CRL refuses everyone)",
        description="Sign the CRL again without revoking anything: new thisUpdate/nextUpdate.",
    )
    _crl_options(p)
    p.set_defaults(func=_resign)


def _crl_options(p) -> None:
    """The options both commands take: the PKI folder, and the new CRL's lifetime."""
    p.add_argument("--dir", type=Path, default=None, help="the PKI folder (default: certs/)")
    p.add_argument(
        "--days",
        type=days_type("--days"),
        default=7,
        help="days until the CRL's nextUpdate (default 7)",
    )


def _published(record: Revocations, path: Path, days: float) -> None:
    print(
        f"{show(path)}: CRL number {record.crl_number}, {len(record)} revoked certificate(s), "
        f"next update in {days:g} day(s)"
    )


def _certificate_path(name: str, directory: Path) -> Path:
    """NAME in the PKI folder (``alice`` or ``alice.crt``), or a path with a folder in it."""
    p = Path(name)
    if p.parent != Path("."):
        return p
    return directory / (name if p.suffix in (".crt", ".pem") else f"{name}.crt")


def _revoke(args) -> int:
    directory = args.dir or certs_dir()
    ca = coursepki.load_ca(directory)
    path = _certificate_path(args.name, directory)
    if not path.exists():
        raise MissingFileError(
            f"no certificate {show(path)}; give NAME as in `pki issue client NAME`, "
            f"or the path of the .crt to revoke"
        )
    cert = pki.load_certificate(path)
    record = Revocations.load(ca, directory / CRL_FILE)
    already = record.status(cert.serial_number)
    entry = record.revoke(cert, args.reason)
    path = record.write_crl(directory / CRL_FILE, validity=_dt.timedelta(days=args.days))
    what = "updated the reason of" if already else "revoked"
    print(
        f"{what} {cert.subject.rfc4514_string()} (serial {cert.serial_number:x}): {entry.reason_name}"
    )
    _published(record, path, args.days)
    print(f"servers that loaded the CRL must be restarted: python -m lab serve --crl {show(path)}")
    return 0


def _resign(args) -> int:
    directory = args.dir or certs_dir()
    record = Revocations.load(coursepki.load_ca(directory), directory / CRL_FILE)
    path = record.write_crl(directory / CRL_FILE, validity=_dt.timedelta(days=args.days))
    _published(record, path, args.days)
    return 0
