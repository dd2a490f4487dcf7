"""Run a command in the foreground until Ctrl-C or SIGTERM, and the curl line it prints: shared by serve,
serve --behind-nginx and ocsp."""

from __future__ import annotations

import contextlib
import shlex
import signal
import sys
import threading
from pathlib import Path

from lab import housekeeping
from lab.paths import show


@contextlib.contextmanager
def until_stopped():
    """Yield an Event that Ctrl-C (SIGINT) or SIGTERM sets; put the previous handlers back afterwards.

    SIGINT is handled explicitly, not as KeyboardInterrupt: a shell that starts a
    command in the background ignores SIGINT for it, and Python would then never
    see Ctrl-C. The command's loop polls ``stop.wait(0.5)`` and reports as it goes.

    While it runs, the process is recorded in this checkout's state folder, so
    ``lab reset`` here stops it, and ``lab reset`` in another checkout does not.
    """
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    housekeeping.record_process(kind=_command_name())
    try:
        yield stop
    finally:
        housekeeping.forget_process()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _command_name() -> str:
    """``serve`` or ``ocsp``: the first word after ``python -m lab`` (for reset's report)."""
    words = [w for w in sys.argv[1:] if not w.startswith("-")]
    return words[0] if words else "lab"


def curl_command(url: str, directory: Path, *, client: str = "client") -> str:
    """The guide's curl test, made correct (--cacert so curl verifies our server), shell-quoted:
    a folder name with spaces or ``;$(...)`` is pasted as a name, never run."""
    d = show(directory)
    return shlex.join(
        [
            "curl",
            "--cert",
            f"{d}/{client}.crt",
            "--key",
            f"{d}/{client}.key",
            "--cacert",
            f"{d}/rootCA.pem",
            f"{url}/api/secure",
        ]
    )
