"""Argument types shared by the commands, so bad input is a usage error (exit 2) in one line."""

from __future__ import annotations

import argparse


def port(text: str) -> int:
    """A TCP port for ``--port``: 0 (any free port) to 65535; anything else is a usage error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0-65535; 0 = any free)")
    return value
