"""`python tests/pausing_gan.py MOMENT MARKER WAKE GAN_ARGS...`: `gan GAN_ARGS...` that pauses at one moment.

The tests that stop or kill a running `gan train` (tests/slow/test_kill_resume.py, tests/train/test_train.py,
tests/train/test_faults.py) start it through this driver, so that the signal always lands at the moment the test
chose, while the run is still running, however loaded the machine: no test sleeps a wall time and hopes.
The hooks live only here (they wrap gan's functions from outside); the package carries no test hooks.

A moment is named by what has just happened, counted from the end of the Tracker's start (the run folder and its
metrics.jsonl exist) until summary.json is in place (after that the run is finished, and no moment is offered):
    step K                 train step K is about to start (step K-1 is whole)
    d_step K               inside step K: D has been updated, G not yet
    log K                  the metrics row of step K has just been appended (flushed)
    fsync FILE N           the N-th atomic write of FILE (last.pt, summary.json, ...): temp file written, not fsynced
    replace FILE N         ... temp file complete (and, for last.pt, prev.pt already linked), the rename pending
    after_replace FILE N   ... FILE has just been replaced (not offered for summary.json: the run has finished)

MOMENT: one of those names: at it the driver writes MARKER ({"pid", "moment"}; atomically) and pauses;
    or "count": never pause, and write the list of every moment met, as JSON, to MARKER when the command ends.
WAKE: "kill": stay paused until killed (a driver whose parent test is gone exits, code 3, without going on);
    "stop": go on once a stop was asked for (SIGTERM / SIGINT, or the study that started the run gone), so that
    the loop stops at its next step, as `gan train` does.
GAN_ARGS "study ...": the study's trainers are started through this driver (same MOMENT, MARKER and WAKE).
"""

from __future__ import annotations

import json
import os
import sys
import time

if __name__ == "__main__":  # this file's folder (tests/) is no package root: gan comes from PYTHONPATH
    del sys.path[0]

MOMENTS: list[str] = []  # every moment met, in order
_state = {"counting": False, "step": 0, "stop": None, "writes": {}}


def _target(path) -> str:
    """The file an atomic write is making: '.last.pt.abc123.tmp' (gan.files.atomic's temp name) -> 'last.pt'."""
    name = os.path.basename(str(path))
    if name.startswith(".") and name.endswith(".tmp"):
        return name[1:].rsplit(".", 2)[0]
    return name


def install(moment: str, marker: str | None, wake: str, patch=setattr) -> list[str]:
    """Wrap gan's training loop, Tracker and atomic writes to record moments and pause at `moment`.
    patch: setattr, or a pytest MonkeyPatch's setattr (an in-process count that is undone after)."""
    import gan.files.atomic as atomic
    import gan.train.loop as loop
    import gan.train.step as step_module
    import gan.tracking.tracker as tracking

    MOMENTS.clear()
    _state.update(counting=False, step=0, stop=None, writes={})
    parent = os.getppid()

    def pause(name: str) -> None:
        tmp = f"{marker}.tmp"
        with open(tmp, "w") as f:
            json.dump({"pid": os.getpid(), "moment": name}, f)
        os.rename(tmp, marker)  # the test never reads a half-written marker
        while True:
            if wake == "stop" and _state["stop"] is not None and _state["stop"].requested:
                return  # the loop sees the same request at its next step, checkpoints and stops
            if os.getppid() != parent:
                os._exit(3)  # orphaned (the test is gone), no stop asked for: never go on to finish the run
            time.sleep(0.02)

    def at(name: str) -> None:
        if not _state["counting"]:
            return
        MOMENTS.append(name)
        if name == moment and moment not in MOMENTS[:-1]:
            pause(name)

    class RecordingStop(loop.StopRequest):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            _state["stop"] = self

    real_train_step, real_d_step = loop.train_step, step_module.d_step

    def train_step(run, *args, **kwargs):
        _state["step"] = run.step + 1
        at(f"step {run.step + 1}")
        return real_train_step(run, *args, **kwargs)

    def d_step(*args, **kwargs):
        out = real_d_step(*args, **kwargs)
        at(f"d_step {_state['step']}")
        return out

    real_init, real_log = tracking.Tracker.__init__, tracking.Tracker.log

    def tracker_init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        _state["counting"] = True

    def log(self, row, step):
        real_log(self, row, step)
        at(f"log {step}")

    def nth(target: str, what: str) -> int:
        key = (target, what)
        _state["writes"][key] = _state["writes"].get(key, 0) + 1
        return _state["writes"][key]

    class MomentOs:
        """gan.files.atomic's `os`: every atomic write's fsync and rename are moments."""
        def __getattr__(self, name):
            return getattr(os, name)

        def fsync(self, fd):
            target = _target(os.readlink(f"/proc/self/fd/{fd}"))
            at(f"fsync {target} {nth(target, 'fsync')}")
            return os.fsync(fd)

        def replace(self, src, dst):
            target = _target(dst)
            n = nth(target, "replace")
            at(f"replace {target} {n}")
            os.replace(src, dst)
            if target == "summary.json":
                _state["counting"] = False  # the run has finished: nothing after this is a moment of it
            else:
                at(f"after_replace {target} {n}")

    patch(loop, "StopRequest", RecordingStop)
    patch(loop, "train_step", train_step)
    patch(step_module, "d_step", d_step)
    patch(tracking.Tracker, "__init__", tracker_init)
    patch(tracking.Tracker, "log", log)
    patch(atomic, "os", MomentOs())
    return MOMENTS


def route_trainers(moment: str, marker: str, wake: str) -> None:
    """`gan study`: each trainer it starts (`python -m gan train ...`) runs through this driver instead."""
    import gan.study.runner as runner

    real = runner._train_command

    def through_driver(*args, **kwargs):
        cmd = real(*args, **kwargs)
        assert cmd[1:4] == ["-m", "gan", "train"], cmd
        return [cmd[0], os.path.abspath(__file__), moment, marker, wake, *cmd[3:]]

    runner._train_command = through_driver


########################################################################################
# the test's side


def command(moment: str, marker, wake: str, *gan_args: str) -> list[str]:
    """The argv that runs `gan GAN_ARGS...` through this driver (for subprocess.Popen)."""
    return [sys.executable, os.path.abspath(__file__), moment, str(marker), wake, *gan_args]


def wait_until_paused(proc, marker, moment: str, timeout: float) -> int:
    """Wait until the run says, in `marker`, that it is paused at `moment`; returns the paused process's PID
    (the driver's own, or a study's trainer). `timeout` only guards against a hang; the process must not exit."""
    end = time.monotonic() + timeout
    while not os.path.exists(marker):
        if proc.poll() is not None:
            err = proc.stderr.read()[-2000:] if proc.stderr else ""
            raise AssertionError(f"the process exited ({proc.returncode}) before {moment!r}: {err}")
        if time.monotonic() > end:
            proc.kill()
            raise AssertionError(f"the run never reached {moment!r} in {timeout} s (hung?)")
        time.sleep(0.02)
    with open(marker) as f:
        said = json.load(f)
    assert said["moment"] == moment, said
    return said["pid"]


def main(argv: list[str]) -> int:
    moment, marker, wake, gan_args = argv[0], argv[1], argv[2], argv[3:]
    assert wake in ("kill", "stop"), wake
    from gan.cli import main as gan_main

    if gan_args[:1] == ["study"]:
        route_trainers(moment, marker, wake)
        return gan_main(gan_args)
    install(moment, marker, wake)
    try:
        return gan_main(gan_args)
    finally:
        if moment == "count":
            with open(marker, "w") as f:
                json.dump(MOMENTS, f)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
