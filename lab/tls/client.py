"""A requests Session that presents a client certificate and trusts only your CA.

The guide's client does two things: it adds a client certificate
(``new X509Certificate2("client.pfx", "pfx-password")``), and it accepts *any*
server certificate (``DangerousAcceptAnyServerCertificateValidator``). This client
does the first and refuses the second: the server must chain to the CA you name.

Why not just ``requests.Session(cert=..., verify=ca)``? Two traps:

* **REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE.** When either is set (common on corporate
  machines and CI runners), requests replaces ``Session.verify``
  with the environment's bundle on every request (requests issue #3829): your
  private CA is silently ignored and the call fails, or worse, a public CA is
  trusted for your internal server.
* **Encrypted keys and .pfx files.** requests takes only file paths for ``cert``
  and has no way to pass a key passphrase or a PKCS#12 password.

So the session owns one :class:`ssl.SSLContext` (trust + identity), mounted
through an adapter that ignores whatever ``verify`` and ``cert`` requests merges
in from the environment, and ``trust_env`` is off (no proxies or .netrc on
loopback). Per-request ``verify=False`` is refused with an explanation.
"""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter

from lab.tls import contexts as tlsconfig


class InsecureRequestRefused(ValueError):
    """Raised when someone passes verify=False to a lab session."""


class MTLSAdapter(HTTPAdapter):
    """An HTTPAdapter whose TLS settings come from one SSLContext and nothing else.

    requests (2.32.2 and later) asks :meth:`build_connection_pool_key_attributes` for the
    TLS settings of every connection pool, direct or through a proxy: that one method
    hands urllib3 this context.
    """

    def __init__(self, ssl_context):
        self.ssl_context = ssl_context
        super().__init__()

    def send(self, request, verify=True, **kwargs):
        if verify is False:
            raise InsecureRequestRefused(
                "verify=False would accept any server certificate (the guide's "
                "DangerousAcceptAnyServerCertificateValidator); a lab session always "
                "verifies the server against its trust anchors."
            )
        return super().send(request, verify=verify, **kwargs)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, _ = super().build_connection_pool_key_attributes(request, True, None)
        # Only our context: no ca_certs from REQUESTS_CA_BUNDLE, no cert_file.
        return host_params, {"ssl_context": self.ssl_context, "cert_reqs": "CERT_REQUIRED"}

    def cert_verify(self, conn, url, verify, cert):
        # requests would set conn.ca_certs to REQUESTS_CA_BUNDLE (or certifi), and
        # urllib3 would then *add* that bundle to our context. Keep our trust only.
        conn.cert_reqs = "CERT_REQUIRED"
        conn.ca_certs = None
        conn.ca_cert_dir = None


class MTLSSession(requests.Session):
    """A Session with a client certificate and a private trust store.

    Build one with :func:`session`.
    """

    def __init__(self, ssl_context):
        super().__init__()
        self.trust_env = False
        self.ssl_context = ssl_context
        self.mount("https://", MTLSAdapter(ssl_context))


def session(
    identity=None,
    trust=None,
    *,
    password: str | bytes | None = None,
    max_version: str | None = None,
) -> MTLSSession:
    """A requests Session for mutual TLS.

    ``identity``: a lab certificate, a ``(crt, key)`` pair of paths, or a ``.pfx``
    path (with ``password``); ``None`` for a client without a certificate.
    ``trust``: the CA(s) the *server* must chain to (a lab CA, a certificate, PEM
    bytes or a path). Required: there is no "trust anything" default.
    The TLS policy is Mozilla's "intermediate" (:mod:`lab.tls.policy`);
    ``max_version="1.2"`` makes an old client.
    """
    if trust is None:
        raise ValueError(
            "trust is required: pass the CA that signed the server certificate "
            "(a lab CA, or a path such as certs/rootCA.pem)"
        )
    ctx = tlsconfig.client_context(identity, trust, password=password, max_version=max_version)
    return MTLSSession(ctx)
