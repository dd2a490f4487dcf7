"""``python -m lab``: the course's command line, for people working outside notebooks.

Conventions every command follows: ``--help`` everywhere; exit code 0 for success,
1 for a failure (with one clear line on stderr, never a traceback), 2 for a usage
error. Set ``LAB_DEBUG=1`` to see the traceback of an unexpected error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from lab import __version__
from lab.cli import commands
from lab.errors import LabError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lab",
        description="mTLS Lab: build a PKI, run an mTLS server, break it and diagnose it.",
    )
    parser.add_argument("--version", action="version", version=f"mtls-lab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI promises one line, not a traceback
        if os.environ.get("LAB_DEBUG"):
            raise
        print(
            f"error: unexpected {type(exc).__name__}: {exc} (set LAB_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
