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

import os
import shlex
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter

from lab.errors import LabError
from lab.pki import IssuedCertificate, identity_files
from lab.tls import contexts as tlsconfig


class InsecureRequestRefused(ValueError):
    """Raised when someone passes verify=False to a lab session."""


class MTLSAdapter(HTTPAdapter):
    """An HTTPAdapter whose TLS settings come from one SSLContext and nothing else."""

    def __init__(self, ssl_context, **kwargs):
        self.ssl_context = ssl_context
        super().__init__(**kwargs)

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
        pool_kwargs["ssl_context"] = self.ssl_context
        super().init_poolmanager(connections, maxsize, block=block, **pool_kwargs)

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        proxy_kwargs["ssl_context"] = self.ssl_context
        return super().proxy_manager_for(proxy, **proxy_kwargs)

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        if verify is False:
            raise InsecureRequestRefused(
                "verify=False would accept any server certificate (the guide's "
                "DangerousAcceptAnyServerCertificateValidator); a lab session always "
                "verifies the server against its trust anchors."
            )
        return super().send(
            request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies
        )

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

    Build one with :func:`session`. ``curl_command(url)`` prints the equivalent
    curl call, the guide's "How to test".
    """

    def __init__(
        self,
        ssl_context,
        *,
        identity_files=None,
        trust_file=None,
        password=None,
        identity_in_memory: bool = False,
    ):
        super().__init__()
        self.trust_env = False
        self.ssl_context = ssl_context
        self.identity_files = identity_files
        self.trust_file = trust_file
        self._password = password
        self._identity_in_memory = identity_in_memory
        self.mount("https://", MTLSAdapter(ssl_context))

    def curl_command(self, url: str, *, connect_to: str | None = None) -> str:
        """The curl command that makes the same call from a shell.

        Only for a session built from files: curl cannot read an in-memory
        certificate, and a command silently missing ``--cert`` or ``--cacert``
        would not be the same call (it would be refused, or trust CURL_CA_BUNDLE).
        """
        if self._identity_in_memory or not self.trust_file:
            missing = (
                "client certificate"
                if self._identity_in_memory
                else "trust anchor (curl's --cacert)"
            )
            raise LabError(
                f"this session's {missing} exists only in memory, so there is no equivalent curl "
                f"command; write it to files first (.write(...)) and build the session from the paths"
            )
        parts = ["curl"]
        files = self.identity_files
        if files and len(files) == 1:  # a .pfx
            parts += ["--cert-type", "P12", "--cert", f"{files[0]}:{self._password or ''}"]
        elif files:
            parts += ["--cert", str(files[0]), "--key", str(files[1])]
            if self._password:
                parts += ["--pass", str(self._password)]
        if self.trust_file:
            parts += ["--cacert", str(self.trust_file)]
        if connect_to:
            parts += ["--connect-to", connect_to]
        parts.append(url)
        return " ".join(shlex.quote(str(p)) for p in parts)


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
    Mozilla's "intermediate" TLS policy (:mod:`lab.tls.policy`); ``max_version="1.2"``: an old client.
    """
    if trust is None:
        raise ValueError(
            "trust is required: pass the CA that signed the server certificate "
            "(a lab CA, or a path such as certs/rootCA.pem)"
        )
    ctx = tlsconfig.client_context(identity, trust, password=password, max_version=max_version)
    trust_file = Path(trust) if isinstance(trust, (str, os.PathLike)) else None
    files = identity_files(identity)
    return MTLSSession(
        ctx,
        identity_files=files,
        trust_file=trust_file,
        password=password,
        identity_in_memory=identity is not None and files is None,
    )


__all__ = [
    "session",
    "MTLSSession",
    "MTLSAdapter",
    "InsecureRequestRefused",
    "IssuedCertificate",
]
