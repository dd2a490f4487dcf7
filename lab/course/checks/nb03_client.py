"""Self-check for notebook 03's exercise: a requests session built by hand from client.pfx.

Real calls only: the course server must let the session in, and a server whose
certificate comes from another CA must be refused, also while ``REQUESTS_CA_BUNDLE``
names that other CA. Afterwards, the context must still trust the course CA alone
(requests' own ``cert_verify`` would have added its CA bundle to it).
"""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path
from unittest import mock

import requests

from lab.course.check import CheckResult, hint, passed
from lab.course.demo import create_app
from lab.course.observe import observe
from lab.pki import CertificateAuthority
from lab.tls.client import MTLSSession
from lab.tls.server import MTLSServer


def exercise_pfx_by_hand(sess, course) -> CheckResult:
    """The session presents client.pfx, trusts only the course CA, and ignores the environment."""
    if not isinstance(sess, requests.Session) or isinstance(sess, MTLSSession):
        return hint("pass the requests.Session you built, your adapter mounted on https://")
    other_ca = CertificateAuthority.create("Exercise Other CA")
    with tempfile.TemporaryDirectory() as tmp, mock.patch.dict(os.environ):
        bundle = Path(tmp) / "other-ca.pem"
        bundle.write_bytes(other_ca.cert_pem)
        os.environ["REQUESTS_CA_BUNDLE"] = os.environ["CURL_CA_BUNDLE"] = str(bundle)
        with MTLSServer(create_app(), certificate=course.server, trust=course.ca) as real:
            seen = observe(real, lambda: sess.get(real.url + "/api/secure", timeout=10))
        impostor = other_ca.issue_server("localhost")
        with MTLSServer(create_app(), certificate=impostor, mode="none") as fake:
            fooled = observe(fake, lambda: sess.get(fake.url + "/api/public", timeout=10)).ok
    if "did not return a certificate" in seen.server_saw:
        return hint(
            "the server got no client certificate: load the key and certificate from the .pfx "
            "into the context (ssl reads PEM files only)"
        )
    if not seen.ok:
        return hint(
            f"the call to the course server failed ({seen.client_saw}): does your context trust it?"
        )
    if fooled:
        why = "the environment reached your session (trust_env)" if sess.trust_env else "verify it"
        return hint(
            f"a server from another CA got in while REQUESTS_CA_BUNDLE named that CA: {why}"
        )
    # how many CAs the context mounted on https:// trusts, if there is one to ask
    manager = getattr(sess.get_adapter("https://localhost/"), "poolmanager", None)
    ctx = getattr(manager, "connection_pool_kw", {}).get("ssl_context")
    anchors = len(ctx.get_ca_certs()) if isinstance(ctx, ssl.SSLContext) else None
    if anchors is None:
        return hint(
            "mount an adapter that hands your SSLContext to the pool manager "
            "(init_poolmanager(..., ssl_context=...)); plain cert= cannot open a .pfx"
        )
    if anchors > 1:
        added = (
            "the environment's (trust_env)" if sess.trust_env else "its own: which adapter method?"
        )
        return hint(f"after one call your context trusts {anchors} CAs: requests added {added}")
    return passed(
        "your session presents the .pfx, trusts only the course CA, ignores the environment"
    )
