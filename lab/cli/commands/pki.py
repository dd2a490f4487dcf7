"""``python -m lab pki ...``: create the course PKI, issue client certificates, show any certificate.

Two more ``pki`` subcommands live in their own modules, each with ``register_pki(subparsers)``:
:mod:`~lab.cli.commands.pki_revoke` (``revoke``, ``crl``) and :mod:`~lab.cli.commands.pki_status`
(``status``). They are imported by name below: a new one is one more line there.
"""

from __future__ import annotations

from pathlib import Path

from lab import pki
from lab.cli.commands import pki_revoke, pki_sign, pki_status
from lab.cli.commands._days import days_type
from lab.course import coursepki
from lab.errors import LabError
from lab.paths import certs_dir, show
from lab.pki import certinfo


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "pki",
        help="create and inspect the course PKI",
        description="Create and inspect the course PKI.",
    )
    sub = parser.add_subparsers(dest="pki_command", metavar="PKI_COMMAND")
    sub.required = True

    p = sub.add_parser(
        "init",
        help="write the guide's file set: rootCA, server and client certificates, .pfx",
        description="Write rootCA.pem/.key, server.crt/.key/.pfx and client.crt/.key/.pfx "
        "(CN=MyTrustedClient), properly made: SAN and EKU included.",
    )
    p.add_argument("--dir", type=Path, default=None, help="target folder (default: certs/)")
    p.add_argument(
        "--key-type",
        choices=["ec", "rsa"],
        default="ec",
        help="ec = ECDSA P-256 (default); rsa = RSA-4096 root, RSA-2048 leaves (the guide's sizes)",
    )
    p.add_argument(
        "--password",
        help="password for the .pfx files (default: a random one, saved in "
        "pfx-password.txt with mode 0600)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing CA")
    p.add_argument("--if-missing", action="store_true", help="do nothing when a CA already exists")
    p.set_defaults(func=_init)

    p = sub.add_parser("issue", help="issue another certificate signed by the course CA")
    kind = p.add_subparsers(dest="kind", metavar="KIND")
    kind.required = True
    c = kind.add_parser("client", help="a client certificate: NAME.crt, NAME.key, NAME.pfx")
    c.add_argument("name", help="the certificate's CN, and the file names")
    c.add_argument("--dir", type=Path, default=None, help="the PKI folder (default: certs/)")
    c.add_argument(
        "--days", type=days_type("--days"), default=365, help="validity in days (default 365)"
    )
    c.add_argument("--email", help="an email SAN")
    c.add_argument("--uri", help="a URI SAN, e.g. spiffe://lab.test/ns/payments/sa/api")
    c.set_defaults(func=_issue_client)

    p = sub.add_parser("show", help="summarise a PEM/DER certificate or a .pfx")
    p.add_argument("file", type=Path)
    p.add_argument(
        "--password", help="the .pfx password (default: pfx-password.txt beside the file)"
    )
    p.set_defaults(func=_show)

    pki_revoke.register_pki(sub)
    pki_status.register_pki(sub)
    pki_sign.register_pki(sub)


def _init(args) -> int:
    directory = args.dir or certs_dir()
    if args.if_missing and (directory / "rootCA.pem").exists():
        print(f"PKI already present in {show(directory)}")
        return 0
    written = coursepki.init(
        directory, key_type=args.key_type, password=args.password, force=args.force
    )
    print(f"wrote {len(written)} files to {show(directory)}:")
    for path in written:
        print(f"  {path.name}")
    if not args.password:
        print(f"the .pfx password is in {show(directory / coursepki.PASSWORD_FILE)} (mode 0600)")
    return 0


def _issue_client(args) -> int:
    directory = args.dir or certs_dir()
    written = coursepki.issue_client(
        args.name, directory, days=args.days, email=args.email, uri=args.uri
    )
    print(f"issued {args.name}: " + ", ".join(show(p) for p in written))
    return 0


def _show(args) -> int:
    path: Path = args.file
    if path.suffix.lower() in pki.PFX_SUFFIXES:
        # An explicit --password "" is used as given; only no --password reads the file.
        password = (
            args.password if args.password is not None else coursepki.read_password(path.parent)
        )
        if password is None:
            raise LabError(
                f"{show(path)} needs its password: --password P "
                f"(no {coursepki.PASSWORD_FILE} beside it)"
            )
        ident = pki.load_pkcs12(path, password)
        print(certinfo.describe(ident.cert).as_text())
        for extra in ident.chain:
            print("\nchain:\n" + certinfo.describe(extra).as_text())
        print(
            f"\nprivate key: {certinfo.key_description(ident.key.public_key())}, "
            f"matches the certificate: {'yes' if ident.key_matches else 'NO'}"
        )
        return 0
    certs = pki.load_certificates(path)
    for i, cert in enumerate(certs):
        if i:
            print()
        print(certinfo.describe(cert).as_text())
    return 0
