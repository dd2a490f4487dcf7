"""OCSP for real: a client that verifies before it believes, the checker for :mod:`lab.auth`, and the responder.

Why OCSP as well as CRLs: a CRL grows with every revocation and is fetched whole;
OCSP asks about *one* certificate and gets a small signed answer ("good",
"revoked" or "unknown") valid until its nextUpdate. The price is a network call
on the verification path, so every OCSP client must decide what to do when the
responder does not answer: **hard-fail** or **soft-fail** (:class:`OCSPChecker`).

Verified means: the signature (by the CA, or by a responder the CA delegated to with
EKU OCSPSigning), the certificate id, the nonce (a different one is a replay) and
freshness (nextUpdate). Anything less is :class:`OCSPUnavailable`. The responder
lives in :mod:`~lab.revocation.ocsp_responder` and is re-exported here.
"""

from __future__ import annotations

import datetime as _dt
import os
import threading
from dataclasses import dataclass
from typing import Callable

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509 import ocsp

from lab.errors import LabError
from lab.pki.certinfo import eku_names
from lab.pki.fields import utcnow
from lab.pki.verify import signed_by
from lab.revocation.crl import ocsp_urls, reason_name

# The responder lives in its own module; notebooks and the CLI import it from here.
from lab.revocation.ocsp_responder import OCSPResponder as OCSPResponder
from lab.revocation.ocsp_responder import delegated_signer as delegated_signer
from lab.revocation.ocsp_responder import issuer_hashes

OCSP_REQUEST = "application/ocsp-request"


class OCSPUnavailable(LabError, ConnectionError):
    """No usable OCSP answer: responder down, malformed or unverifiable response."""


@dataclass(frozen=True)
class OCSPResult:
    """A verified OCSP answer about one certificate."""

    status: str  # good, revoked, unknown
    reason: str | None
    this_update: _dt.datetime
    next_update: _dt.datetime | None

    def __str__(self) -> str:
        return self.status + (f" ({self.reason})" if self.status == "revoked" else "")


def query(cert, issuer, url: str | None = None, *, clock=None):
    """Ask the OCSP responder about ``cert`` and verify the answer before believing it.

    The request names ``cert`` by a SHA-1 certificate id (what every responder reads)
    and carries a fresh nonce. ``url`` defaults to the certificate's AIA OCSP URL. Raises
    :class:`OCSPUnavailable` when there is no usable answer (responder down,
    error status, bad signature, wrong certificate, stale answer, nonce mismatch).
    """
    cert, issuer = getattr(cert, "cert", cert), getattr(issuer, "cert", issuer)
    url = url or next(iter(ocsp_urls(cert)), None)
    if not url:
        raise OCSPUnavailable("the certificate names no OCSP responder (no AIA OCSP URL)")
    sent_nonce = os.urandom(16)
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
    request = request.add_extension(x509.OCSPNonce(sent_nonce), critical=False).build()
    with requests.Session() as http:
        http.trust_env = False  # loopback, plain HTTP: no proxies, no CA bundle from the env
        try:
            r = http.post(
                url,
                data=request.public_bytes(serialization.Encoding.DER),
                headers={"Content-Type": OCSP_REQUEST},
                timeout=2.0,
            )
        except requests.RequestException as exc:
            why = "timed out" if isinstance(exc, requests.Timeout) else type(exc).__name__
            if isinstance(exc, requests.ConnectionError) and "refused" in str(exc):
                why = "connection refused"
            raise OCSPUnavailable(f"the OCSP responder did not answer ({why})") from None
    if r.status_code != 200:
        raise OCSPUnavailable(f"the OCSP responder answered HTTP {r.status_code}")
    return parse_response(r.content, cert, issuer, sent_nonce, clock=clock)


def parse_response(der: bytes, cert, issuer, nonce: bytes | None = None, *, clock=None):
    """Verify a DER OCSP response about ``cert`` and return it as an :class:`OCSPResult`.

    The answer comes from the network: whatever cryptography cannot read in it (a field
    it parses lazily, an unknown algorithm) is :class:`OCSPUnavailable` too, so the
    checker's hard/soft-fail decides, never a stray exception.
    """
    try:
        resp = ocsp.load_der_ocsp_response(der)
        if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            raise OCSPUnavailable(f"the OCSP responder answered {resp.response_status.name}")
        signer = _responder_certificate(resp, issuer)
        if not _signature_ok(signer.public_key(), resp):
            raise OCSPUnavailable("the OCSP answer's signature does not verify")
        about = (resp.serial_number, resp.issuer_name_hash, resp.issuer_key_hash)
        if about != (cert.serial_number, *issuer_hashes(issuer, resp.hash_algorithm)):
            raise OCSPUnavailable("the OCSP answer is about a different certificate")
        echoed = [e.value.nonce for e in resp.extensions if isinstance(e.value, x509.OCSPNonce)]
        if nonce is not None and echoed and echoed[0] != nonce:  # absent is allowed (RFC 9654)
            raise OCSPUnavailable("the OCSP answer carries another request's nonce (a replay?)")
        now = (clock or utcnow)()
        if resp.next_update_utc is not None and now >= resp.next_update_utc:
            raise OCSPUnavailable("the OCSP answer is stale (its nextUpdate has passed)")
        status = resp.certificate_status.name.lower()  # good, revoked, unknown
        reason = reason_name(resp.revocation_reason) if status == "revoked" else None
        return OCSPResult(status, reason, resp.this_update_utc, resp.next_update_utc)
    except (ValueError, TypeError, UnsupportedAlgorithm, x509.InvalidVersion) as exc:
        raise OCSPUnavailable(f"the OCSP answer is malformed ({type(exc).__name__})") from None


