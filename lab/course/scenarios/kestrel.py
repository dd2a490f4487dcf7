"""The guide's Kestrel callback, in Python: an issuer check that compares a name, not a key.

The guide configures Kestrel with::

    https.ClientCertificateValidation = (cert, chain, errors) =>
    {
        if (errors != SslPolicyErrors.None)
            return false;
        return cert.Issuer.Contains("YourRootCA");
    };

``errors == SslPolicyErrors.None`` means the chain reached a CA the server trusts: the
TLS layer's check, which ``MTLSServer(mode="require")`` already makes. The second
line is a substring test on the issuer's *name*. On an endpoint that trusts more than
one CA (a shared gateway, a partner's CA, every CA in an OS store), a CA called
``NotYourRootCA`` passes it. Names are labels anyone can choose; only the issuer's key
says who signed. :func:`issuer_name_check` is the guide's line, :func:`issuer_key_check`
the fix, both run in the request path of a real server.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from flask import Flask

from lab.auth.problem import problem
from lab.course.scenarios._kit import record_requests, shared_pki
from lab.course.scenarios._model import ScenarioResult, scenario
from lab.pki import CertificateAuthority
from lab.tls.identity import peer_certificate


def issuer_name_check(cert: x509.Certificate) -> bool:
    """The guide's ``cert.Issuer.Contains("YourRootCA")``, word for word."""
    return "YourRootCA" in cert.issuer.rfc4514_string()


def issuer_key_check(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    """The fix: was ``cert`` signed by *this* CA's key? (name match and signature, RFC 5280 6.1.3)."""
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def callback_app(check) -> tuple[Flask, list[str]]:
    """The guide's SecureController behind ``check(cert) -> bool``, run before every request."""
    from lab.course.demo import create_app

    app = create_app("kestrel-callback")

    @app.before_request
    def client_certificate_validation():
        cert = peer_certificate()
        if cert is None or not check(cert):
            return problem(
                403, "Client certificate refused", "refused by the certificate validation callback"
            )
        return None

    return app, record_requests(app)


def _call(check, identity, trust) -> tuple[object, str]:
    """One call through a server whose TLS layer trusts ``trust`` and whose app runs ``check``."""
    from lab.course import observe
    from lab.course.scenarios._kit import server_view
    from lab.tls.client import session
    from lab.tls.server import MTLSServer

    pki = shared_pki()
    app, record = callback_app(check)
    with MTLSServer(app, certificate=pki.server, trust=trust) as s:
        obs = observe.observe(
            s, lambda: session(identity, trust=pki.root).get(s.url + "/api/secure", timeout=10)
        )
        return obs, server_view(s, obs, record)


@scenario(
    "issuer-name-contains",
    "trust",
    "the guide's Kestrel callback (issuer name contains 'YourRootCA') on a server that trusts "
    "two CAs",
)
def issuer_name_contains() -> ScenarioResult:
    from lab.course.scenarios._kit import raw_error

    yours = CertificateAuthority.create("YourRootCA")
    theirs = CertificateAuthority.create("NotYourRootCA", organization="Partner Team")
    trusted = [yours, theirs]  # one endpoint, two CAs: SslPolicyErrors.None for both
    mallory = theirs.issue_client("mallory")
    obs, server_saw = _call(issuer_name_check, mallory, trusted)
    fixed, fixed_saw = _call(lambda cert: issuer_key_check(cert, yours.cert), mallory, trusted)
    return ScenarioResult(
        "issuer-name-contains",
        obs.client_saw,
        server_saw,
        obs.status,
        "issuer-name-check",
        "the TLS layer trusts both CAs, so the chain has no errors (SslPolicyErrors.None), and "
        "the callback's only other test is a substring of the issuer's name: "
        "'CN=NotYourRootCA,O=Partner Team' contains 'YourRootCA'. A name is a label the CA's "
        "owner chose; an exact comparison is no better, since another CA may carry the very "
        "same name",
        "compare the issuer's key, not its name: verify the signature with your CA's public "
        "key (cert.verify_directly_issued_by(ca), CertificateAuth(trust=your_ca); in .NET a "
        "custom root trust or a pinned CA thumbprint), or trust only your CA at the TLS layer",
        behaved=obs.status == 200 and fixed.status == 403,
        notes=[f"with the key check: {fixed.client_saw}"],
        client_error=raw_error(obs.client_error),
    )


#: This module's scenarios, in the order the catalogue lists them.
SCENARIOS = (issuer_name_contains,)
