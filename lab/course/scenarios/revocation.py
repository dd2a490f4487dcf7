"""Revocation scenarios: a revoked client certificate gets in until someone checks.

Why it is in the catalogue: revocation is a list the CA publishes, not a
property of the certificate. A server that does not read the list (the guide's
``CheckCertificateRevocation = false``, Python's ``ssl`` default) accepts a
revoked certificate exactly like a good one. The scenario shows both halves on
real servers: accepted without a CRL, refused at the handshake with one.
"""

from __future__ import annotations

import functools

from lab import housekeeping
from lab.course import observe
from lab.course.demo import create_app
from lab.course.scenarios._model import ScenarioResult, scenario
from lab.pki import CertificateAuthority
from lab.revocation import Revocations
from lab.tls.client import session
from lab.tls.server import MTLSServer


@functools.lru_cache(maxsize=1)
def _pki():
    """A CA, a server, and a client whose key "was stolen": made once per process."""
    ca = CertificateAuthority.create("Scenario Revocation CA")
    return ca, ca.issue_server("localhost", "127.0.0.1"), ca.issue_client("stolen-laptop")


@scenario(
    "revoked-client-certificate",
    "trust",
    "a revoked client certificate is accepted until the server checks the CRL",
)
def revoked_client_certificate() -> ScenarioResult:
    ca, server_cert, client_cert = _pki()
    record = Revocations(ca)
    record.revoke(client_cert, "keyCompromise")
    tmp = housekeeping.temporary_folder("revocation")
    try:
        crl = record.write_crl(tmp / "crl.pem")

        def call(s):
            return lambda: session(client_cert, trust=ca).get(s.url + "/api/secure", timeout=10)

        with MTLSServer(create_app("scenario-revocation"), certificate=server_cert, trust=ca) as s:
            unchecked = observe.observe(s, call(s))
        with MTLSServer(
            create_app("scenario-revocation"), certificate=server_cert, trust=ca, crl=crl
        ) as s:
            checked = observe.observe(s, call(s))
    finally:
        housekeeping.remove_folder(tmp)
    behaved = unchecked.status == 200 and "certificate revoked" in checked.server_saw
    return ScenarioResult(
        "revoked-client-certificate",
        checked.client_saw,
        checked.server_saw,
        checked.status,
        "revoked",
        "the client certificate is on its CA's CRL (keyCompromise); without a revocation check the "
        "same certificate was accepted",
        "load the CA's CRL into the server (MTLSServer(crl=...), `serve --crl certs/crl.pem`, nginx "
        "ssl_crl) or check OCSP in the app; keep the CRL fresh (a stale one refuses everybody)",
        behaved=behaved,
        notes=[f"without a CRL: {unchecked.client_saw}"],
        client_error=(
            f"{type(checked.client_error).__name__}: {observe.scrub(str(checked.client_error))}"
            if checked.client_error
            else ""
        ),
    )


#: This module's scenarios, in the order the catalogue lists them.
SCENARIOS = (revoked_client_certificate,)
