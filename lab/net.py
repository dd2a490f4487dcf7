"""Where the lab may listen: loopback only.

Why one module: the course starts real servers (the mTLS server, the OCSP responder,
nginx) on a learner's machine. A learner's mTLS server is not a public service, so
every one of them refuses any address but loopback, with the same sentence.
"""

from __future__ import annotations

import ipaddress
import socket

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


def free_port(host: str) -> int:
    """A port the kernel has just handed out on ``host`` (IPv4 or IPv6), for a program that must
    be told its port up front (nginx's ``listen``); servers of our own bind port 0 themselves."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def loopback_alias_available(address: str = "127.0.0.2") -> bool:
    """Can we connect *from* ``address``? Linux routes all of 127/8; macOS configures only
    127.0.0.1 until an alias is added (``sudo ifconfig lo0 alias 127.0.0.2``)."""
    try:
        with socket.socket() as s:
            s.bind((address, 0))
        return True
    except OSError:
        return False
