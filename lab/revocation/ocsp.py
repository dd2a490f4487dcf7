"""OCSP for real: the responder and the client, under the names the notebooks import.

Why OCSP as well as CRLs: a CRL grows with every revocation and is fetched whole;
OCSP asks about *one* certificate and gets a small signed answer ("good",
"revoked" or "unknown") valid until its nextUpdate. The price is a network call
on the verification path, which is why every OCSP client must decide what to do
when the responder does not answer: **hard-fail** or **soft-fail**
(:class:`~lab.revocation.checkers.FailurePolicy`).

The code lives in :mod:`~lab.revocation.ocsp_responder`, :mod:`~lab.revocation.ocsp_client`
and :mod:`~lab.revocation.checkers`; this module re-exports it.
"""

from lab.revocation.checkers import OCSPChecker
from lab.revocation.ocsp_client import (
    OCSP_REQUEST,
    OCSPResult,
    OCSPUnavailable,
    build_request,
    parse_response,
    query,
)
from lab.revocation.ocsp_responder import (
    DEFAULT_RESPONSE_VALIDITY,
    OCSP_RESPONSE,
    Answer,
    MalformedOCSPRequest,
    OCSPResponder,
    delegated_signer,
    parse_request,
)

__all__ = [
    "OCSP_REQUEST",
    "OCSP_RESPONSE",
    "DEFAULT_RESPONSE_VALIDITY",
    "Answer",
    "MalformedOCSPRequest",
    "parse_request",
    "OCSPChecker",
    "OCSPResponder",
    "OCSPResult",
    "OCSPUnavailable",
    "build_request",
    "delegated_signer",
    "parse_response",
    "query",
]
