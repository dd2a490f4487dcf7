"""Where the lab may listen: loopback only.

Why one module: the course starts real servers (the mTLS server, the OCSP responder,
nginx) on a learner's machine. A learner's mTLS server is not a public service, so
every one of them refuses any address but loopback, with the same sentence.
"""

from __future__ import annotations

import ipaddress

from lab.errors import ServerError


def require_loopback(host: str) -> None:
    """Raise :class:`~lab.errors.ServerError` unless ``host`` is a loopback address."""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ServerError(
        f"refusing to bind {host!r}: the lab binds only loopback addresses (127.0.0.0/8 or ::1)"
    )
