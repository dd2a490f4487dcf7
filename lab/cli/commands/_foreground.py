"""Run servers in the foreground until Ctrl-C or SIGTERM, reporting as they go, and the curl line
to try them: shared by serve, serve --behind-nginx and ocsp."""

from __future__ import annotations

import shlex
import signal
import sys
import threading
from pathlib import Path

from lab import housekeeping
from lab.auth.text import printable
from lab.paths import show


def foreground(kind: str, banner: list[str], sources, *servers) -> int:
    """Print ``banner``, then on stderr each new line of ``sources``, until Ctrl-C or SIGTERM;
    then stop ``servers`` (in this order). A source is a function ``(start) -> lines``: the
    lines from number ``start`` on, so a long-running server's history is not formatted again
    every half second.

    SIGINT is handled explicitly, not as KeyboardInterrupt: a shell that starts a
    command in the background ignores SIGINT for it, and Python would then never
    see Ctrl-C. While it runs, the process is recorded (as ``kind``) in this checkout's
    state folder, so ``lab reset`` here stops it, and ``lab reset`` in another checkout does not.
    """
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    housekeeping.record_process(kind=kind)
    seen = [0] * len(sources)
    try:
        print(*banner, sep="\n", flush=True)
        while True:
            stopping = stop.wait(0.5)  # then one more round: what came in meanwhile
            for i, source in enumerate(sources):
                lines = source(seen[i])
                for line in lines:
                    print(printable(line), file=sys.stderr, flush=True)
                seen[i] += len(lines)
            if stopping:
                break
    finally:
        for server in servers:
            server.stop()
        housekeeping.forget_process()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        print("stopped", flush=True)
    return 0


def curl_command(url: str, directory: Path) -> str:
    """The guide's curl test, made correct (--cacert so curl verifies our server), shell-quoted:
    a folder name with spaces or ``;$(...)`` is pasted as a name, never run."""
    d = show(directory)
    files = ["--cert", f"{d}/client.crt", "--key", f"{d}/client.key", "--cacert", f"{d}/rootCA.pem"]
    return shlex.join(["curl", *files, f"{url}/api/secure"])
