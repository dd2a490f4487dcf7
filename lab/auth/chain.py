"""The chain checks authentication makes in-process: trust, self-signed, validity on every request."""

from __future__ import annotations

import datetime as _dt
from typing import Iterable

from cryptography import x509


def _load_trust(trust):
    """Accept what the rest of the lab accepts as trust: CAs, certificates, PEM bytes, paths."""
    from lab.tls.contexts import trust_pem

    return x509.load_pem_x509_certificates(trust_pem(trust).encode())


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


def is_self_signed(cert: x509.Certificate) -> bool:
    """Issuer equals subject *and* the certificate's own key verifies its signature."""
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except Exception:  # noqa: BLE001 - InvalidSignature, ValueError, TypeError: not self-signed
        return False
    return True


def issuer_path(cert: x509.Certificate, pool: Iterable[x509.Certificate]) -> list[x509.Certificate]:
    """The issuers of ``cert`` found in ``pool``, nearest first (what a revocation check needs)."""
    pool = list(pool)
    path: list[x509.Certificate] = []
    current = cert
    while not is_self_signed(current) and len(path) < 8:
        issuer = next(
            (
                c
                for c in pool
                if c.subject == current.issuer and c not in path and _signed_by(current, c)
            ),
            None,
        )
        if issuer is None:
            break
        path.append(issuer)
        current = issuer
    return path


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except Exception:  # noqa: BLE001
        return False
