"""Usage: a certificate says what it is for (Extended Key Usage, the CA flag).

A client certificate that is only good for serverAuth, a CA certificate used as
a client identity, and a server certificate that is only good for clientAuth.
OpenSSL enforces the EKU, but it does NOT refuse a CA certificate as a client
identity when the CA's Key Usage includes digitalSignature (the lab's roots do):
that one needs a stricter check in the application.
"""

from __future__ import annotations

from lab.course.scenarios._kit import handshake_result, shared_pki
from lab.course.scenarios._model import ScenarioResult, scenario
from lab.pki import IssuedCertificate
from lab.pki.verify import verify_chain


@scenario(
    "serverauth-only-client-eku",
    "usage",
    "the client certificate's Extended Key Usage allows serverAuth only",
)
def serverauth_only_client() -> ScenarioResult:
    pki = shared_pki()
    return handshake_result(
        "serverauth-only-client-eku",
        identity=pki.root.issue_client("alice", eku=["serverAuth"]),
        expect_server="unsuitable certificate purpose",
        category="wrong-purpose",
        cause="the client certificate's EKU says serverAuth only; OpenSSL checks the 'SSL client' "
        "purpose when a server verifies a client, and refuses it (as Kestrel's "
        "ValidateCertificateUse would)",
        fix="issue client certificates with EKU clientAuth (extendedKeyUsage=clientAuth in the openssl "
        "extfile; the lab's issue_client does it)",
    )


@scenario(
    "ca-cert-as-client",
    "usage",
    "the root CA certificate and key are used as a client identity (curl --cert rootCA.pem)",
)
def ca_cert_as_client() -> ScenarioResult:
    pki = shared_pki()
    root_as_client = IssuedCertificate(pki.root.cert, pki.root.key, [])
    strict = verify_chain(root_as_client.cert, pki.root, purpose="client")
    result = handshake_result(
        "ca-cert-as-client",
        identity=root_as_client,
        expect_server="handshake ok",
        category="ca-as-leaf",
        cause="OpenSSL ACCEPTED the handshake: the root is its own trust anchor, it has no EKU, and "
        "its Key Usage includes digitalSignature, which is all OpenSSL's 'SSL client' purpose check "
        "looks at (a root with only keyCertSign and cRLSign fails it: 'unsuitable certificate "
        "purpose'). Only checks in the application refuse it reliably: lab.auth (its reason is in "
        f"the server's record) and lab.pki.verify.verify_chain, which says: {strict.reason}",
        fix="authenticate in the app too (lab.auth, ASP.NET's AddCertificate), refuse CA:TRUE client "
        "certificates (lab.pki.verify.verify_chain), authorize named leaves only, keep CA keys off clients",
    )
    result.behaved = result.behaved and result.status == 403 and not strict.ok
    return result


@scenario(
    "server-cert-clientauth-only-eku",
    "usage",
    "the server certificate's Extended Key Usage allows clientAuth only",
)
def server_clientauth_only() -> ScenarioResult:
    pki = shared_pki()
    return handshake_result(
        "server-cert-clientauth-only-eku",
        identity=pki.alice,
        server_cert=pki.root.issue_server("localhost", "127.0.0.1", eku=["clientAuth"]),
        expect_server="alert unsupported certificate",
        expect_client="unsuitable certificate purpose",
        category="wrong-purpose",
        cause="the server certificate's EKU says clientAuth only; the client checks the 'SSL server' "
        "purpose and refuses it, then tells the server with an 'unsupported certificate' alert",
        fix="issue server certificates with EKU serverAuth (the lab's issue_server does it); one "
        "certificate for both roles needs both EKUs, which is better avoided",
    )


#: This module's scenarios, in the order the catalogue lists them.
SCENARIOS = (serverauth_only_client, ca_cert_as_client, server_clientauth_only)
