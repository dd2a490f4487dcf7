"""Self-check for notebook 03's exercise: a requests session built by hand from client.pfx.

Real calls only: the course server must answer with the .pfx's subject, and a
server whose certificate comes from another CA must be refused, also while
``REQUESTS_CA_BUNDLE`` names that other CA. Afterwards, the context must still
trust the course CA alone (requests' own ``cert_verify`` would have added its
CA bundle to it). Each failure gets its own hint.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path
from unittest import mock

import requests

from lab.course.check import hint, passed
from lab.course.demo import create_app
from lab.course.observe import client_view
from lab.pki import CertificateAuthority
from lab.tls.client import MTLSSession
from lab.tls.server import MTLSServer

EXPECTED = "Hello CN=MyTrustedClient,O=mTLS Lab"


def exercise_pfx_by_hand(sess, course) -> bool:
    """The session presents client.pfx, trusts only the course CA, and ignores the environment."""
    if not isinstance(sess, requests.Session):
        return hint("pass a requests.Session with your adapter mounted on https://")
    if isinstance(sess, MTLSSession):
        return hint("that is client.session's work: this time build the context and adapter")
    other_ca = CertificateAuthority.create("Exercise Other CA")
    with tempfile.TemporaryDirectory() as tmp, mock.patch.dict(os.environ):
        bundle = Path(tmp) / "other-ca.pem"
        bundle.write_bytes(other_ca.cert_pem)
        os.environ["REQUESTS_CA_BUNDLE"] = os.environ["CURL_CA_BUNDLE"] = str(bundle)
        with MTLSServer(create_app(), certificate=course.server, trust=course.ca) as real:
            before = len(real.handshake_failures)
            try:
                answer = sess.get(real.url + "/api/secure", timeout=10).text
            except Exception as exc:  # the failure decides the hint
                return hint(_hint_for_a_refused_call(sess, exc, real, before))
        other = other_ca.issue_server("localhost", "127.0.0.1")
        with MTLSServer(create_app(), certificate=other, mode="none") as impostor:
            try:
                sess.get(impostor.url + "/api/public", timeout=10)
                accepted_impostor = True
            except Exception:  # refusing the impostor is the goal
                accepted_impostor = False
    if answer != EXPECTED:
        return hint(f"the server answered {answer!r}: present the .pfx's certificate")
    if accepted_impostor:
        return hint(
            "a server from another CA was accepted while REQUESTS_CA_BUNDLE named that CA: "
            "the environment reached your session (trust_env)"
        )
    anchors = _anchors(sess)
    if anchors is None:
        return hint(
            "mount an adapter that hands your SSLContext to the pool manager "
            "(init_poolmanager(..., ssl_context=...)); plain cert= cannot open a .pfx"
        )
    if anchors > 1:
        return hint(
            f"after one call your context trusts {anchors} CAs: requests added its own bundle "
            "to it; which adapter method does that?"
        )
    return passed(
        "your session presents the .pfx, trusts only the course CA, ignores the environment"
    )


def _hint_for_a_refused_call(sess, exc, real, before: int) -> str:
    seen = client_view(exc)
    if seen.startswith("certificate verify failed") and sess.trust_env:
        return (
            "your client refused the course server while REQUESTS_CA_BUNDLE named another CA: "
            "the environment replaced your trust (trust_env)"
        )
    if seen.startswith("certificate verify failed"):
        return f"your client refused the course server ({seen}): does your context trust it?"
    failure = real.wait_for_handshake_failure(after=before, timeout=3)
    if failure is not None and "did not return a certificate" in failure.reason:
        return (
            "the server got no client certificate: load the key and certificate from the .pfx "
            "into the context (ssl reads PEM files only)"
        )
    if failure is not None:
        return f"the server refused your certificate: {failure.reason}"
    return f"the call failed: {seen}"


def _anchors(sess) -> int | None:
    """How many CAs the context mounted on ``https://`` trusts, if there is one to ask."""
    adapter = sess.get_adapter("https://localhost/")
    manager = getattr(adapter, "poolmanager", None)
    ctx = getattr(manager, "connection_pool_kw", {}).get("ssl_context")
    return len(ctx.get_ca_certs()) if isinstance(ctx, ssl.SSLContext) else None
