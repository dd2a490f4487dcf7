"""A small stoppable background loop, shared by the lab's pollers.

Why: the renew loop and the certificate-file watcher both wake every few
hundred milliseconds to check something, and both must stop promptly, never keep
the interpreter alive, and work as context managers. One tested shape instead of
two hand-written copies.
"""

from __future__ import annotations

import threading


class PollingThread:
    """Calls :meth:`tick` every ``poll`` seconds in a daemon thread, until stopped."""

    thread_name = "lab-poller"

    def __init__(self, *, poll: float = 0.1):
        self.poll = poll
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> None:  # pragma: no cover - subclasses say what to do
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            self.tick()

    def start(self):
        """Start the loop (no-op when already running)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, daemon=True, name=self.thread_name)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the loop and wait for it (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
