"""``python -m lab serve --behind-nginx``: the real nginx terminates mTLS, the demo app sits behind it.

Kept out of ``serve.py`` so the plain server stays short. The layout is the
one notebook 07 builds: nginx on ``--port`` verifies the client certificate and
forwards it in ``X-SSL-Client-Cert``; the app listens on another loopback port,
accepts connections only from nginx's own client certificate (issued in memory
for this run by the course CA) and believes the header only from it.
"""

from __future__ import annotations

import sys

from lab.auth.forwarding import CertificateForwarding
from lab.cli.commands._foreground import curl_command, until_stopped
from lab.proxy import NginxProxy, loopback_alias_available, parse_log
from lab.tls.server import MTLSServer

#: serve's --mode, spelled as nginx's ssl_verify_client.
VERIFY_CLIENT = {"require": "on", "optional": "optional", "none": "off"}
PROXY_NAME = "mTLS Lab Proxy (nginx)"


def run_behind_nginx(args, directory, course, build_app) -> int:
    proxy_identity = course.ca.issue_client(PROXY_NAME, days=1)
    ipv6 = ":" in args.host  # nginx then reaches the app over ::1, where no alias exists
    bind = "127.0.0.2" if not ipv6 and loopback_alias_available("127.0.0.2") else None
    source = CertificateForwarding(
        course.ca,
        trusted_proxies=[bind or ("::1" if ipv6 else "127.0.0.1")],
        proxy_certificate=proxy_identity,
    )
    args.app_options = {**args.app_options, "certificate_source": source}
    app = MTLSServer(
        build_app(args),
        certificate=course.server,
        trust=course.ca,
        mode="require",
        host=args.host,
        port=0,
        min_version=args.min_tls,
        raise_errors=False,
        profile=args.tls_profile,
    )
    app.start()
    proxy = NginxProxy(
        app,
        certificate=course.server,
        trust=course.ca,
        proxy_certificate=proxy_identity,
        verify_client=VERIFY_CLIENT[args.mode],
        crl=getattr(args, "crl", None),
        proxy_bind=bind,
        port=args.port,
        host=args.host,
        min_tls=args.min_tls,
        tls_profile=args.tls_profile,
    )
    try:
        proxy.start()
    except BaseException:
        app.stop()
        raise
    with until_stopped() as stop:
        try:
            print(
                f"nginx {proxy.url} terminates mTLS (ssl_verify_client {VERIFY_CLIENT[args.mode]})"
            )
            print(
                f"app   {app.url} behind it: accepts only nginx's certificate ({PROXY_NAME}) and "
                f"believes X-SSL-Client-Cert only from it"
            )
            print(f"try:  {curl_command(proxy.url, directory)}")
            print("Ctrl-C to stop both", flush=True)
            seen, reported = 0, 0
            while not stop.wait(0.5):
                lines = parse_log(proxy.error_log())
                for level, message in lines[seen:]:
                    if level == "info" and "certificate" in message:
                        print(f"nginx refused a client: {message}", file=sys.stderr, flush=True)
                seen = len(lines)
                for err in app.errors[reported:]:
                    print(f"app error: {err}", file=sys.stderr, flush=True)
                reported = len(app.errors)
                if not proxy.running:
                    print(
                        "nginx exited unexpectedly:\n" + proxy.error_log()[-2000:],
                        file=sys.stderr,
                        flush=True,
                    )
                    return 1
        finally:
            proxy.stop()
            app.stop()
            print("stopped", flush=True)
    return 0
