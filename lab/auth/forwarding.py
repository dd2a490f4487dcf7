"""The app behind the proxy: take the client certificate from a header, but only from the proxy.

Why this is its own module: behind nginx the TLS connection the app sees is
nginx's, not the client's, so the client certificate arrives in an HTTP header
(the guide: "ASP.NET Core will receive client cert via header"). A header is
text any caller can write. An app that believes it from anyone can be
impersonated by anyone who reaches it directly, with nothing but the victim's
*public* certificate (certificates are not secrets: they travel in every
handshake). Re-validating the certificate does not help, because a stolen
public certificate is perfectly valid; only the TLS handshake proved the caller
held the key, and only the proxy saw that handshake.

So :class:`CertificateForwarding` (ASP.NET's ``AddCertificateForwarding``, made
strict) is a certificate source ``(environ) -> x509.Certificate | None`` for
:class:`lab.auth.CertificateAuth` that:

1. reads the header as URL-encoded PEM (nginx ``$ssl_client_escaped_cert``);
2. accepts it only from a trusted proxy: the connection's address
   (``REMOTE_ADDR``) must be one of ``trusted_proxies`` and, optionally, the
   connection itself must be authenticated with the proxy's own client
   certificate (nginx ``proxy_ssl_certificate``), which no address trick can fake;
3. always re-validates the forwarded certificate against the trust store
   (:func:`lab.pki.verify.verify_chain`), and honours the proxy's own verdict
   (``X-SSL-Client-Verify``), which matters with ``ssl_verify_client optional_no_ca``.

A header from anyone else raises :class:`~lab.errors.ForgedHeaderError` (403).

:func:`trust_header_from_anyone` is the mistake, kept for the demonstration.
"""

from __future__ import annotations

import ipaddress
from typing import Iterable
from urllib.parse import quote, unquote

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from lab.errors import ForgedHeaderError, LabError
from lab.pki.certinfo import common_name
from lab.pki.verify import verify_chain
from lab.tls.identity import peer_certificate

#: The headers a proxy in front sets for the app (nginx: lab.proxy writes them; ingress-nginx
#: and ASP.NET's AddCertificateForwarding use other names, see lab/proxy/templates/nginx.conf.j2).
CERT_HEADER = "X-SSL-Client-Cert"  # URL-encoded PEM of the client's leaf certificate
VERIFY_HEADER = "X-SSL-Client-Verify"  # SUCCESS, NONE or FAILED:<reason>
DN_HEADER = "X-SSL-Client-S-DN"  # the subject, RFC 2253 (CN=...,O=...)

#: The WSGI environ keys of those headers.
_CERT_KEY, _VERIFY_KEY = "HTTP_X_SSL_CLIENT_CERT", "HTTP_X_SSL_CLIENT_VERIFY"


class ForwardedCertificateError(LabError, ValueError):
    """The trusted proxy forwarded a certificate that is unreadable or that the trust store refuses."""


def parse_certificate_header(value: str) -> x509.Certificate:
    """Decode a forwarded certificate: URL-encoded PEM, as nginx forwards it."""
    try:
        return x509.load_pem_x509_certificate(unquote(value.strip()).encode())
    except (ValueError, x509.InvalidVersion):  # InvalidVersion is not a ValueError
        raise ForwardedCertificateError(
            f"the {CERT_HEADER} header is not URL-encoded PEM of a readable certificate; "
            f"check what the proxy forwards"
        ) from None


class CertificateForwarding:
    """A certificate source that believes the certificate header only from the proxy.

    ``trust``: the CA(s) the forwarded certificate must chain to (re-validated on every
    request). ``trusted_proxies``: addresses or networks of the proxies (``ValueError``
    for anything else). ``proxy_certificate``: the proxy's client certificate; when set,
    the header is accepted only on a connection authenticated with exactly that certificate.
    """

    def __init__(
        self,
        trust,
        *,
        trusted_proxies: Iterable[str] = ("127.0.0.1",),
        proxy_certificate=None,
    ):
        if trust is None:
            raise ValueError(
                "trust is required to re-validate forwarded certificates (pass the client CA)"
            )
        self.trust = trust
        self.trusted_proxies = tuple(trusted_proxies)
        try:
            self._networks = [ipaddress.ip_network(a, strict=False) for a in self.trusted_proxies]
        except ValueError as exc:  # a host name, say: what the parameter takes, in the same line
            raise ValueError(
                f"{exc} (trusted_proxies takes addresses, such as 127.0.0.2 or 10.0.0.0/8)"
            ) from None
        self.proxy_certificate = getattr(proxy_certificate, "cert", proxy_certificate)

    def __call__(self, environ) -> x509.Certificate | None:
        value = environ.get(_CERT_KEY, "")
        if not value.strip():
            return None
        self._check_sender(environ)
        verdict = environ.get(_VERIFY_KEY, "")
        if verdict and verdict != "SUCCESS":
            raise ForwardedCertificateError(
                f"the proxy did not verify the client certificate ({VERIFY_HEADER}: {verdict})"
            )
        cert = parse_certificate_header(value)
        check = verify_chain(cert, self.trust, purpose="client")
        if not check.ok:
            raise ForwardedCertificateError(
                f"the forwarded certificate {cert.subject.rfc4514_string()} is not trusted: {check.reason}"
            )
        return cert

    def _check_sender(self, environ) -> None:
        """Raise :class:`ForgedHeaderError` unless the connection comes from a trusted proxy."""
        addr = environ.get("REMOTE_ADDR", "")
        try:
            trusted = any(ipaddress.ip_address(addr) in net for net in self._networks)
        except ValueError:
            trusted = False
        if not trusted:
            raise ForgedHeaderError(
                f"the {CERT_HEADER} header came from {addr or 'an unknown address'}, which is not a "
                f"trusted proxy ({', '.join(self.trusted_proxies)}); anyone can write a header, so only "
                f"the proxy that checked the certificate may send it. Call the app through the proxy"
            )
        if self.proxy_certificate is None:
            return
        peer = peer_certificate(environ)
        proxy = common_name(self.proxy_certificate.subject)
        if peer is None:
            raise ForgedHeaderError(
                f"the {CERT_HEADER} header came on a connection without a client certificate; only "
                f"the proxy, authenticated with its own certificate ({proxy}), may send it"
            )
        if peer != self.proxy_certificate:
            raise ForgedHeaderError(
                f"the {CERT_HEADER} header came on a connection authenticated as "
                f"{peer.subject.rfc4514_string()}, not as the proxy ({proxy}); only the proxy may "
                f"forward certificates"
            )


def trust_header_from_anyone():
    """THE MISTAKE, for the demonstration: believe the certificate header from any caller.

    No sender check, no re-validation: whoever reaches the app writes who they are.
    """

    def source(environ) -> x509.Certificate | None:
        value = environ.get(_CERT_KEY, "")
        return parse_certificate_header(value) if value.strip() else None

    source.__name__ = source.__qualname__ = "trust_header_from_anyone"
    return source


def header_value(cert) -> str:
    """What a proxy would put in the header for ``cert`` (what an attacker copies, too):
    URL-encoded PEM, byte for byte what nginx's ``$ssl_client_escaped_cert`` holds."""
    cert = getattr(cert, "cert", cert)
    return quote(cert.public_bytes(serialization.Encoding.PEM).decode(), safe="")
