"""Run a command in the foreground until Ctrl-C or SIGTERM: shared by serve, serve --behind-nginx and ocsp."""

from __future__ import annotations

import contextlib
import signal
import threading


@contextlib.contextmanager
def until_stopped():
    """Yield an Event that Ctrl-C (SIGINT) or SIGTERM sets; put the previous handlers back afterwards.

    SIGINT is handled explicitly, not as KeyboardInterrupt: a shell that starts a
    command in the background ignores SIGINT for it, and Python would then never
    see Ctrl-C. The command's loop polls ``stop.wait(0.5)`` and reports as it goes.
    """
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
