"""Self-check for notebook 07's exercise: the payments API's nginx ``server`` block, run for real.

The learner writes the whole body a team would put in ``nginx.conf`` for a second app;
the check runs it with the real nginx in front of a small app that reports the headers it
received, and calls it as three different clients. Each hint names the requirement that
failed and where to look, never the directive itself.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from flask import Flask, request

from lab.course.check import hint, passed
from lab.pki import CertificateAuthority
from lab.proxy import Nginx, NginxError
from lab.tls.client import session
from lab.tls.server import MTLSServer

HEADERS = APP_HEADER, OTHER_HEADER = "X-Client-Cert", "X-SSL-Client-Cert"


def _headers_app() -> Flask:
    """The payments app: answers with the two certificate headers it received (or null)."""
    app = Flask("nb07-payments")
    app.add_url_rule("/", "echo", lambda: {h: request.headers.get(h) for h in HEADERS})
    return app


def _calls(body: str, course) -> dict:
    """Run ``body`` in nginx in front of the app; each caller's response, or nginx's refusal."""
    stranger = CertificateAuthority.create("Unknown Corp Root CA").issue_client("MyTrustedClient")
    callers = {"none": None, "stranger": stranger, "client": course.client}
    files = {
        "certs/server.crt": course.server.chain_pem,
        "certs/server.key": course.server.key_pem(),
        "certs/rootCA.pem": course.ca_file.read_bytes(),
    }
    with MTLSServer(_headers_app(), tls=False) as app:  # plain HTTP behind nginx, as in 07
        nginx = Nginx(body.replace("APP_URL", f"http://127.0.0.1:{app.port}"), files)
        try:
            with nginx:
                return {
                    name: session(who, trust=course.ca).get(
                        nginx.url + "/", headers={OTHER_HEADER: "forged"}, timeout=10
                    )
                    for name, who in callers.items()
                }
        except NginxError:
            said = (nginx.log_messages("emerg") or ["(no message)"])[-1]
            return {"error": re.sub(r" in \S*nginx\.conf:\d+$", "", said)}


def exercise_forward_directive(body, course):
    """The payments nginx: requires a course certificate, answers 496 without one, forwards
    the certificate in ``X-Client-Cert`` and never lets a client's ``X-SSL-Client-Cert`` through.
    """
    if not isinstance(body, str) or "proxy_pass APP_URL;" not in body:
        return hint("write the server body as a string, with 'proxy_pass APP_URL;'")
    r = _calls(body, course)
    if "error" in r:
        return hint(f"nginx refused to start with your configuration: {r['error']}")
    if r["none"].status_code != 496:
        return hint(
            f"a caller without a certificate got {r['none'].status_code}, not 496: which directive "
            "makes nginx require one, and which turns its default 400 into 496 (section 3)?"
        )
    if r["stranger"].status_code == 200 or r["client"].status_code != 200:
        return hint(
            f"a certificate from another CA got {r['stranger'].status_code}, the course client "
            f"{r['client'].status_code}: which file says which CAs may vouch for clients?"
        )
    got = r["client"].json()
    if got[OTHER_HEADER] is not None:
        return hint(
            f"the client's own {OTHER_HEADER} header reached the app "
            f"({got[OTHER_HEADER]!r}): proxy_set_header replaces only the names it sets"
        )
    if unquote(got[APP_HEADER] or "") != course.client.cert_pem.decode():
        return hint(
            f"the app got {APP_HEADER}: {str(got[APP_HEADER])[:40]!r}, "
            "not the caller's certificate as URL-encoded PEM"
        )
    return passed(
        "the payments nginx requires a course certificate, answers 496 "
        f"without one, forwards it in {APP_HEADER} and drops a client's {OTHER_HEADER}"
    )
