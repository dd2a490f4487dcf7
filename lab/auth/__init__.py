"""Certificate authentication and authorization for Flask, with ASP.NET Core's options as the checklist.

Why: "the TLS handshake succeeded" only means the client holds a key for a
certificate that chains to *something* the TLS layer trusts. It does not mean
this caller may call this route. ASP.NET Core splits the job in two, and so does
this module:

* **Authentication** (``AddCertificate`` + ``UseAuthentication``) turns the
  connection's certificate into an identity, re-checking what the TLS layer may
  not have (or may have checked only once, at the handshake): the certificate
  type (chained or self-signed), its intended use (EKU), its validity period *on
  every request*, a custom trust store, revocation. Then the user's
  ``on_certificate_validated`` event may add claims or refuse.
* **Authorization** (``[Authorize]`` + ``UseAuthorization``) is a view decorator:
  ``@require_certificate`` or ``@authorize(policy, ...)`` with the policies of
  :mod:`lab.auth.policies`.

Shape::

    auth = CertificateAuth(app, trust=course.ca)

    @app.get("/api/secure")
    @authorize(allow_subjects("MyTrustedClient"))
    def secure():
        return f"Hello {current_identity().subject}"

Every refusal is **403** with an RFC 9457 ``application/problem+json`` body whose
``detail`` names the reason. Why 403 and not 401: 401 means "retry with
credentials", and must come with a ``WWW-Authenticate`` challenge the client can
answer in HTTP. A client certificate is not an HTTP credential: it travels in the
TLS handshake, which is over before the request is read, and HTTP/2 and TLS 1.3
forbid asking for it again mid-connection. There is nothing the client can
answer on this connection, so ASP.NET Core's certificate handler answers its
challenge with 403, and so does this one.

Every decision is logged as one line on the ``lab.auth`` logger (INFO; the
library adds a NullHandler, so nothing prints unless you configure logging or
use :func:`capture_decisions`). Control characters in a subject or a path are written as
``\\xNN``, as nginx logs them, so no certificate can forge a second line.

The modules: :mod:`~lab.auth.extension` (``CertificateAuth``), :mod:`~lab.auth.results` (the
result and the events' contexts), :mod:`~lab.auth.chain` (in-process chain checks),
:mod:`~lab.auth.decorators` (``@authorize``), :mod:`~lab.auth.policies`, :mod:`~lab.auth.cache`,
:mod:`~lab.auth.problem` (RFC 9457), :mod:`~lab.auth.text` (control characters escaped in
every line that echoes a subject) and :mod:`~lab.auth.forwarding` (the certificate from a
proxy header). This package stands on :mod:`lab.pki` and :mod:`lab.tls`; never on course code.
"""

from lab.auth.chain import is_self_signed, issuer_path
from lab.auth.decorators import (
    authorize,
    capture_decisions,
    current_identity,
    current_result,
    require_certificate,
)
from lab.auth.extension import CertificateAuth
from lab.auth.results import (
    CERTIFICATE_TYPES,
    REVOCATION_MODES,
    AuthConfigurationError,
    AuthenticationFailedContext,
    AuthenticationResult,
    CertificateValidatedContext,
    ChallengeContext,
)

__all__ = [
    "CertificateAuth",
    "AuthenticationResult",
    "CertificateValidatedContext",
    "AuthenticationFailedContext",
    "ChallengeContext",
    "AuthConfigurationError",
    "authorize",
    "require_certificate",
    "current_identity",
    "current_result",
    "capture_decisions",
    "is_self_signed",
    "issuer_path",
    "CERTIFICATE_TYPES",
    "REVOCATION_MODES",
]
