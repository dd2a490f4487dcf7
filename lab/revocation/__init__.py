"""Revoke certificates and publish it: the CA's record, CRLs, OCSP, and the checker that reads them.

Why this package exists: the guide says "Enable CRL / OCSP" and then sets
``CheckCertificateRevocation = false``. A certificate stays cryptographically
valid until it expires, whatever happened to its key; revocation is only a
*list* the CA publishes, and it protects nobody who does not read it.

* :mod:`~lab.revocation.crl`: :class:`Revocations`, the CA's record (serial, reason, time)
  and the signed CRLs it issues, numbered by one persistent counter; reason codes, the
  OCSP URL a certificate names, reading CRL files, and :func:`trusted_crl_file` (what may
  be handed to OpenSSL as a CRL file);
* :mod:`~lab.revocation.freshness`: whether a CRL or OCSP answer is fresh, due or stale;
* :mod:`~lab.revocation.ocsp`: the OCSP client, :class:`OCSPChecker` (a revocation hook
  for :mod:`lab.auth`, hard- or soft-fail) and the responder
  (:mod:`~lab.revocation.ocsp_responder`).

Checking at the TLS layer needs only a CRL file: ``MTLSServer(..., crl=path)``
hands it to OpenSSL (see :func:`lab.tls.contexts.server_context`).
This package stands on :mod:`lab.pki` (and :mod:`lab.tls.server`, which runs the responder);
never on course code.
"""

from lab.revocation.crl import (
    REASONS,
    RevocationError,
    Revocations,
    load_crl,
    reason_name,
    revoked_reason,
    trusted_crl_file,
)
from lab.revocation.ocsp import OCSPChecker

__all__ = ["REASONS", "RevocationError", "Revocations", "load_crl", "reason_name"]
__all__ += ["revoked_reason", "trusted_crl_file", "OCSPChecker"]
