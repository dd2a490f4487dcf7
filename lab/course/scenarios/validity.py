"""Time: certificates are valid between two instants, and clocks disagree.

An expired client certificate, one that is not valid yet (a clock running
behind, or a certificate issued "from tomorrow"), and an expired server
certificate. The side that checks the dates is the side that refuses.
"""

from __future__ import annotations

from lab.course.scenarios._kit import handshake_result, shared_pki
from lab.course.scenarios._model import ScenarioResult, scenario


@scenario("expired-client", "time", "the client certificate has expired")
def expired_client() -> ScenarioResult:
    pki = shared_pki()
    return handshake_result(
        "expired-client",
        identity=pki.root.issue_client("alice", expired=True),
        expect_server="certificate has expired",
        category="expired",
        cause="the client certificate's notAfter is in the past; the server checks the dates of every "
        "certificate in the chain during the handshake (in Kestrel the TLS layer's chain check, seen "
        "as RemoteCertificateChainErrors; AddCertificate's ValidateValidityPeriod checks them again "
        "per request)",
        fix="renew the client certificate before it expires (python -m lab pki issue NAME), and watch "
        "days left (python -m lab doctor)",
    )


@scenario(
    "not-yet-valid-client",
    "time",
    "the client certificate is not valid yet (clock skew, or issued in the future)",
)
def not_yet_valid_client() -> ScenarioResult:
    pki = shared_pki()
    return handshake_result(
        "not-yet-valid-client",
        identity=pki.root.issue_client("alice", not_yet_valid=True),
        expect_server="certificate is not yet valid",
        category="not-yet-valid",
        cause="the client certificate's notBefore is later than the server's clock: the issuing "
        "machine's clock runs ahead, or the server's runs behind",
        fix="sync the clocks (NTP) on issuer and server; issue certificates backdated by a few "
        "minutes, as CAs do (the lab backdates by 5)",
    )


@scenario("expired-server", "time", "the server certificate has expired")
def expired_server() -> ScenarioResult:
    pki = shared_pki()
    return handshake_result(
        "expired-server",
        identity=pki.alice,
        server_cert=pki.root.issue_server("localhost", "127.0.0.1", expired=True),
        expect_server="alert certificate expired",
        expect_client="certificate has expired",
        category="expired",
        cause="the server certificate's notAfter is in the past; the client refused it and told the "
        "server with a 'certificate expired' alert",
        fix="renew and deploy the server certificate (hot swap: MTLSServer.set_certificate, nginx "
        "reload); monitor days left so it never lapses",
    )


#: This module's scenarios, in the order the catalogue lists them.
SCENARIOS = (expired_client, not_yet_valid_client, expired_server)
