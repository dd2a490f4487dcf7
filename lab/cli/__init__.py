"""``python -m lab``: the course's command line, for people working outside notebooks.

Conventions every command follows: ``--help`` everywhere; exit code 0 for success,
1 for a failure (with one clear line on stderr, never a traceback), 2 for a usage
error. Set ``LAB_DEBUG=1`` to see the traceback of an unexpected error. Output piped
into a reader that stops early (``| head``) ends quietly, as ``ls`` does.

Each command is a module in :mod:`lab.cli.commands` with ``register(subparsers)``;
:data:`COMMANDS` lists them, in the order ``--help`` shows them.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from lab import __version__
from lab.cli.commands import bench, break_, doctor, ocsp, pki, reset, serve
from lab.errors import LabError

#: Every command, as ``--help`` lists it. A new command: write its module, add it here.
COMMANDS = (bench, break_, doctor, ocsp, pki, reset, serve)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lab",
        description="mTLS Lab: build a PKI, run an mTLS server, break it and diagnose it.",
    )
    parser.add_argument("--version", action="version", version=f"mtls-lab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    previous = _exit_on_sigterm()
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        return _reader_went_away()
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the CLI promises one line, not a traceback
        if os.environ.get("LAB_DEBUG"):
            raise
        print(
            f"error: unexpected {type(exc).__name__}: {exc} (set LAB_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm():
    """SIGTERM ends the command as an exit, not a kill: ``finally`` blocks and ``atexit`` run.

    Python's default for SIGTERM is to die on the spot, which would leave the
    temporary folders with keys (scenarios, the OpenSSL guide) behind. Returns the
    previous handler (None when not in the main thread, where handlers cannot be set).
    """
    if threading.current_thread() is not threading.main_thread():
        return None

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    return signal.signal(signal.SIGTERM, stop)


def _reader_went_away() -> int:
    """``| head`` closed the pipe: stop quietly, as ``ls`` does (the exit code a shell shows for SIGPIPE).

    Python's own advice (the ``signal`` module docs, "Note on SIGPIPE"): point stdout
    at devnull so the interpreter's final flush at exit does not raise again.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 128 + 13  # 141: what a shell reports for a command ended by SIGPIPE
