"""Ctrl-C and SIGTERM during training: ask the loop to stop between steps, where a checkpoint resumes exactly."""

from __future__ import annotations

import signal
from typing import Any


class StopRequest:
    """Ctrl-C / SIGTERM ask the loop to stop after the current step (a checkpoint taken mid-step, with D
    already updated and G not, would not resume exactly); a second Ctrl-C stops at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: signals stay as they are
                pass

    def _handle(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
