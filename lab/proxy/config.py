"""The hardened nginx in front of the app: :class:`ProxyConfig` renders it, :class:`NginxProxy` runs it.

Notebook 07 has the learner write the few directives mTLS needs; ``serve --behind-nginx``
and the tests need the whole set (problem+json for 495/496, look-alike headers cleared,
mTLS from nginx to the app, the Mozilla TLS profile) without repeating it. The text lives
in ``templates/nginx.conf.j2``, a Jinja2 template that reads like the configuration it
produces; this module checks the options and hands them to it. Every path in the text is
relative to the prefix (``nginx -p PREFIX``), so it reads the same on every machine.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lab.auth.forwarding import CERT_HEADER, DN_HEADER, VERIFY_HEADER
from lab.proxy.process import TEMPLATES, Nginx, listen_address, worker_user
from lab.tls import policy as tlspolicy
from lab.tls.contexts import as_identity, trust_pem

#: The headers nginx sets for the app (their names are the contract lab.auth.forwarding
#: reads), and the nginx variable each one carries.
FORWARDED = {
    CERT_HEADER: "$ssl_client_escaped_cert",
    VERIFY_HEADER: "$ssl_client_verify",
    DN_HEADER: "$ssl_client_s_dn",
}

#: Other names under which some app, somewhere, looks for a client certificate
#: (ASP.NET's default, IIS ARR, ingress-nginx, Envoy). ``proxy_set_header`` only
#: replaces the names it sets; a client's copy of any *other* name reaches the app
#: as the client wrote it. A safe proxy clears every one of them.
LOOKALIKE_HEADERS = (
    "X-Client-Cert",
    "X-ARR-ClientCert",
    "ssl-client-cert",
    "ssl-client-verify",
    "ssl-client-subject-dn",
    "X-Forwarded-Client-Cert",
)

#: ``ssl_verify_client`` values. "optional_no_ca" asks for a certificate but lets
#: any certificate through (verification result in $ssl_client_verify): the app
#: must then validate it itself.
VERIFY_CLIENT_MODES = ("on", "optional", "optional_no_ca", "off")

#: Where the prefix keeps each file (relative paths: nginx resolves them against -p).
FILES = {
    "server_cert": "certs/server.crt",
    "server_key": "certs/server.key",
    "client_ca": "certs/client-ca.pem",
    "crl": "certs/crl.pem",
    "proxy_cert": "certs/proxy.crt",
    "proxy_key": "certs/proxy.key",
    "upstream_ca": "certs/upstream-ca.pem",
}


def _pad(name: str, names) -> str:
    """``name`` padded to the longest of ``names``, so the directives line up in columns."""
    return name.ljust(max(len(n) for n in names))


@dataclass
class ProxyConfig:
    """Everything ``nginx.conf`` says, and :meth:`render` to write it.

    ``upstream`` is the app's URL as nginx reaches it (``https://127.0.0.1:PORT``).
    ``crl=True`` adds ``ssl_crl`` (the caller writes the CRL file it chose to
    ``FILES["crl"]`` in the prefix).
    ``clear_client_headers=False`` renders the *mistake*: the look-alike headers
    a client sends pass through to the app untouched.
    ``proxy_certificate`` makes nginx present its own client certificate to the
    app (``proxy_ssl_certificate``) so the app can check who forwarded the header.
    ``proxy_bind`` is the loopback address nginx connects to the app from.
    """

    port: int
    upstream: str
    verify_client: str = "on"
    verify_depth: int = 2
    crl: bool = False
    clear_client_headers: bool = True
    proxy_certificate: bool = False
    proxy_bind: str | None = None
    host: str = "127.0.0.1"
    min_tls: str = "1.2"
    tls_profile: str = "intermediate"
    user: str | None = field(default_factory=lambda: worker_user())

    def __post_init__(self):
        if self.verify_client not in VERIFY_CLIENT_MODES:
            raise ValueError(
                f"verify_client must be one of {', '.join(VERIFY_CLIENT_MODES)}, "
                f"not {self.verify_client!r}"
            )
        if not (0 <= int(self.verify_depth) <= 100):
            raise ValueError(
                "verify_depth is how many intermediate CAs may sit between the client "
                "certificate and the trusted root (OpenSSL's count): use 0 to 100"
            )
        if self.min_tls not in ("1.2", "1.3"):
            raise ValueError("min_tls must be '1.2' or '1.3'")
        if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+(/.*)?", self.upstream):
            raise ValueError(
                f"upstream must be an http(s) URL such as https://127.0.0.1:8443, "
                f"not {self.upstream!r}"
            )

    def render(self) -> str:
        """The configuration text (paths relative to the prefix, so it reads the same anywhere)."""
        values = asdict(self)
        values["verify_depth"] = int(self.verify_depth)
        tlspolicy.check_profile(self.tls_profile)
        modern = self.tls_profile == "modern"
        protocols = "TLSv1.2 TLSv1.3" if self.min_tls == "1.2" and not modern else "TLSv1.3"
        values["host"] = listen_address(self.host, self.port).rsplit(":", 1)[0]
        return TEMPLATES.get_template("nginx.conf.j2").render(
            pad=_pad,
            **values,
            protocols=protocols,
            mozilla_version=tlspolicy.MOZILLA_VERSION,
            tls_policy=tlspolicy.nginx_directives(self.tls_profile, tls12="1.2" in protocols),
            files=FILES,
            forwarded=FORWARDED,
            lookalike_headers=LOOKALIKE_HEADERS,
        )


class NginxProxy(Nginx):
    """The real nginx, terminating mTLS on a loopback port and forwarding to ``upstream``.

    >>> with NginxProxy(app_server, certificate=srv, trust=ca) as proxy:
    ...     client.session(alice, trust=ca).get(proxy.url + "/api/secure")

    ``upstream`` is a running :class:`~lab.tls.server.MTLSServer` (nginx reaches it over
    TLS and verifies it against ``trust`` too) or a URL.
    ``certificate`` is what nginx presents to clients; ``trust`` the CA(s) client
    certificates must chain to; ``crl`` a PEM CRL (path or bytes, what ``pki crl`` writes) that becomes
    ``ssl_crl``; ``proxy_certificate`` the client certificate nginx presents to the app.
    Every other keyword is a :class:`ProxyConfig` field (``verify_client``,
    ``verify_depth``, ``clear_client_headers``, ``proxy_bind``, ``host``, ``min_tls``,
    ``tls_profile``) or ``port``.
    """

    def __init__(
        self,
        upstream,
        *,
        certificate,
        trust=None,
        proxy_certificate=None,
        crl=None,
        workdir=None,
        **settings,
    ):
        port, host = settings.pop("port", 0), settings.get("host", "127.0.0.1")
        url = upstream.rstrip("/") if isinstance(upstream, str) else _server_url(upstream)
        if trust is None and (settings.get("verify_client") != "off" or "https:" in url):
            raise ValueError(
                "trust is required: the CA(s) that client certificates must chain to, and that "
                "signed an https app's certificate (nginx verifies the app, as any client should)"
            )
        self.config = ProxyConfig(
            port=port or 1,
            upstream=url,
            crl=crl is not None,
            proxy_certificate=proxy_certificate is not None,
            **settings,
        )
        identity = as_identity(certificate)
        files = {FILES["server_cert"]: identity.chain_pem, FILES["server_key"]: identity.key_pem()}
        if trust is not None:
            files[FILES["client_ca"]] = files[FILES["upstream_ca"]] = trust_pem(trust).encode()
        if crl is not None:
            files[FILES["crl"]] = crl if isinstance(crl, bytes) else Path(crl).read_bytes()
        if proxy_certificate is not None:
            own = as_identity(proxy_certificate)
            files[FILES["proxy_cert"]], files[FILES["proxy_key"]] = own.chain_pem, own.key_pem()
        super().__init__("", files, host=host, port=port, workdir=workdir)

    def config_text(self, port: int) -> str:
        """The whole ``nginx.conf`` for ``port``, from the template."""
        self.config = dataclasses.replace(self.config, port=port)
        return self.config.render()


def _server_url(server) -> str:
    """A lab server by IP (nginx would resolve "localhost" to ::1 too); nginx verifies the name."""
    host = "127.0.0.1" if server.host == "localhost" else server.host
    return f"https://{listen_address(host, server.port)}"
