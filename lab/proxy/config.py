"""``nginx.conf`` as data: the headers nginx forwards, the prefix layout, and :class:`ProxyConfig`.

The text itself lives in ``templates/nginx.conf.j2``, a Jinja2 template that reads
like the configuration it produces (Jinja2 ships with Flask); this module only
checks the options and hands them to the template. Every path in the text is
relative to the prefix (``nginx -p PREFIX``), so it reads the same on every machine.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
from dataclasses import asdict, dataclass, field

import jinja2

from lab.auth.forwarding import CERT_HEADER, DN_HEADER, VERIFY_HEADER
from lab.tls import policy as tlspolicy

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


_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("lab.proxy", "templates"),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,  # a misspelt name fails loudly, never renders as ""
    autoescape=False,  # nginx.conf, not HTML
)
_TEMPLATES.filters["pad"] = _pad


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
    upstream_verify: bool = True
    upstream_name: str = "localhost"
    proxy_bind: str | None = None
    server_name: str = "localhost"
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
        return _TEMPLATES.get_template("nginx.conf.j2").render(
            **values,
            protocols=protocols,
            mozilla_version=tlspolicy.MOZILLA_VERSION,
            tls_policy=tlspolicy.nginx_directives(self.tls_profile, tls12="1.2" in protocols),
            files=FILES,
            forwarded=FORWARDED,
            lookalike_headers=LOOKALIKE_HEADERS,
        )

    def server_block(self) -> str:
        """Only the ``server { ... }`` block: the part that is about mTLS (what notebook 07 prints)."""
        lines = self.render().splitlines()
        start = lines.index("    server {")
        end = lines.index("    }", start)
        return "\n".join(line[4:] for line in lines[start : end + 1])


def worker_user() -> str | None:
    """``user NAME GROUP`` for the workers when root (else nginx ignores the directive with a warning)."""
    if os.geteuid() != 0:
        return None
    try:
        name = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
    except KeyError:  # pragma: no cover - a uid without a passwd entry
        return None
    return f"{name} {group}"
