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

1. reads the header as URL-encoded PEM (nginx ``$ssl_client_escaped_cert``,
   ingress-nginx ``ssl-client-cert``) or base64 DER (ASP.NET's ``X-Client-Cert``);
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

import base64
import binascii
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
#: and ASP.NET's AddCertificateForwarding use other names, see lab.proxy.LOOKALIKE_HEADERS).
CERT_HEADER = "X-SSL-Client-Cert"  # URL-encoded PEM of the client's leaf certificate
VERIFY_HEADER = "X-SSL-Client-Verify"  # SUCCESS, NONE or FAILED:<reason>
DN_HEADER = "X-SSL-Client-S-DN"  # the subject, RFC 2253 (CN=...,O=...)

_CACHE_KEY = "lab.forwarded_certificate"


class ForwardedCertificateError(LabError, ValueError):
    """The trusted proxy forwarded a certificate that is unreadable or that the trust store refuses."""


def environ_key(header: str) -> str:
    """The WSGI environ key of an HTTP header: ``X-SSL-Client-Cert`` -> ``HTTP_X_SSL_CLIENT_CERT``."""
    return "HTTP_" + header.upper().replace("-", "_")


def parse_certificate_header(value: str, header: str = CERT_HEADER) -> x509.Certificate:
    """Decode a forwarded certificate: URL-encoded PEM (nginx) or base64 DER (ASP.NET).

    They are told apart by content: after URL-decoding, PEM starts with ``-----BEGIN``;
    anything else is tried as base64 DER.
    """
    text = unquote(value.strip())
    if "-----BEGIN" in text:
        try:
            return x509.load_pem_x509_certificate(text.encode())
        except (ValueError, x509.InvalidVersion):  # InvalidVersion is not a ValueError
            raise ForwardedCertificateError(
                f"the {header} header holds PEM that is not a readable certificate"
            ) from None
    try:
        return x509.load_der_x509_certificate(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError, x509.InvalidVersion):
        raise ForwardedCertificateError(
            f"the {header} header is neither URL-encoded PEM nor base64 DER; check what the proxy forwards"
        ) from None


def _network(address: str):
    try:
        return ipaddress.ip_network(address, strict=False)
    except ValueError:
        raise ValueError(
            f"{address!r} is not an IP address or network (trusted_proxies takes addresses, "
            f"such as 127.0.0.2 or 10.0.0.0/8)"
        ) from None


class CertificateForwarding:
    """A certificate source that believes the certificate header only from the proxy.

    ``trust``: the CA(s) the forwarded certificate must chain to (re-validated on every
    request); ``intermediates``: CAs to build the chain with (nginx forwards only the leaf).
    ``trusted_proxies``: addresses or networks of the proxies. ``proxy_certificate``: the
    proxy's client certificate; when set, the header is accepted only on a connection
    authenticated with exactly that certificate. ``header``: where the proxy forwards it
    (URL-encoded PEM or base64 DER, told apart by content). ``verify_header``: the proxy's
    verdict header, or None.
    """

    def __init__(
        self,
        trust,
        *,
        trusted_proxies: Iterable[str] = ("127.0.0.1",),
        proxy_certificate=None,
        header: str = CERT_HEADER,
        verify_header: str | None = VERIFY_HEADER,
        intermediates: Iterable = (),
    ):
        if trust is None:
            raise ValueError(
                "trust is required to re-validate forwarded certificates (pass the client CA)"
            )
        self.trust, self.intermediates = trust, list(intermediates)
        self.trusted_proxies = tuple(trusted_proxies)
        self._networks = [_network(a) for a in self.trusted_proxies]
        self.proxy_certificate = getattr(proxy_certificate, "cert", proxy_certificate)
        self.header, self.verify_header = header, verify_header

    def __repr__(self) -> str:
        proof = (
            f", proxy certificate {self._proxy_name()}"
            if self.proxy_certificate is not None
            else ""
        )
        return f"<CertificateForwarding header={self.header} from {', '.join(self.trusted_proxies)}{proof}>"

    def _proxy_name(self) -> str:
        return common_name(self.proxy_certificate.subject)

    def __call__(self, environ) -> x509.Certificate | None:
        if _CACHE_KEY in environ:
            return environ[_CACHE_KEY]
        header, value = self.header, environ.get(environ_key(self.header), "")
        if not value.strip():
            environ[_CACHE_KEY] = None
            return None
        self.check_sender(environ, header)
        verdict = environ.get(environ_key(self.verify_header), "") if self.verify_header else ""
        if verdict and verdict != "SUCCESS":
            raise ForwardedCertificateError(
                f"the proxy did not verify the client certificate ({self.verify_header}: {verdict})"
            )
        cert = parse_certificate_header(value, header)
        check = verify_chain(cert, self.trust, self.intermediates, purpose="client")
        if not check.ok:
            raise ForwardedCertificateError(
                f"the forwarded certificate {cert.subject.rfc4514_string()} is not trusted: {check.reason}"
            )
        environ[_CACHE_KEY] = cert
        return cert

    def check_sender(self, environ, header: str = CERT_HEADER) -> None:
        """Raise :class:`ForgedHeaderError` unless the connection comes from a trusted proxy."""
        addr = environ.get("REMOTE_ADDR", "")
        try:
            trusted = any(ipaddress.ip_address(addr) in net for net in self._networks)
        except ValueError:
            trusted = False
        if not trusted:
            raise ForgedHeaderError(
                f"the {header} header came from {addr or 'an unknown address'}, which is not a trusted "
                f"proxy ({', '.join(self.trusted_proxies)}); anyone can write a header, so only the proxy that "
                f"checked the certificate may send it. Call the app through the proxy"
            )
        if self.proxy_certificate is None:
            return
        peer = peer_certificate(environ)
        if peer is None:
            raise ForgedHeaderError(
                f"the {header} header came on a connection without a client certificate; only the proxy, "
                f"authenticated with its own certificate ({self._proxy_name()}), may send it"
            )
        if peer != self.proxy_certificate:
            raise ForgedHeaderError(
                f"the {header} header came on a connection authenticated as {peer.subject.rfc4514_string()}, "
                f"not as the proxy ({self._proxy_name()}); only the proxy may forward certificates"
            )


def trust_header_from_anyone(header: str = CERT_HEADER):
    """THE MISTAKE, for the demonstration: believe the certificate header from any caller.

    No sender check, no re-validation: whoever reaches the app writes who they are.
    """

    def source(environ) -> x509.Certificate | None:
        value = environ.get(environ_key(header), "")
        return parse_certificate_header(value, header) if value.strip() else None

    source.__name__ = source.__qualname__ = "trust_header_from_anyone"
    return source


def header_value(cert, fmt: str = "pem") -> str:
    """What a proxy would put in the header for ``cert`` (what an attacker copies, too).

    ``pem``: URL-encoded PEM, byte for byte what nginx's ``$ssl_client_escaped_cert`` holds;
    ``der``: base64 DER, ASP.NET's ``X-Client-Cert``.
    """
    cert = getattr(cert, "cert", cert)
    if fmt == "der":
        return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    if fmt != "pem":
        raise ValueError("fmt must be 'pem' or 'der'")
    return quote(cert.public_bytes(serialization.Encoding.PEM).decode(), safe="")
