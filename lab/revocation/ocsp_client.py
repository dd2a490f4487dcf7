"""An OCSP client: ask a responder about one certificate, and verify the answer before believing it.

Verified means: the signature (by the CA, or by a responder the CA delegated to with
EKU OCSPSigning), the certificate id, the nonce (a different one is a replay) and
freshness (nextUpdate). Anything less is :class:`OCSPUnavailable`, which the
checkers turn into hard- or soft-fail.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass
from typing import Callable

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from lab.errors import LabError
from lab.revocation.crl import ocsp_urls, reason_name

OCSP_REQUEST = "application/ocsp-request"


class OCSPUnavailable(LabError, ConnectionError):
    """No usable OCSP answer: responder down, malformed or unverifiable response."""


@dataclass(frozen=True)
class OCSPResult:
    """A verified OCSP answer about one certificate."""

    status: str  # good, revoked, unknown
    reason: str | None
    revoked_at: _dt.datetime | None
    this_update: _dt.datetime
    next_update: _dt.datetime | None
    responder: str

    def __str__(self) -> str:
        return self.status + (f" ({self.reason})" if self.status == "revoked" else "")


def build_request(
    cert: x509.Certificate, issuer: x509.Certificate, nonce: bytes | None = None
) -> bytes:
    """The DER OCSP request for ``cert`` (SHA-1 certificate id, as every responder understands)."""
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
    if nonce:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def query(
    cert,
    issuer,
    url: str | None = None,
    *,
    timeout: float = 2.0,
    nonce: bool = True,
    clock: Callable[[], _dt.datetime] | None = None,
) -> OCSPResult:
    """Ask the OCSP responder about ``cert`` and verify the answer before believing it.

    ``url`` defaults to the certificate's AIA OCSP URL. Raises
    :class:`OCSPUnavailable` when there is no usable answer (responder down,
    error status, bad signature, wrong certificate, stale answer, nonce mismatch).
    """
    cert = getattr(cert, "cert", cert)
    issuer = getattr(issuer, "cert", issuer)
    url = url or next(iter(ocsp_urls(cert)), None)
    if not url:
        raise OCSPUnavailable(
            "the certificate names no OCSP responder (no AIA OCSP URL) and none was given"
        )
    sent_nonce = os.urandom(16) if nonce else None
    with requests.Session() as http:
        http.trust_env = (
            False  # loopback, plain HTTP: no proxies, no CA bundle from the environment
        )
        try:
            r = http.post(
                url,
                data=build_request(cert, issuer, sent_nonce),
                headers={"Content-Type": OCSP_REQUEST},
                timeout=timeout,
            )
        except requests.RequestException as exc:
            raise OCSPUnavailable(f"the OCSP responder did not answer ({_why(exc)})") from None
    if r.status_code != 200:
        raise OCSPUnavailable(f"the OCSP responder answered HTTP {r.status_code}")
    return parse_response(r.content, cert, issuer, sent_nonce, clock=clock)


def _why(exc: requests.RequestException) -> str:
    text = str(exc)
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    return type(exc).__name__


def parse_response(
    der: bytes,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    nonce: bytes | None = None,
    *,
    clock=None,
) -> OCSPResult:
    """Verify a DER OCSP response about ``cert`` and return what it says.

    The answer comes from the network: whatever cryptography cannot read in it (a field
    it parses lazily, an unknown algorithm) is :class:`OCSPUnavailable` too, so the
    checkers' hard/soft-fail decides, never a stray exception.
    """
    try:
        return _parse_response(der, cert, issuer, nonce, clock)
    except (ValueError, TypeError, UnsupportedAlgorithm, x509.InvalidVersion) as exc:
        raise OCSPUnavailable(f"the OCSP answer is malformed ({type(exc).__name__})") from None


def _parse_response(der, cert, issuer, nonce, clock) -> OCSPResult:
    try:
        resp = ocsp.load_der_ocsp_response(der)
    except ValueError:
        raise OCSPUnavailable("the OCSP answer is not a DER OCSP response") from None
    if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise OCSPUnavailable(f"the OCSP responder answered {resp.response_status.name}")
    signer = _responder_certificate(resp, issuer)
    if not _signature_ok(
        signer.public_key(), resp.signature, resp.tbs_response_bytes, resp.signature_hash_algorithm
    ):
        raise OCSPUnavailable("the OCSP answer's signature does not verify")
    expected = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, resp.hash_algorithm).build()
    if (
        resp.serial_number != cert.serial_number
        or resp.issuer_key_hash != expected.issuer_key_hash
        or resp.issuer_name_hash != expected.issuer_name_hash
    ):
        raise OCSPUnavailable("the OCSP answer is about a different certificate")
    if nonce is not None:
        try:
            echoed = resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            echoed = None
        if (
            echoed is not None and echoed != nonce
        ):  # absent is allowed (RFC 8954), different is a replay
            raise OCSPUnavailable("the OCSP answer carries another request's nonce (a replay?)")
    now = (clock or (lambda: _dt.datetime.now(_dt.timezone.utc)))()
    if resp.next_update_utc is not None and now >= resp.next_update_utc:
        raise OCSPUnavailable("the OCSP answer is stale (its nextUpdate has passed)")
    status = {
        ocsp.OCSPCertStatus.GOOD: "good",
        ocsp.OCSPCertStatus.REVOKED: "revoked",
        ocsp.OCSPCertStatus.UNKNOWN: "unknown",
    }[resp.certificate_status]
    return OCSPResult(
        status=status,
        reason=reason_name(resp.revocation_reason) if status == "revoked" else None,
        revoked_at=resp.revocation_time_utc if status == "revoked" else None,
        this_update=resp.this_update_utc,
        next_update=resp.next_update_utc,
        responder=signer.subject.rfc4514_string(),
    )


def _responder_certificate(resp: ocsp.OCSPResponse, issuer: x509.Certificate) -> x509.Certificate:
    """The certificate whose key signed the answer: the CA itself, or a responder it delegated to."""
    if not resp.certificates:
        return issuer  # signed by the CA directly
    signer = resp.certificates[0]
    if signer == issuer:
        return issuer
    try:
        signer.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        raise OCSPUnavailable(
            "the OCSP responder's certificate was not issued by the certificate's CA"
        ) from None
    try:
        ekus = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        ekus = []
    if ExtendedKeyUsageOID.OCSP_SIGNING not in ekus:
        raise OCSPUnavailable(
            "the OCSP responder's certificate lacks EKU OCSPSigning: "
            "the CA did not delegate OCSP to it"
        )
    now = _dt.datetime.now(_dt.timezone.utc)
    if not signer.not_valid_before_utc <= now <= signer.not_valid_after_utc:
        raise OCSPUnavailable("the OCSP responder's certificate is expired or not yet valid")
    return signer


def _signature_ok(public_key, signature: bytes, data: bytes, algorithm) -> bool:
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
