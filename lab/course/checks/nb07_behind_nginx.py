"""Self-check for notebook 07's exercise: believe the certificate header only from the proxy's certificate."""

from __future__ import annotations

from lab.course.check import report


def exercise_only_the_proxy(source, course, proxy_identity):
    """Run ``source`` for real: behind nginx (must say Hello), and attacked directly (must refuse).

    The address check is deliberately useless here (nginx and the attacker both
    connect from 127.0.0.1), so only the proxy's certificate can tell them apart.
    """
    from lab.auth.forwarding import CertificateForwarding, create_app, header_value
    from lab.proxy import CERT_HEADER, NginxProxy
    from lab.tls.client import session
    from lab.tls.server import MTLSServer

    if source is None:
        return report(False, "", "build my_source with forwarding.CertificateForwarding(...)")
    if not isinstance(source, CertificateForwarding):
        return report(False, "", "my_source should be a forwarding.CertificateForwarding")
    victim = course.ca.issue_client("admin")
    forged = {CERT_HEADER: header_value(victim)}
    with MTLSServer(
        create_app(source, "nb07-exercise"),
        certificate=course.server,
        trust=course.ca,
        mode="optional",
    ) as app:
        with NginxProxy(
            app, certificate=course.server, trust=course.ca, proxy_certificate=proxy_identity
        ) as nginx:
            through = session(course.client, trust=course.ca).get(
                nginx.url + "/api/secure", timeout=10
            )
        anonymous = session(None, trust=course.ca).get(
            app.url + "/api/secure", headers=forged, timeout=10
        )
        insider = session(course.client, trust=course.ca).get(
            app.url + "/api/secure", headers=forged, timeout=10
        )
    if through.status_code != 200 or "MyTrustedClient" not in through.text:
        return report(
            False,
            "",
            f"a real client through nginx got {through.status_code} "
            f"({through.text[:100]}); nginx connects from 127.0.0.1: is it in trusted_proxies?",
        )
    if anonymous.status_code == 200:
        return report(
            False,
            "",
            "a caller with no certificate, straight to the app, got in with a forged header: "
            "the address cannot tell it from nginx here; what else does nginx have?",
        )
    if insider.status_code == 200:
        return report(
            False,
            "",
            "a caller with its own valid certificate, straight to the app, became 'admin' "
            "with a forged header: pin the proxy's certificate, not just any certificate",
        )
    return report(
        True,
        "only nginx's own certificate can forward a client certificate: through nginx 200, "
        "forged headers straight to the app 403",
        "",
    )
