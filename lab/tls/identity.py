"""Who is calling: the client certificate of the connection, as claims a view can use.

Why a separate module: the certificate can reach the app two ways, straight from
the TLS connection (cheroot puts it in ``SSL_CLIENT_CERT``) or forwarded by a
proxy in a header (nginx's ``$ssl_client_escaped_cert``). Authentication and
authorization should not care which; they ask :func:`peer_certificate` or work
on a :class:`ClientIdentity`.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

from cryptography import x509

from lab.errors import CorruptFileError
from lab.pki.certinfo import common_name, san_strings, spki_pin, thumbprint

_CACHE_KEY = "lab.peer_certificate"


def peer_certificate(environ=None) -> x509.Certificate | None:
    """The verified client certificate of the TLS connection this request came in on.

    ``None`` when the client sent none (optional mode) or the server never asked
    (mode "none"). Parsed once per request and cached in the WSGI environ.
    """
    if environ is None:
        from flask import request

        environ = request.environ
    if _CACHE_KEY in environ:
        return environ[_CACHE_KEY]
    pem_text, cert = environ.get("SSL_CLIENT_CERT"), None
    if pem_text:
        try:
            cert = x509.load_pem_x509_certificate(pem_text.encode())
        except (ValueError, x509.InvalidVersion):
            raise CorruptFileError("the client certificate is not valid PEM") from None
    environ[_CACHE_KEY] = cert
    return cert


@dataclass(frozen=True)
class ClientIdentity:
    """The claims of a client certificate, like ASP.NET's ClaimsPrincipal from a certificate."""

    subject: str
    common_name: str
    issuer: str
    serial: str
    thumbprint: str
    spki_pin: str
    not_before: _dt.datetime
    not_after: _dt.datetime
    dns: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    certificate: x509.Certificate | None = field(default=None, compare=False, repr=False)
    claims: dict = field(default_factory=dict, compare=False)

    @property
    def spiffe_id(self) -> str | None:
        return next((u for u in self.uris if u.startswith("spiffe://")), None)

    @classmethod
    def from_certificate(cls, cert: x509.Certificate) -> "ClientIdentity":
        san = [entry.split(":", 1) for entry in san_strings(cert)]  # openssl's DNS:x, email:x ...
        dns, emails, uris = (
            tuple(v for k, v in san if k == kind) for kind in ("DNS", "email", "URI")
        )
        return cls(
            subject=cert.subject.rfc4514_string(),
            common_name=common_name(cert.subject),
            issuer=cert.issuer.rfc4514_string(),
            serial=format(cert.serial_number, "x"),
            thumbprint=thumbprint(cert),
            spki_pin=spki_pin(cert),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            dns=dns,
            emails=emails,
            uris=uris,
            certificate=cert,
        )
