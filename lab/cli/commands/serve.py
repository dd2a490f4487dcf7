"""``python -m lab serve``: the demo API over mTLS in the foreground, like the guide's Kestrel app.

Prints the URL and the exact curl command to call it (the guide's "How to
test"), logs every refused handshake as one line with OpenSSL's reason, and runs
until Ctrl-C. Missing certificates and a taken port are reported in one line.

``--behind-nginx`` builds the layout of notebook 07: the real nginx on ``--port``
verifies the client certificate and forwards it in ``X-SSL-Client-Cert``; the app
listens on another loopback port, accepts connections only from nginx's own client
certificate (issued in memory for this run by the course CA) and believes the header
only from it.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from lab.auth.forwarding import CertificateForwarding
from lab.auth.policies import subject_argument
from lab.cli.args import listen_options, pki_folder
from lab.cli.commands._foreground import curl_command, foreground
from lab.course import coursepki
from lab.course.demo import create_app
from lab.errors import ServerError
from lab.net import loopback_alias_available
from lab.proxy import NginxProxy
from lab.revocation import trusted_crl_file
from lab.tls.server import MTLSServer

#: serve's --mode, spelled as nginx's ssl_verify_client.
VERIFY_CLIENT = {"require": "on", "optional": "optional", "none": "off"}
PROXY_NAME = "mTLS Lab Proxy (nginx)"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve",
        help="run the demo API over mTLS until Ctrl-C",
        description="Serve the guide's SecureController (/api/secure answers 'Hello {subject}') "
        "over mutual TLS, with the course PKI.",
    )
    pki_folder(p)
    p.add_argument("--certs", dest="dir", type=Path, help=argparse.SUPPRESS)  # the old name
    listen_options(p, 5001, "TCP port (default 5001, as in the guide; 0 = any free)")
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
        help="check client certificates against this CRL at the handshake (e.g. certs/crl.pem; "
        "read once at start: restart after `pki revoke`)",
    )
    p.add_argument(
        "--allow-subject",
        action="append",
        type=subject_argument,
        metavar="NAME",
        help="only this client may call /api/secure: a CN (MyTrustedClient), or, when NAME starts "
        "with CN=, the whole RFC 4514 subject DN (CN=MyTrustedClient,O=mTLS Lab); repeatable",
    )
    p.add_argument(
        "--pin-thumbprint",
        action="append",
        metavar="SHA256",
        help="only the certificate with this SHA-256 thumbprint may call /api/secure (repeatable)",
    )
    p.add_argument(
        "--pin-spki",
        action="append",
        metavar="SHA256",
        help="only certificates with this SPKI SHA-256 pin (base64) may call /api/secure (repeatable)",
    )
    p.add_argument(
        "--behind-nginx",
        action="store_true",
        help="put the real nginx on --port in front (it terminates mTLS and forwards the "
        "certificate); the app listens on another loopback port, behind it",
    )
    p.set_defaults(func=run)


def build_app(args, **options):
    """The demo app with the authorization the flags ask for (and ``options``)."""
    return create_app(
        allow_subjects=args.allow_subject,
        pin_thumbprints=args.pin_thumbprint,
        pin_spki=args.pin_spki,
        **options,
    )


def run(args) -> int:
    course = coursepki.load(args.dir)
    # The --crl file as OpenSSL (or nginx, ssl_crl) may read it: only CRLs, each signed by
    # the course CA. A certificate inside a "CRL file" would become a trusted CA (OpenSSL
    # loads every object in it), a DER file would make OpenSSL fail without saying why, and
    # a folder is not a file: each is one clear line. The clean PEM copy lives in a
    # temporary folder for as long as the server runs.
    with tempfile.TemporaryDirectory(prefix="lab-crl-") as scratch:
        crl = args.crl and trusted_crl_file(args.crl, course.ca, scratch)
        # lab.auth's one-line authentication/authorization decisions, on stderr. Its logger
        # escapes control characters itself (lab.auth.text), so a subject or a path cannot
        # forge a line. Other loggers' warnings print as before: the message, on stderr.
        logging.basicConfig(format="%(message)s")
        logging.getLogger("lab.auth").setLevel(logging.INFO)
        tls = dict(
            certificate=course.server,
            trust=course.ca,
            host=args.host,
            min_version=args.min_tls,
            profile=args.tls_profile,
            raise_errors=False,
        )
        if args.behind_nginx:
            return _behind_nginx(args, course, crl, tls)
        server = MTLSServer(build_app(args), mode=args.mode, port=args.port, crl=crl, **tls)
        server.start()
        banner = f"mTLS demo API on {server.url} (client certificate: {args.mode})"
        return foreground(
            "serve",
            [banner, f"try:  {curl_command(server.url, args.dir)}", "Ctrl-C to stop"],
            [
                lambda start: [
                    f"refused handshake from {failure.peer}: {failure.reason}"
                    for failure in server.handshake_failures[start:]
                ],
                lambda start: [f"server error: {err}" for err in server.errors[start:]],
            ],
            server,
        )


def _behind_nginx(args, course, crl, tls: dict) -> int:
    proxy_identity = course.ca.issue_client(PROXY_NAME, days=1)
    ipv6 = ":" in args.host  # nginx then reaches the app over ::1, where no alias exists
    bind = "127.0.0.2" if not ipv6 and loopback_alias_available("127.0.0.2") else None
    source = CertificateForwarding(
        course.ca,
        trusted_proxies=[bind or ("::1" if ipv6 else "127.0.0.1")],
        proxy_certificate=proxy_identity,
    )
    app = MTLSServer(build_app(args, certificate_source=source), mode="require", port=0, **tls)
    app.start()
    try:
        proxy = NginxProxy(
            app,
            certificate=course.server,
            trust=course.ca,
            proxy_certificate=proxy_identity,
            crl=crl,
            verify_client=VERIFY_CLIENT[args.mode],
            proxy_bind=bind,
            min_tls=args.min_tls,
            tls_profile=args.tls_profile,
            host=args.host,
            port=args.port,
        ).start()
    except BaseException:
        app.stop()
        raise

    def refusals(start: int) -> list[str]:
        if not proxy.running:
            said = proxy.log_messages("emerg", "alert", "crit") or ["(nothing in its error log)"]
            raise ServerError(f"nginx exited unexpectedly: {said[-1]}")
        messages = proxy.log_messages("info")
        return [f"nginx refused a client: {m}" for m in messages if "certificate" in m][start:]

    return foreground(
        "serve",
        [
            f"nginx {proxy.url} terminates mTLS (ssl_verify_client {VERIFY_CLIENT[args.mode]})",
            f"app   {app.url} behind it: accepts only nginx's certificate ({PROXY_NAME}) and "
            "believes X-SSL-Client-Cert only from it",
            f"try:  {curl_command(proxy.url, args.dir)}",
            "Ctrl-C to stop both",
        ],
        [refusals, lambda start: [f"app error: {err}" for err in app.errors[start:]]],
        proxy,
        app,
    )
