"""``python -m lab pki ...``: create the course PKI, issue client certificates, show any certificate,
sign a CSR, revoke a certificate, re-sign the CRL, and check a folder's expiry (``status``).

``status`` is a command because expiry monitoring belongs in cron or CI, where only the exit
code is read. ``sign`` checks a CSR with :mod:`lab.pki.csr` before the course CA signs it; the
certificate goes next to the CSR (``NAME.crt``), never over an existing file without ``--force``.

``revoke`` is a command because revocation is what you do at 3 a.m. when a laptop with a client
key is stolen, so it must be one line. It adds the certificate to the CA's record,
``certs/crl.pem``, and signs a new CRL (next CRL number, fresh thisUpdate/nextUpdate). Servers
that loaded the old CRL keep using it until they are restarted; the OCSP responder
(``python -m lab ocsp``) sees the change on its next request.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

from cryptography import x509

from lab import pki
from lab.cli.args import days_type, pki_folder
from lab.course import coursepki
from lab.course.table import Table
from lab.errors import MissingFileError, PKIExistsError
from lab.ops.expiry import scan
from lab.paths import show
from lab.pki import certinfo
from lab.pki.csr import CSRRefusedError, check_csr, sign_csr
from lab.pki.fields import ip_name
from lab.pki.files import read_file
from lab.revocation import REASONS, Revocations

CRL_FILE = "crl.pem"


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
    pki_folder(p, "target folder")
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
    pki_folder(c)
    c.add_argument(
        "--days", type=days_type("--days"), default=365, help="validity in days (default 365)"
    )
    c.add_argument("--email", help="an email SAN (name@example.org)")
    c.add_argument("--uri", help="a URI SAN, e.g. spiffe://lab.test/ns/payments/sa/api")
    c.add_argument("--dns", action="append", default=[], help="a DNS SAN (repeatable)")
    c.add_argument("--ip", action="append", default=[], help="an IP SAN (repeatable)")
    c.add_argument("--force", action="store_true", help="replace NAME's files when they exist")
    c.set_defaults(func=_issue_client)

    p = sub.add_parser("show", help="summarise a PEM/DER certificate or a .pfx")
    p.add_argument("file", type=Path)
    p.add_argument(
        "--password", help="the .pfx password (default: pfx-password.txt beside the file)"
    )
    p.set_defaults(func=_show)

    p = sub.add_parser(
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

    p = sub.add_parser(
        "crl",
        help="re-sign crl.pem with a fresh nextUpdate (a stale CRL refuses everyone)",
        description="Sign the CRL again without revoking anything: new thisUpdate/nextUpdate.",
    )
    _crl_options(p)
    p.set_defaults(func=_revoke)

    p = sub.add_parser(
        "status",
        help="list certificates with role and days left; exit 1 if any expires soon or is revoked",
        description="Check every certificate file in a folder (*.crt, *.pem, *.cer, *.der, *.pfx): role and "
        "days left. The folder's CRLs (crl.pem, *.crl), when a CA certificate in the folder "
        "signed them, mark the certificates they list as REVOKED, and get a row each. Exit 1 "
        "when a certificate is expired, not yet valid, unreadable, revoked, or expires within "
        "--warn-days, or a CRL is stale, in the last quarter of its window, or unusable; 0 "
        "otherwise. Meant for cron and CI.",
    )
    pki_folder(p, "the folder to check")
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

    p = sub.add_parser(
        "sign",
        help="check a certificate signing request (CSR) and sign it as a client certificate",
        description="Check CSR (its signature, key, subject and requested names) and sign it "
        "with the course CA as a client certificate. The key never leaves its owner.",
    )
    p.add_argument("csr", type=Path, help="the CSR file (PEM or DER), e.g. client.csr")
    pki_folder(p)
    p.add_argument(
        "--san",
        action="append",
        default=[],
        metavar="NAME",
        help="a SAN entry the CA grants (e-mail, URI, DNS name); repeat for more. "
        "A CSR asking for any other name is refused",
    )
    p.add_argument("--out", type=Path, default=None, help="the certificate (default: CSR.crt)")
    p.add_argument(
        "--days", type=days_type("--days"), default=365, help="validity in days (default 365)"
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing certificate")
    p.set_defaults(func=_sign)


def _init(args) -> int:
    if args.if_missing and (args.dir / "rootCA.pem").exists():
        print(f"PKI already present in {show(args.dir)}")
        return 0
    pki.make_folder(args.dir)  # 0700 whatever the umask; a link to nothing is one clear line
    written = coursepki.init(
        args.dir, key_type=args.key_type, password=args.password, force=args.force
    )
    print(f"wrote {len(written)} files to {show(args.dir)}:")
    for path in written:
        print(f"  {path.name}")
    if not args.password:
        print(f"the .pfx password is in {show(args.dir / coursepki.PASSWORD_FILE)} (mode 0600)")
    return 0


def _check_new_files(directory: Path, name: str, force: bool) -> None:
    """Refuse a name whose files are the PKI's own (always), or exist already (without --force;
    a link to nothing counts, and a case-insensitive disk answers for other spellings)."""
    existing = [p.name for p in coursepki.client_files(directory, name) if os.path.lexists(p)]
    if existing and not force:
        raise PKIExistsError(
            f"{', '.join(existing)} already exist in {show(directory)}; use --force to renew "
            f"{name!r}, or choose another name"
        )


def _issue_client(args) -> int:
    _check_new_files(args.dir, args.name, args.force)
    dns = [*args.dns, *(ip_name(ip) for ip in args.ip)]
    written = coursepki.issue_client(
        args.name, args.dir, days=args.days, email=args.email, uri=args.uri, dns=dns
    )
    print(f"issued {args.name}: " + ", ".join(show(p) for p in written))
    return 0


def _show(args) -> int:
    """Each certificate of the file, leaf first; for a .pfx, its private key too."""
    path: Path = args.file
    ident = pki.open_pfx(path, args.password) if path.suffix.lower() in pki.PFX_SUFFIXES else None
    certs = [ident.cert, *ident.chain] if ident else pki.load_certificates(path)
    print("\n\nchain:\n".join(certinfo.describe(cert).as_text() for cert in certs))
    if ident:
        print(
            f"\nprivate key: {certinfo.key_description(ident.key.public_key())}, "
            f"matches the certificate: {'yes' if ident.key_matches else 'NO'}"
        )
    return 0


def _status(args) -> int:
    report = scan(args.dir, warn_days=args.warn_days, password=args.password)
    print(Table(["STATUS", "DAYS", "ROLE", "FILE", "SUBJECT"], report.rows()))
    print(report.summary())
    return report.exit_code


def load_csr(path: Path) -> x509.CertificateSigningRequest:
    """PEM or DER; anything else is one clear line, not a parser's traceback."""
    data = read_file(path, "certificate signing request")
    loader = x509.load_pem_x509_csr if b"-----BEGIN" in data else x509.load_der_x509_csr
    try:
        return loader(data)
    except ValueError:
        raise CSRRefusedError(
            f"{show(path)} is not a certificate signing request (expected PEM "
            f"'-----BEGIN CERTIFICATE REQUEST-----' or DER)"
        ) from None


