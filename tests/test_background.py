"""PollingThread: ticks until stopped, stops promptly, idempotent, never keeps the interpreter alive."""

from __future__ import annotations

import threading

from lab.ops.background import PollingThread


class Counter(PollingThread):
    thread_name = "test-counter"

    def __init__(self):
        super().__init__(poll=0.01)
        self.ticks = 0
        self.ticked = threading.Event()

    def tick(self):
        self.ticks += 1
        if self.ticks >= 3:
            self.ticked.set()


def test_it_ticks_until_stopped_then_stops_for_good():
    with Counter() as loop:
        assert loop.running and loop._thread.daemon
        assert loop.ticked.wait(5)
    assert not loop.running
    seen = loop.ticks
    loop.ticked.clear()
    assert not loop.ticked.wait(0.05) and loop.ticks == seen


def test_start_and_stop_are_idempotent():
    loop = Counter()
    loop.stop()
    assert loop.start() is loop.start()
    assert len([t for t in threading.enumerate() if t.name == "test-counter"]) == 1
    loop.stop()
    loop.stop()
    assert not loop.running
