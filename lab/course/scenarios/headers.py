"""Headers: the certificate arrives in an HTTP header, and anyone can write a header.

Behind a TLS-terminating proxy the app reads the client certificate from a
header the proxy sets (nginx ``$ssl_client_escaped_cert``). An app that believes
that header from any caller is open to anyone who reaches it directly: the
caller needs no key, only the victim's *public* certificate.
"""

from __future__ import annotations

from lab.auth.forwarding import (
    CertificateForwarding,
    header_value,
    trust_header_from_anyone,
)
from lab.course import observe
from lab.course.demo import behind_proxy
from lab.course.scenarios._kit import raw_error, record_requests, shared_pki
from lab.course.scenarios._model import ScenarioResult, scenario
from lab.proxy import CERT_HEADER
from lab.tls.client import session
from lab.tls.server import MTLSServer

#: nginx connects from here in the lab (proxy_bind); the attacker connects from 127.0.0.1.
PROXY_ADDRESS = "127.0.0.2"


def _attack(source):
    """A caller with NO client certificate sends alice's public certificate in the header."""
    pki = shared_pki()
    app = behind_proxy(source, "scenario-forwarded")
    record = record_requests(app)
    forged = {CERT_HEADER: header_value(pki.alice)}
    with MTLSServer(app, certificate=pki.server, trust=pki.root, mode="none") as s:
        obs = observe.observe(
            s,
            lambda: session(None, trust=pki.root).get(
                s.url + "/api/secure", headers=forged, timeout=10
            ),
        )
    return obs, (f"handshake ok; {record[-1]}" if record else obs.server_saw)


@scenario(
    "forged-client-certificate-header",
    "application",
    "a caller without a certificate forges the header a proxy would set, straight to the app",
)
def forged_header() -> ScenarioResult:
    pki = shared_pki()
    naive, naive_saw = _attack(trust_header_from_anyone())
    strict, strict_saw = _attack(CertificateForwarding(pki.root, trusted_proxies=[PROXY_ADDRESS]))
    fooled = naive.status == 200 and naive.body == "Hello CN=alice,O=mTLS Lab"
    refused = strict.status == 403 and "not a trusted proxy" in strict.body
    return ScenarioResult(
        "forged-client-certificate-header",
        naive.client_saw,
        naive_saw,
        naive.status,
        category="forged-header",
        cause="the app believes the X-SSL-Client-Cert header from anyone; the caller had no certificate "
        "and no key, only alice's public certificate (certificates are not secrets), and the app "
        "answered as if alice had called. Re-validating the certificate cannot catch it: it is "
        "alice's real certificate",
        fix="accept the header only from the proxy (lab.auth.forwarding.CertificateForwarding with "
        "trusted_proxies, better also proxy_certificate: nginx proxy_ssl_certificate), let nothing "
        "but the proxy reach the app, and have the proxy overwrite or clear every certificate header",
        behaved=fooled and refused,
        notes=[f"with lab.auth.forwarding: {strict.client_saw}"],
        client_error=raw_error(naive.client_error),
    )


#: This module's scenarios, in the order the catalogue lists them.
SCENARIOS = (forged_header,)
