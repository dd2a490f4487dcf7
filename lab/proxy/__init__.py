"""The real nginx in front of the app: it terminates mTLS and forwards the certificate.

Why the real binary and not a Python imitation: the guide's advice ("mTLS behind
NGINX ... ASP.NET Core will receive client cert via header") is where real
systems get owned, and the details that decide it are nginx's own: which status
it answers for a missing or bad certificate (496, 495), what
``$ssl_client_escaped_cert`` looks like, and the fact that ``proxy_set_header``
*replaces* a client-supplied header of the same name but passes every other
header through untouched. Only nginx itself shows those honestly.

What is where:

* :mod:`~lab.proxy.config`: :class:`ProxyConfig` renders ``nginx.conf`` from the
  Jinja2 template ``templates/nginx.conf.j2`` (``ssl_verify_client
  on|optional|optional_no_ca``, ``ssl_verify_depth``, ``ssl_crl``, the certificate
  forwarded in ``X-SSL-Client-Cert``, look-alike headers cleared, 495/496 as
  ``application/problem+json``, optional mTLS from nginx to the app).
* :mod:`~lab.proxy.process`: :class:`NginxProxy` runs ``nginx -p PREFIX`` on a
  loopback port in a private prefix, waits until it listens, stops it.
* :mod:`~lab.proxy.logs`: the error log as stable lines; :mod:`~lab.proxy.binary`:
  finding nginx (or the exact install command); :mod:`~lab.proxy.kubernetes`: the
  same set-up as ingress-nginx and cert-manager manifests.

Running as root: nginx's master process switches its workers to the ``user``
directive's account (``nobody`` by default), which cannot enter a private
prefix. The lab runs the workers as the current user instead (``user root
root;`` when root, no ``user`` line otherwise): the prefix stays 0700 and the
private keys 0600, readable by nobody else.

Imports: lab.pki, lab.tls, lab.net, lab.errors, lab.housekeeping (never lab.course).
"""

from lab.net import free_port, loopback_alias_available
from lab.proxy.binary import (
    INSTALL_HINT,
    NginxError,
    NginxNotFoundError,
    find_nginx,
    nginx_version,
    require_nginx,
)
from lab.proxy.config import (
    CERT_HEADER,
    DN_HEADER,
    FILES,
    FORWARDED,
    LOOKALIKE_HEADERS,
    VERIFY_CLIENT_MODES,
    VERIFY_HEADER,
    ProxyConfig,
)
from lab.proxy.logs import LogLine, parse_log
from lab.proxy.process import (
    PREFIX_STEM,
    NginxProxy,
    running_proxies,
    runtime_dir,
    stop_all,
)

__all__ = [
    "CERT_HEADER",
    "DN_HEADER",
    "FILES",
    "FORWARDED",
    "INSTALL_HINT",
    "LOOKALIKE_HEADERS",
    "PREFIX_STEM",
    "VERIFY_CLIENT_MODES",
    "VERIFY_HEADER",
    "LogLine",
    "NginxError",
    "NginxNotFoundError",
    "NginxProxy",
    "ProxyConfig",
    "free_port",
    "find_nginx",
    "loopback_alias_available",
    "nginx_version",
    "parse_log",
    "require_nginx",
    "running_proxies",
    "runtime_dir",
    "stop_all",
]
