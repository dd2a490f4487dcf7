"""The guide's SecureController, in Flask: the API every notebook calls.

``GET /api/secure`` answers ``Hello {subject}`` from the client certificate,
exactly like the guide's ``Ok($"Hello {clientCert.Subject}")``. ``GET /api/public``
needs no certificate (useful in optional mode), ``GET /healthz`` is for probes.
``/api/secure`` goes through :mod:`lab.auth` (the guide's ``AddCertificate`` +
``[Authorize]``): with no options any valid client certificate gets in; the
keyword options add policies (``allow_subjects=["MyTrustedClient"]``, pins) and
anything else is passed to :class:`~lab.auth.CertificateAuth` (``trust=``,
``allowed_certificate_types=``, ``certificate_source=`` behind a proxy...).
A refusal is a 403 problem+json.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify

from lab.auth import CertificateAuth, authorize, current_identity
from lab.auth import policies as _policies
from lab.auth.text import printable
from lab.tls.identity import peer_certificate


def _text(body: str) -> Response:
    """Plain text (ASP.NET's ``Ok(string)`` is text/plain too), control characters escaped.

    The subject is whatever the certificate's requester wrote: as HTML it could carry
    markup, and raw it could carry a newline or a terminal escape into whoever prints it.
    """
    return Response(printable(body), mimetype="text/plain")


def create_app(
    name: str = "mtls-lab-demo",
    *,
    allow_subjects=None,
    pin_thumbprints=None,
    pin_spki=None,
    **auth_options,
) -> Flask:
    app = Flask(name)
    CertificateAuth(app, **auth_options)
    # all must pass; an empty list is a policy that allows nobody, only None means "no policy"
    rules = [
        policy(*([value] if isinstance(value, str) else value))
        for policy, value in (
            (_policies.allow_subjects, allow_subjects),
            (_policies.pin_thumbprint, pin_thumbprints),
            (_policies.pin_spki, pin_spki),
        )
        if value is not None
    ]

    @app.get("/api/secure")
    @authorize(*rules)
    def secure():
        # the certificate that was authenticated, wherever it came from (TLS or a proxy header);
        # identity.subject is cert.subject.rfc4514_string()
        return _text(f"Hello {current_identity().subject}")

    @app.get("/api/public")
    def public():
        cert = peer_certificate()
        who = cert.subject.rfc4514_string() if cert else "anonymous (no client certificate)"
        return _text(f"Hello {who}")

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    return app
