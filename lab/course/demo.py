"""The guide's SecureController, in Flask: the API every notebook calls.

``GET /api/secure`` answers ``Hello {subject}`` from the client certificate,
exactly like the guide's ``Ok($"Hello {clientCert.Subject}")``. ``GET /api/public``
needs no certificate (useful in optional mode), ``GET /healthz`` is for probes.
``/api/secure`` goes through :mod:`lab.auth` (the guide's ``AddCertificate`` +
``[Authorize]``): with no options any valid client certificate gets in; the
keyword options add policies (``allow_subjects=["MyTrustedClient"]``, pins) and
anything else is passed to :class:`~lab.auth.CertificateAuth` (``trust=``,
``allowed_certificate_types=``...). ``on_certificate_validated=``,
``on_authentication_failed=`` and ``on_challenge=`` register those events with the
extension's decorators. A refusal is a 403 problem+json.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify

from lab.auth import CertificateAuth, authorize, current_identity
from lab.auth import policies as _policies
from lab.auth.text import printable
from lab.tls.identity import peer_certificate

#: The CertificateAuth events create_app accepts as keywords.
EVENTS = ("on_certificate_validated",)


def _text(body: str) -> Response:
    """Plain text (ASP.NET's ``Ok(string)`` is text/plain too), control characters escaped.

    The subject is whatever the certificate's requester wrote: as HTML it could carry
    markup, and raw it could carry a newline or a terminal escape into whoever prints it.
    """
    return Response(printable(body), mimetype="text/plain")


def secure_policies(allow_subjects=None, pin_thumbprints=None, pin_spki=None) -> list:
    """The policies ``/api/secure`` enforces for the given options (all must pass)."""
    out = []  # an empty list is a policy that allows nobody; only None means "no policy"
    if allow_subjects is not None:
        out.append(_policies.allow_subjects(*_as_list(allow_subjects)))
    if pin_thumbprints is not None:
        out.append(_policies.pin_thumbprint(*_as_list(pin_thumbprints)))
    if pin_spki is not None:
        out.append(_policies.pin_spki(*_as_list(pin_spki)))
    return out


def _as_list(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def create_app(
    name: str = "mtls-lab-demo",
    *,
    allow_subjects=None,
    pin_thumbprints=None,
    pin_spki=None,
    **auth_options,
) -> Flask:
    app = Flask(name)
    events = {e: auth_options.pop(e) for e in EVENTS if auth_options.get(e) is not None}
    auth = CertificateAuth(app, **auth_options)
    for event, callback in events.items():
        getattr(auth, event)(callback)  # the same as decorating callback with @auth.<event>
    rules = secure_policies(allow_subjects, pin_thumbprints, pin_spki)

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


def behind_proxy(certificate_source, name: str = "mtls-lab-behind-proxy", **options):
    """The guide's SecureController behind a proxy: the certificate comes from a header.

    ``GET /api/secure`` answers ``Hello {subject}`` for the certificate
    ``certificate_source`` (a :class:`lab.auth.forwarding.CertificateForwarding`) returns.
    A forged header or a refused forwarded certificate is a 403 problem+json naming why.
    """
    return create_app(name, certificate_source=certificate_source, **options)
