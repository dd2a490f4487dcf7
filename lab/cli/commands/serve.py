"""``python -m lab serve``: the demo API over mTLS in the foreground, like the guide's Kestrel app.

Prints the URL and the exact curl command to call it (the guide's "How to
test"), logs every refused handshake as one line with OpenSSL's reason, and runs
until Ctrl-C. Missing certificates and a taken port are reported in one line.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import tempfile
from pathlib import Path

from lab.auth.policies import subject_argument
from lab.auth.text import printable
from lab.cli.args import port
from lab.cli.commands._foreground import curl_command, until_stopped
from lab.course import coursepki
from lab.course.demo import create_app
from lab.errors import MissingFileError
from lab.paths import certs_dir, show
from lab.revocation import trusted_crl_file
from lab.tls.server import MTLSServer


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve",
        help="run the demo API over mTLS until Ctrl-C",
        description="Serve the guide's SecureController (/api/secure answers 'Hello {subject}') "
        "over mutual TLS, with the course PKI.",
    )
    p.add_argument("--dir", type=Path, default=None, help="the PKI folder (default: certs/)")
    p.add_argument("--certs", dest="dir", type=Path, help=argparse.SUPPRESS)  # the old name
    p.add_argument(
        "--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)"
    )
    p.add_argument(
        "--port",
        type=port,
        default=5001,
        help="TCP port (default 5001, as in the guide; 0 = any free)",
    )
    p.add_argument(
        "--mode",
        choices=["require", "optional", "none"],
        default="require",
        help="client certificate: require (Kestrel RequireCertificate), optional "
        "(AllowCertificate) or none (NoCertificate)",
    )
    p.add_argument("--min-tls", choices=["1.2", "1.3"], default="1.2", help="minimum TLS version")
    p.add_argument(
        "--tls-profile",
        choices=["intermediate", "modern"],
        default="intermediate",
        help="Mozilla's TLS profile: intermediate (TLS 1.2 with AEAD suites, and 1.3) or "
        "modern (TLS 1.3 only); see lab/tls/policy.py",
    )
    p.add_argument(
        "--crl",
        type=Path,
        default=None,
        help="check client certificates against this CRL at the handshake (e.g. certs/crl.pem; "
        "read once at start: restart after `pki revoke`)",
    )
    p.add_argument(
        "--allow-subject",
        action="append",
        default=None,
        type=subject_argument,
        metavar="NAME",
        help="only this client may call /api/secure: a CN (MyTrustedClient), or, when NAME starts "
        "with CN=, the whole RFC 4514 subject DN (CN=MyTrustedClient,O=mTLS Lab); repeatable",
    )
    p.add_argument(
        "--pin-thumbprint",
        action="append",
        default=None,
        metavar="SHA256",
        help="only the certificate with this SHA-256 thumbprint may call /api/secure (repeatable)",
    )
    p.add_argument(
        "--pin-spki",
        action="append",
        default=None,
        metavar="SHA256",
        help="only certificates with this SPKI SHA-256 pin (base64) may call /api/secure (repeatable)",
    )
    p.add_argument(
        "--behind-nginx",
        action="store_true",
        help="put the real nginx on --port in front (it terminates mTLS and forwards the "
        "certificate); the app listens on another loopback port, behind it",
    )
    p.set_defaults(func=run, app_options={})


def load_course(directory: Path):
    """The course PKI; a missing file is reported with the command that creates it."""
    try:
        return coursepki.load(directory)
    except MissingFileError as exc:
        if "pki init" in str(exc):
            raise
        raise MissingFileError(
            f"{exc}; recreate the PKI with: python -m lab pki init --dir {show(directory)} --force"
        ) from None


def build_app(args):
    """The demo app with whatever options the flags ask for (extended by later modules)."""
    options = dict(args.app_options)
    for flag, option in (
        ("allow_subject", "allow_subjects"),
        ("pin_thumbprint", "pin_thumbprints"),
        ("pin_spki", "pin_spki"),
    ):
        if getattr(args, flag, None):
            options[option] = getattr(args, flag)
    return create_app(**options)


@contextlib.contextmanager
def checked_crl(args, trust):
    """The --crl file as OpenSSL (or nginx) may read it: only CRLs, each signed by ``trust``.

    A certificate inside a "CRL file" would become a trusted CA (OpenSSL loads every
    object in it), a DER file would make OpenSSL fail without saying why, and a folder
    is not a file: each is one clear line. The clean PEM copy lives in a temporary
    folder for as long as the server runs.
    """
    if getattr(args, "crl", None) is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="lab-crl-") as scratch:
        yield trusted_crl_file(args.crl, trust, scratch)


def show_decisions() -> None:
    """Print lab.auth's one-line authentication/authorization decisions on stderr.

    The lab.auth logger escapes control characters itself (lab.auth.text), so a subject
    or a path cannot forge a line here.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    auth_log = logging.getLogger("lab.auth")
    auth_log.addHandler(handler)
    auth_log.setLevel(logging.INFO)
    auth_log.propagate = False


def run(args) -> int:
    directory = args.dir or certs_dir()
    course = load_course(directory)
    with checked_crl(args, course.ca) as crl:
        args.crl = crl  # serve --behind-nginx hands nginx (ssl_crl) the checked copy too
        show_decisions()
        if getattr(args, "behind_nginx", False):
            # here, not at the top: only --behind-nginx needs nginx (lab.proxy)
            from lab.cli.commands._serve_nginx import run_behind_nginx

            return run_behind_nginx(args, directory, course, build_app)
        return _serve(args, directory, course)


def _serve(args, directory: Path, course) -> int:

    def log_failure(failure):
        print(
            printable(f"refused handshake from {failure.peer}: {failure.reason}"),
            file=sys.stderr,
            flush=True,
        )

    server = MTLSServer(
        build_app(args),
        certificate=course.server,
        trust=course.ca,
        mode=args.mode,
        host=args.host,
        port=args.port,
        min_version=args.min_tls,
        crl=args.crl,
        profile=args.tls_profile,
        on_handshake_failure=log_failure,
        raise_errors=False,
    )
    server.start()
    with until_stopped() as stop:
        try:
            print(f"mTLS demo API on {server.url} (client certificate: {args.mode})")
            print(f"try:  {curl_command(server.url, directory)}")
            print("Ctrl-C to stop", flush=True)
            reported = 0
            while not stop.wait(0.5):
                for err in server.errors[reported:]:
                    print(printable(f"server error: {err}"), file=sys.stderr, flush=True)
                reported = len(server.errors)
        finally:
            server.stop()
            print("stopped", flush=True)
    return 0