def _responder_certificate(resp: ocsp.OCSPResponse, issuer: x509.Certificate) -> x509.Certificate:
    """The certificate whose key signed the answer: the CA itself, or a responder it delegated to."""
    if not resp.certificates or resp.certificates[0] == issuer:
        return issuer
    signer = resp.certificates[0]
    if not signed_by(signer, issuer):
        raise OCSPUnavailable(
            "the OCSP responder's certificate was not issued by the certificate's CA"
        )
    if "OCSPSigning" not in (eku_names(signer) or []):
        raise OCSPUnavailable(
            "the OCSP responder's certificate lacks EKU OCSPSigning: "
            "the CA did not delegate OCSP to it"
        )
    now = utcnow()
    if not signer.not_valid_before_utc <= now <= signer.not_valid_after_utc:
        raise OCSPUnavailable("the OCSP responder's certificate is expired or not yet valid")
    return signer


def _signature_ok(public_key, resp: ocsp.OCSPResponse) -> bool:
    """cryptography reads OCSP answers but does not verify them: check the signature by key type."""
    signature, data = resp.signature, resp.tbs_response_bytes
    algorithm = resp.signature_hash_algorithm
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, data)
        else:
            return False
    except InvalidSignature:
        return False
    return True


# ------------------------------------------------------------------ the checker
class OCSPChecker:
    """A revocation hook for :class:`lab.auth.CertificateAuth` that asks an OCSP responder.

    ``checker(cert, chain)`` returns None when the responder says "good", else a
    one-line reason. The issuer is ``issuer=`` or the first certificate of ``chain``;
    the URL is ``url=`` or the certificate's AIA. Answers are cached per serial until
    their nextUpdate (so a revocation can go unnoticed that long: the price of
    caching). When no usable answer comes back, ``hard_fail=True`` refuses and
    ``hard_fail=False`` lets the certificate through, as most browsers did, which is
    why an attacker who can block the responder wins; :attr:`last_note` says which.
    """

    #: what :class:`lab.auth.CertificateAuth` reports as its revocation_mode
    mode = "ocsp"

    def __init__(self, url=None, *, issuer=None, hard_fail=True, clock=None):
        self.url = url
        self.issuer = getattr(issuer, "cert", issuer)
        self.hard_fail = hard_fail
        self.clock: Callable[[], _dt.datetime] = clock or utcnow
        self.queries = 0
        self.last_note = ""
        self._cache: dict[tuple, OCSPResult] = {}
        self._lock = threading.Lock()

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def _status(self, cert: x509.Certificate, issuer: x509.Certificate) -> OCSPResult:
        """The cached answer while it is fresh, else a new query (may raise OCSPUnavailable)."""
        key = (issuer.subject.public_bytes(), cert.serial_number)
        with self._lock:
            cached = self._cache.get(key)
        # No nextUpdate means "newer information is always available": never cache that.
        if cached and cached.next_update is not None and self.clock() < cached.next_update:
            return cached
        self.queries += 1
        result = query(cert, issuer, self.url, clock=self.clock)
        with self._lock:
            self._cache[key] = result
        return result

    def _unavailable(self, why: str) -> str | None:
        if self.hard_fail:
            self.last_note = f"hard-fail: {why}"
            return f"revocation status unknown: {why}"
        self.last_note = f"soft-fail: {why}; let through"
        return None

    def __call__(self, cert: x509.Certificate, chain=None) -> str | None:
        issuer = self.issuer or (chain[0] if chain else None)
        if issuer is None:
            return self._unavailable("the issuer's certificate is needed to ask OCSP")
        try:
            result = self._status(cert, issuer)
        except OCSPUnavailable as exc:
            return self._unavailable(str(exc))
        if result.status == "good":
            self.last_note = "OCSP says good"
            return None
        if result.status == "revoked":
            self.last_note = f"OCSP says revoked ({result.reason})"
            return f"certificate revoked ({result.reason}) according to OCSP"
        return self._unavailable("the OCSP responder does not know this certificate (unknown)")
