"""The chain checks authentication makes in-process: trust, self-signed, validity on every request.

Chain walking and trust parsing have one home each, in :mod:`lab.pki`: a chain that was
verified in-process comes back from :func:`lab.pki.verify.verify_chain` (``.issuers``), and
:func:`issuer_path` is only for a peer the TLS layer verified, whose chain this process never saw.
"""

from __future__ import annotations

import datetime as _dt
from typing import Iterable

from cryptography import x509

from lab.pki.files import trust_certificates
from lab.pki.verify import is_self_signed, issuer_chain

#: what :class:`~lab.auth.extension.CertificateAuthentication` reads its ``trust=`` with
_load_trust = trust_certificates


def _validity_problem(cert: x509.Certificate, now: _dt.datetime) -> str | None:
    if now > cert.not_valid_after_utc:
        return (
            f"the certificate expired at {cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC "
            f"(validity is checked on every request, not only at the handshake)"
        )
    if now < cert.not_valid_before_utc:
        return (
            f"the certificate is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC"
        )
    return None


def issuer_path(cert: x509.Certificate, pool: Iterable[x509.Certificate]) -> list[x509.Certificate]:
    """The issuers of ``cert`` found in ``pool``, nearest first (what a revocation check needs)."""
    return issuer_chain(cert, pool)


__all__ = ["is_self_signed", "issuer_path"]
