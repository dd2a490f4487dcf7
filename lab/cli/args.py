"""What the commands share: ``--dir``, and argument types, so bad
input is a usage error (exit 2) in one line.

``float("1e400")`` is infinity and ``float("nan")`` is not a number; both parse, and both
would reach ``timedelta`` as a traceback: :func:`days_type` refuses them.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from lab.paths import certs_dir


def listen_options(parser, default_port: int, port_help: str) -> None:
    """``--host`` and ``--port`` of a server command (the servers refuse a non-loopback host)."""
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=port, default=default_port, help=port_help)


def pki_folder(parser, what: str = "the PKI folder") -> None:
    """``--dir``, whose default ($LAB_CERTS_DIR, else certs/) is read when the parser is built."""
    parser.add_argument("--dir", type=Path, default=certs_dir(), help=f"{what} (default: certs/)")


def port(text: str) -> int:
    """A TCP port for ``--port``: 0 (any free port) to 65535; anything else is a usage error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0-65535; 0 = any free)")
    return value


#: A hundred years: more than any real certificate or CRL, far below what timedelta overflows at.
MAX_DAYS = 36500


def days_type(option: str, *, allow_zero: bool = False):
    """An argparse ``type=`` for ``option``: a finite number of days, > 0 (or >= 0), <= MAX_DAYS."""

    def parse(text: str) -> float:
        try:
            days = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
        if not math.isfinite(days):
            raise argparse.ArgumentTypeError(f"{option} must be a finite number, not {text!r}")
        if days < 0 or (days == 0 and not allow_zero):
            raise argparse.ArgumentTypeError(
                f"{option} must be {'0 or more' if allow_zero else 'greater than 0'}"
            )
        if days > MAX_DAYS:
            raise argparse.ArgumentTypeError(f"{option} must be at most {MAX_DAYS} (100 years)")
        return days

    return parse
