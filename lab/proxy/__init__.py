"""The real nginx in front of the app: it terminates mTLS and forwards the certificate.

Why the real binary and not a Python imitation: the details that decide whether the
guide's "mTLS behind NGINX" is safe are nginx's own: which status it answers for a
missing or bad certificate (400 out of the box, 496/495 internally), what
``$ssl_client_escaped_cert`` looks like, and that ``proxy_set_header`` replaces a
client's header of the same name but passes every other header through untouched.

Where things are: :mod:`~lab.proxy.process` (:class:`Nginx`, the one launcher, which runs
the ``server`` block you write; finding the binary), :mod:`~lab.proxy.config`
(:class:`NginxProxy`, the hardened set-up behind ``serve --behind-nginx``).

Imports: lab.pki, lab.tls, lab.auth, lab.net, lab.paths, lab.errors, and lab.housekeeping
inside the functions that record nginx for ``reset`` (never lab.course).
"""

from lab.proxy.config import CERT_HEADER, NginxProxy
from lab.proxy.process import Nginx, NginxError, running_proxies

__all__ = [
    "CERT_HEADER",
    "Nginx",
    "NginxError",
    "NginxProxy",
    "running_proxies",
]
