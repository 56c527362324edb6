"""Stopping a training loop between steps: Ctrl-C, SIGTERM, or the study that started the run dying.

A study starts each `gan train` with GAN_STUDY_PID set to its own PID. When that study dies (even by
kill -9, which it cannot forward), the trainer is re-parented, `os.getppid()` no longer names the
study, and the loop stops at the next step as after SIGTERM: checkpoint, exit. So no run outlives its
study by more than a step, and a rerun of the study never meets an orphan still writing its folders.
"""

from __future__ import annotations

import os
import signal
from typing import Any

STUDY_PID_ENV = "GAN_STUDY_PID"


class StopRequest:
    """Ctrl-C / SIGTERM / a dead parent study ask the loop to stop after the current step (a checkpoint taken
    mid-step, with D already updated and G not, would not resume exactly); a second Ctrl-C stops at once."""

    def __init__(self) -> None:
        self.signalled = False
        self.reason: str | None = None
        self._previous: dict[int, Any] = {}
        self._study_pid = _study_pid()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: signals stay as they are
                pass

    def _handle(self, signum, frame) -> None:
        if self.signalled and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signalled = True
        self.reason = self.reason or signal.Signals(signum).name

    @property
    def requested(self) -> bool:
        """True once a stop was asked for; checked at every step (one getppid call: cheap)."""
        if not self.signalled and self._study_pid is not None and os.getppid() != self._study_pid:
            self.signalled = True
            self.reason = f"its study (PID {self._study_pid}) is gone"
        return self.signalled

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _study_pid() -> int | None:
    """The PID of the study that started this process, when one did (GAN_STUDY_PID)."""
    value = os.environ.get(STUDY_PID_ENV, "")
    return int(value) if value.isdigit() else None
