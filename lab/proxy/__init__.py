"""The real nginx in front of the app: it terminates mTLS and forwards the certificate.

Why the real binary and not a Python imitation: the details that decide whether the
guide's "mTLS behind NGINX" is safe are nginx's own: which status it answers for a
missing or bad certificate (400 out of the box, 496/495 internally), what
``$ssl_client_escaped_cert`` looks like, and that ``proxy_set_header`` replaces a
client's header of the same name but passes every other header through untouched.

Where things are: :mod:`~lab.proxy.process` (:class:`Nginx`, the one launcher),
:mod:`~lab.proxy.config` (:class:`NginxProxy`, the hardened set-up), :mod:`~lab.proxy.binary`.

Imports: lab.pki, lab.tls, lab.auth, lab.net, lab.paths, lab.errors (never lab.course, and
never lab.housekeeping, whose ``reset`` calls :func:`stop_all`).
"""

from lab.net import loopback_alias_available
from lab.proxy.binary import INSTALL_HINT, NginxError, NginxNotFoundError, find_nginx, require_nginx
from lab.proxy.config import (
    CERT_HEADER,
    LOOKALIKE_HEADERS,
    VERIFY_CLIENT_MODES,
    NginxProxy,
    ProxyConfig,
)
from lab.proxy.process import (
    PREFIX_STEM,
    LogLine,
    Nginx,
    free_port,
    parse_log,
    running_proxies,
    stop_all,
)

__all__ = [
    "CERT_HEADER",
    "INSTALL_HINT",
    "LOOKALIKE_HEADERS",
    "PREFIX_STEM",
    "VERIFY_CLIENT_MODES",
    "LogLine",
    "Nginx",
    "NginxError",
    "NginxNotFoundError",
    "NginxProxy",
    "ProxyConfig",
    "find_nginx",
    "free_port",
    "loopback_alias_available",
    "parse_log",
    "require_nginx",
    "running_proxies",
    "stop_all",
]
