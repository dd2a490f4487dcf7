"""``python -m lab ocsp``: the course CA's OCSP responder in the foreground, until Ctrl-C.

Answers from ``crl.pem`` in the PKI folder (re-read when ``pki revoke``
changes it), signed by a delegated responder certificate (EKU OCSPSigning) made
fresh at start and kept in memory only. The CA's key is read once, to issue that
certificate, and dropped: the running responder holds only the CA's certificate.
A serial the CA never issued (no certificate file in the folder) is ``unknown``.
Plain HTTP on loopback, as real OCSP is: the answers are signed, so they need no
TLS. Also serves the published ``crl.pem`` at ``/crl``.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from cryptography import x509

from lab.cli.args import listen_options, pki_folder
from lab.cli.commands._foreground import foreground
from lab.cli.commands.pki import CRL_FILE
from lab.course import coursepki
from lab.errors import LabError
from lab.paths import show
from lab.pki import CertificateAuthority, load_certificates
from lab.pki.verify import signed_by
from lab.revocation import Revocations
from lab.revocation.ocsp import OCSPResponder, delegated_signer


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "ocsp",
        help="run the course CA's OCSP responder until Ctrl-C",
        description="Answer OCSP requests (good / revoked / unknown) about certificates of the course CA, "
        "from crl.pem, over plain HTTP on 127.0.0.1.",
    )
    pki_folder(p)
    listen_options(p, 8888, "TCP port (default 8888; 0 = any free)")
    p.set_defaults(func=run)


def openssl_command(url: str, directory: Path) -> str:
    """The openssl client call that asks this responder about the course's client.crt."""
    ca, client = f"{show(directory)}/rootCA.pem", f"{show(directory)}/client.crt"
    args = ["-issuer", ca, "-cert", client, "-url", url, "-CAfile", ca]
    return shlex.join(["openssl", "ocsp", *args])


def issued_by(ca_cert: x509.Certificate, directory: Path) -> list[x509.Certificate]:
    """The certificates of ``ca_cert`` in the folder: what the CA issued, read per request."""
    found = []
    for path in sorted(directory.glob("*.crt")) + sorted(directory.glob("*.pem")):
        try:
            found += [c for c in load_certificates(path) if signed_by(c, ca_cert)]
        except LabError:  # not a certificate file (a key, a damaged copy): nothing it issued
            continue
    return found


def run(args) -> int:
    ca = coursepki.load_ca(args.dir)
    signer = delegated_signer(ca)
    ca = CertificateAuthority(ca.cert, None)  # from here on, no CA key in this process
    record = Revocations.load(ca, args.dir / CRL_FILE)
    responder = OCSPResponder(
        record,
        signer,
        issued=lambda: issued_by(ca.cert, args.dir),
        host=args.host,
        port=args.port,
    ).start()
    return foreground(
        "ocsp",
        [
            f"OCSP responder for {ca.cert.subject.rfc4514_string()} on {responder.url} "
            f"({len(record)} revoked, from {show(args.dir / CRL_FILE)})",
            f"CRL distribution point: {responder.crl_url}",
            f"try:  {openssl_command(responder.url, args.dir)}",
            "Ctrl-C to stop",
        ],
        [
            lambda start: [
                f"answered serial {'-' if a.serial is None else f'{a.serial:x}'}: {a.status}"
                + (f" ({a.detail})" if a.detail else "")
                for a in responder.answers[start:]
            ],
            lambda start: [
                f"responder error: {e.splitlines()[0]}" for e in responder.errors[start:]
            ],
        ],
        responder,
    )
