"""Stopping cleanly: Ctrl-C or SIGTERM ends training at a batch boundary, with a checkpoint."""
from __future__ import annotations

import signal
from contextlib import contextmanager

from ..console import stop_now


class StopFlag:
    """Ctrl-C or SIGTERM asks the loop to stop at the end of the current batch and checkpoint; a second one of
    either ends the process at once, wherever it is (the last checkpoint written is still there)."""

    def __init__(self):
        self.requested = False

    def _handler(self, signum, frame):
        if self.requested:
            stop_now()
        self.requested = True

    @contextmanager
    def installed(self):
        old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for s in old:
                signal.signal(s, self._handler)
        except ValueError:  # not the main thread: no signal handling, plain behaviour
            old = {}
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)
