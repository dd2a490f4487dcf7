"""Certificate authentication and authorization for Flask, with ASP.NET Core's options as the checklist.

Why: "the TLS handshake succeeded" only means the client holds a key for a certificate
that chains to *something* the TLS layer trusts. It does not mean this caller may call
this route. ASP.NET Core splits the job in two, and so does this package:

* **Authentication** (``AddCertificate``): :class:`CertificateAuth` turns the connection's
  certificate into an identity, re-checking what the TLS layer checked once or not at all
  (the dates on every request, the usage, a narrower trust store, revocation); then the
  ``on_certificate_validated`` event may add claims or refuse.
* **Authorization** (``[Authorize]``): ``@require_certificate`` or ``@authorize(policy, ...)``
  with the policies of :mod:`lab.auth.policies`.

Every refusal is **403** with an RFC 9457 ``application/problem+json`` body. Not 401: a
401 must come with a ``WWW-Authenticate`` challenge the client can answer in HTTP, and a
client certificate travels in the TLS handshake, which is over before the request is read.

Every decision is one INFO line on the ``lab.auth`` logger (silent until logging is
configured), control characters written as ``\\xNN`` (:mod:`lab.auth.text`), so no
certificate can forge a second line.
:mod:`lab.auth.forwarding` takes the certificate from a proxy's header, only from the proxy.
"""

from lab.auth.extension import (
    AuthConfigurationError,
    CertificateAuth,
    authorize,
    current_identity,
    require_certificate,
)

__all__ = ["CertificateAuth", "AuthConfigurationError"]
__all__ += ["authorize", "require_certificate", "current_identity"]