def _sign(args) -> int:
    csr = load_csr(args.csr)
    ca = coursepki.load_ca(args.dir)
    *_, ignored = check_csr(csr, ca, args.san)  # a refused CSR says why, whatever exists
    out = args.out or args.csr.with_suffix(".crt")
    if out.exists() and not args.force:
        raise PKIExistsError(f"{show(out)} exists; add --force to replace it")
    cert = sign_csr(csr, ca, granted_san=args.san, days=args.days)
    pki.write_public(out, pki.pem(cert) + b"".join(pki.pem(c) for c in ca.chain))
    print(f"{show(out)}: {cert.subject.rfc4514_string()}, clientAuth, {args.days:g} day(s)")
    print(f"  signed by {ca.cert.subject.rfc4514_string()}")
    if ignored:
        print(f"  requested and not copied (the CA sets its own): {', '.join(ignored)}")
    return 0


def _crl_options(p) -> None:
    """The options both commands take: the PKI folder, and the new CRL's lifetime."""
    pki_folder(p)
    p.add_argument(
        "--days",
        type=days_type("--days"),
        default=7,
        help="days until the CRL's nextUpdate (default 7)",
    )


def _certificate_path(name: str, directory: Path) -> Path:
    """NAME in the PKI folder (``alice`` or ``alice.crt``), or a path with a folder in it."""
    p = Path(name)
    if p.parent != Path("."):
        return p
    return directory / (name if p.suffix in (".crt", ".pem") else f"{name}.crt")


def _revoke(args) -> int:
    """``pki revoke NAME`` adds NAME to the CA's record, then signs it as a new CRL; ``pki crl``
    only signs it again."""
    record = Revocations.load(coursepki.load_ca(args.dir), args.dir / CRL_FILE)
    said = []
    if args.pki_command == "revoke":
        path = _certificate_path(args.name, args.dir)
        if not path.exists():
            raise MissingFileError(
                f"no certificate {show(path)}; give NAME as in `pki issue client NAME`, "
                f"or the path of the .crt to revoke"
            )
        cert = pki.load_certificate(path)
        what = "updated the reason of" if record.status(cert.serial_number) else "revoked"
        entry = record.revoke(cert, args.reason)
        said.append(
            f"{what} {cert.subject.rfc4514_string()} (serial {cert.serial_number:x}): "
            f"{entry.reason_name}"
        )
    path = record.write_crl(args.dir / CRL_FILE, validity=_dt.timedelta(days=args.days))
    said.append(
        f"{show(path)}: CRL number {record.crl_number}, {len(record)} revoked certificate(s), "
        f"next update in {args.days:g} day(s)"
    )
    if args.pki_command == "revoke":
        said.append(
            f"servers that loaded the CRL must be restarted: python -m lab serve --crl {show(path)}"
        )
    print(*said, sep="\n")
    return 0
