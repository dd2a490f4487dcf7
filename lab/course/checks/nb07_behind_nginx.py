"""Self-check for notebook 07's exercise: believe the certificate header only from the proxy's certificate."""

from __future__ import annotations

import re

from lab.course.check import report

#: The nginx server block the exercise's directive goes into: only what it needs.
_EXERCISE_BODY = """\
ssl_certificate        certs/server.crt;
ssl_certificate_key    certs/server.key;
ssl_client_certificate certs/client-ca.pem;
ssl_verify_client      on;

location / {{
    proxy_pass https://127.0.0.1:{port};
    proxy_ssl_trusted_certificate certs/client-ca.pem;
    proxy_ssl_verify              on;
    proxy_ssl_name                localhost;
    {directive}
}}"""


def _echo_app():
    """The app behind nginx: answers with the X-SSL-Client-Cert header it received, nothing else."""
    from flask import Flask, request

    from lab.proxy import CERT_HEADER

    app = Flask("nb07-directive")

    @app.get("/")
    def echo():
        return {"header": request.headers.get(CERT_HEADER)}

    return app


def exercise_forward_directive(directive, course):
    """Put ``directive`` into a real nginx ``location``, call it with the course client, read the app.

    Passes when the app receives ``X-SSL-Client-Cert`` holding the client's
    certificate as URL-encoded PEM (what :class:`CertificateForwarding` reads).
    """
    from lab.auth.forwarding import ForwardedCertificateError, parse_certificate_header
    from lab.proxy import CERT_HEADER, NginxError
    from lab.proxy.handwritten import HandWrittenNginx
    from lab.tls.client import session
    from lab.tls.contexts import trust_pem
    from lab.tls.server import MTLSServer

    if not isinstance(directive, str) or not directive.strip():
        return report(False, "", "write one nginx directive as a string: 'NAME ARGUMENTS;'")
    line = directive.strip()
    if "\n" in line or "{" in line or "}" in line or not line.endswith(";"):
        return report(False, "", "one directive on one line, ending with ';' (no blocks)")
    files = {
        "certs/server.crt": course.server.chain_pem,
        "certs/server.key": course.server.key_pem(),
        "certs/client-ca.pem": trust_pem(course.ca).encode(),
    }
    with MTLSServer(_echo_app(), certificate=course.server, trust=course.ca, mode="none") as app:
        nginx = HandWrittenNginx(_EXERCISE_BODY.format(port=app.port, directive=line), files)
        try:
            nginx.start()
        except NginxError:
            said = (nginx.log_messages("emerg") or ["(no message)"])[-1]
            said = re.sub(r" in \S*nginx\.conf:\d+$", "", said)
            return report(False, "", f"nginx refused to start with your line: {said}")
        try:
            r = session(course.client, trust=course.ca).get(nginx.url + "/", timeout=10)
        finally:
            nginx.stop()
    if r.status_code == 400:
        return report(
            False,
            "",
            "the app refused the request nginx sent (HTTP 400): a header value cannot hold the "
            "line breaks of a PEM certificate; which $ssl_client_* variable escapes them?",
        )
    if r.status_code != 200:
        return report(False, "", f"the call through nginx got HTTP {r.status_code}, not 200")
    value = r.json()["header"]
    if value is None:
        return report(
            False,
            "",
            f"the app received no {CERT_HEADER} header: which directive sets a header on the "
            "request nginx sends upstream (add_header only touches nginx's response)?",
        )
    try:
        cert = parse_certificate_header(value, "pem", CERT_HEADER)
    except ForwardedCertificateError:
        return report(
            False,
            "",
            f"the app got {CERT_HEADER}: {value[:40]!r}..., not a URL-encoded PEM certificate: "
            "which $ssl_client_* variable holds the whole certificate, escaped for a header?",
        )
    if cert != course.client.cert:
        return report(False, "", "the header holds a certificate, but not the caller's")
    return report(
        True,
        f"nginx forwards the verified certificate in {CERT_HEADER}; the app read back "
        "the caller's certificate",
        "",
    )
