"""The hardened nginx in front of the app: :class:`NginxProxy` writes its configuration and runs it.

Notebook 07 has the learner write the few directives mTLS needs; ``serve --behind-nginx``
and notebook 11 need the whole set (problem+json for 495/496, look-alike headers cleared,
mTLS from nginx to the app, the Mozilla TLS profile) without repeating it. The text lives
in ``templates/nginx.conf.j2``, a Jinja2 template that reads like the configuration it
produces; this module hands it the options. Every path in the text is relative to the
prefix (``nginx -p PREFIX``), so it reads the same on every machine.
"""

from __future__ import annotations

import re
from pathlib import Path

from lab.auth.forwarding import CERT_HEADER, DN_HEADER, VERIFY_HEADER
from lab.pki import load_identity
from lab.proxy.process import TEMPLATES, Nginx, listen_address, worker_user
from lab.tls import policy as tlspolicy
from lab.tls.contexts import trust_pem

#: The headers nginx sets for the app (their names are the contract lab.auth.forwarding
#: reads), and the nginx variable each one carries.
FORWARDED = {
    CERT_HEADER: "$ssl_client_escaped_cert",
    VERIFY_HEADER: "$ssl_client_verify",
    DN_HEADER: "$ssl_client_s_dn",
}

#: Where the prefix keeps each file (relative paths: nginx resolves them against -p).
FILES = {
    "server_cert": "certs/server.crt",
    "server_key": "certs/server.key",
    "ca": "certs/ca.pem",
    "crl": "certs/crl.pem",
    "proxy_cert": "certs/proxy.crt",
    "proxy_key": "certs/proxy.key",
}

#: The template's options besides the files, with their defaults.
OPTIONS = {
    "verify_client": "on",
    "proxy_bind": None,
    "min_tls": "1.2",
    "tls_profile": "intermediate",
}

#: The values nginx takes for the options the template writes as they are.
CHOICES = {"verify_client": ("on", "optional", "optional_no_ca", "off"), "min_tls": ("1.2", "1.3")}


class NginxProxy(Nginx):
    """The real nginx, terminating mTLS on a loopback port and forwarding to ``upstream``.

    >>> with NginxProxy(app_server, certificate=srv, trust=ca) as proxy:
    ...     client.session(alice, trust=ca).get(proxy.url + "/api/secure")

    ``upstream`` is a running :class:`~lab.tls.server.MTLSServer` or a URL (over https,
    nginx verifies the app against ``trust`` too). ``certificate`` is what nginx presents
    to clients; ``trust`` the CA(s) client certificates must chain to; ``crl`` a PEM CRL
    file (what ``pki crl`` writes) that becomes ``ssl_crl``; ``proxy_certificate`` the
    client certificate nginx presents to the app (``proxy_ssl_certificate``), so the app
    can check who forwarded the header. The other keywords (:data:`OPTIONS`):
    ``verify_client`` is nginx's ``ssl_verify_client`` (on, optional, off, or optional_no_ca:
    any certificate gets through, with the verdict in ``$ssl_client_verify``, and the app
    must validate it itself); ``proxy_bind`` the loopback address nginx connects to the app
    from; ``min_tls`` and ``tls_profile`` the TLS policy. ``host`` and ``port`` are where
    nginx listens (loopback only; port 0 picks a free one).
    """

    def __init__(
        self, upstream, *, certificate, trust, proxy_certificate=None, crl=None, **settings
    ):
        url = upstream.rstrip("/") if isinstance(upstream, str) else _server_url(upstream)
        if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+(/.*)?", url):
            raise ValueError(
                f"upstream must be an http(s) URL such as https://127.0.0.1:8443, not {url!r}"
            )
        host, port = settings.pop("host", "127.0.0.1"), settings.pop("port", 0)
        if unknown := settings.keys() - OPTIONS.keys():
            raise TypeError(f"NginxProxy got unexpected keywords: {', '.join(sorted(unknown))}")
        for name, allowed in CHOICES.items():  # written into nginx.conf: one line now, not nginx's
            if name in settings and settings[name] not in allowed:
                raise ValueError(
                    f"{name} must be one of {', '.join(allowed)}, not {settings[name]!r}"
                )
        self.options = {**OPTIONS, **settings, "upstream": url, "crl": crl is not None}
        self.options["proxy_certificate"] = proxy_certificate is not None
        identity = load_identity(certificate)
        files = {
            FILES["server_cert"]: identity.chain_pem,
            FILES["server_key"]: identity.key_pem(),
            FILES["ca"]: trust_pem(trust).encode(),
        }
        if crl is not None:
            files[FILES["crl"]] = Path(crl).read_bytes()
        if proxy_certificate is not None:
            own = load_identity(proxy_certificate)
            files[FILES["proxy_cert"]], files[FILES["proxy_key"]] = own.chain_pem, own.key_pem()
        super().__init__("", files, host=host, port=port)

    def config_text(self, port: int) -> str:
        """The whole ``nginx.conf`` for ``port``, from the template."""
        modern = tlspolicy.check_profile(self.options["tls_profile"]) == "modern"
        protocols = (
            "TLSv1.2 TLSv1.3" if self.options["min_tls"] == "1.2" and not modern else "TLSv1.3"
        )
        return TEMPLATES.get_template("nginx.conf.j2").render(
            **self.options,
            user=worker_user(),
            listen=listen_address(self.host, port),
            protocols=protocols,
            mozilla_version=tlspolicy.MOZILLA_VERSION,
            curves=":".join(tlspolicy.CURVES),
            ciphers=tlspolicy.INTERMEDIATE_CIPHERS,
            files=FILES,
            forwarded=FORWARDED,
        )


def _server_url(server) -> str:
    """A lab server by IP (nginx would resolve "localhost" to ::1 too); nginx verifies the name."""
    host = "127.0.0.1" if server.host == "localhost" else server.host
    return f"https://{listen_address(host, server.port)}"
