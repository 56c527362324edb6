"""SIGKILL a CPU training run at chosen moments (inside a checkpoint write included): nothing finished is lost.

Each test starts `python -m gan train` (through a small driver that pauses the run at one moment and
says so in a marker file), kills it with SIGKILL there, then checks: the checkpoint on disk is loadable
(the old or the new one, never half), metrics.jsonl has no torn line and no duplicated step after the
resume, and the resumed run (or the fresh restart of a run killed before its first checkpoint) ends
with exactly the weights and metrics of an uninterrupted run.

The pause hook lives only in the driver below (it wraps gan.files.atomic's view of `os`, counting checkpoint
writes only, and
Tracker.log); the package itself carries no test hooks.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gan.train.checkpoint import load_checkpoint
from gan.tracking.metrics_file import read_metrics
from gan.study.collect import run_status
from gan.train.launch import main_train

from conftest import REPO, TINY

STEPS = 24  # checkpoints at 4, 8, ..., 24; metrics rows at 2, 4, ..., 24
ARGS = TINY + [f"train.steps={STEPS}", "train.ckpt_every=4", "train.sample_every=8"]

# Runs `gan train ARGS...` and pauses (sleeps) at one moment, after touching MARKER. argv: POINT N MARKER ARGS...
#   fsync N:          the N-th checkpoint's temp file is written, not yet fsynced nor renamed
#   replace N:        the N-th checkpoint's temp file is complete, the rename has not happened
#   after_replace N:  the N-th checkpoint has just replaced last.pt
#   log N:            the metrics row of step N has just been appended (its checkpoint not yet written)
#   start 0:          training is about to begin (the random-moment test sleeps, then kills)
DRIVER = r'''
import os, sys, time
import gan.files.atomic as atomic
import gan.tracking.tracker as tracking
from gan.cli import main

point, n, marker, args = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
calls = {"fsync": 0, "replace": 0}

def pause():
    open(marker, "w").close()
    time.sleep(600)

def is_checkpoint(path):
    return os.path.basename(str(path)).startswith((".last.pt.", "last.pt"))

class PausingOs:
    """gan.files.atomic's `os`, pausing inside the N-th checkpoint write (other atomic writes pass through)."""
    def __getattr__(self, name):
        return getattr(os, name)
    def fsync(self, fd):
        if is_checkpoint(os.readlink(f"/proc/self/fd/{fd}")):
            calls["fsync"] += 1
            if point == "fsync" and calls["fsync"] == n:
                pause()
        return os.fsync(fd)
    def replace(self, src, dst):
        mine = is_checkpoint(dst)
        calls["replace"] += mine
        if mine and point == "replace" and calls["replace"] == n:
            pause()
        os.replace(src, dst)
        if mine and point == "after_replace" and calls["replace"] == n:
            pause()

atomic.os = PausingOs()
real_log, real_init = tracking.Tracker.log, tracking.Tracker.__init__

def log(self, row, step):
    real_log(self, row, step)
    if point == "log" and step == n:
        pause()

def init(self, *a, **k):
    real_init(self, *a, **k)
    if point == "start":
        open(marker, "w").close()

tracking.Tracker.log, tracking.Tracker.__init__ = log, init
sys.exit(main(["train", *args]))
'''


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def _start(tmp_path: Path, point: str, n: int, run_dir: Path) -> tuple[subprocess.Popen, Path]:
    driver, marker = tmp_path / "driver.py", tmp_path / "paused"
    driver.write_text(DRIVER)
    proc = subprocess.Popen([sys.executable, str(driver), point, str(n), str(marker), *ARGS, "--out", str(run_dir)],
                            cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return proc, marker


def _kill_when(proc: subprocess.Popen, marker: Path, delay: float = 0.0, timeout: float = 120) -> None:
    """SIGKILL the run `delay` seconds after it touched the marker (fails if it exits or never gets there)."""
    end = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            pytest.fail(f"the run exited ({proc.returncode}) before the kill point: {proc.stderr.read()[-2000:]}")
        if time.monotonic() > end:
            proc.kill()
            pytest.fail("the run never reached the kill point")
        time.sleep(0.02)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stderr.close()


def _weights(state: dict) -> dict[str, torch.Tensor]:
    return {**{f"G.{k}": v for k, v in state["G"].items()}, **{f"D.{k}": v for k, v in state["D"].items()}}


def _rows(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in read_metrics(run_dir)]


def _assert_clean_metrics(run_dir: Path) -> list[int]:
    """Every line of metrics.jsonl parses (a torn last line was already dropped) and steps strictly increase."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines() if (run_dir / "metrics.jsonl").exists() else []
    steps = [json.loads(line)["step"] for line in lines]
    assert steps == sorted(set(steps)), f"duplicated or out-of-order steps: {steps}"
    return steps


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> dict:
    """The uninterrupted run everything is compared with."""
    run_dir = tmp_path_factory.mktemp("straight") / "run"
    assert main_train(None, ARGS, str(run_dir), None) == 0
    return {"weights": _weights(load_checkpoint(run_dir)), "rows": _rows(run_dir)}


def _finish_and_compare(run_dir: Path, straight: dict) -> None:
    """Resume (or restart, when no checkpoint survived) in-process and compare with the straight run."""
    with open(run_dir / "metrics.jsonl", "a") as f:  # what a kill in the middle of a row would leave
        f.write('{"step": 2, "loss/D": 0.12')  # parsed, it would duplicate step 2
    if (run_dir / "checkpoints" / "last.pt").exists():
        assert run_status(run_dir) == "interrupted"
        assert main_train(None, [], None, str(run_dir)) == 0
    else:  # killed before its first checkpoint: `gan study` sees a new run; the same command starts it afresh
        assert run_status(run_dir) == "new"
        assert main_train(None, ARGS, str(run_dir), None) == 0
    assert _assert_clean_metrics(run_dir) == list(range(2, STEPS + 1, 2))
    assert _rows(run_dir) == straight["rows"]
    got = _weights(load_checkpoint(run_dir))
    assert got.keys() == straight["weights"].keys()
    assert all(torch.equal(got[k], straight["weights"][k]) for k in got), "resumed weights differ"
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"


# (point, n, the step of last.pt right after the kill; None: no checkpoint yet)
KILL_POINTS = [
    ("fsync", 1, None),  # inside the first checkpoint write: only the temp file exists
    ("log", 6, 4),  # between checkpoints, just after a metrics row (it is recomputed, not duplicated)
    ("fsync", 2, 4),  # inside the second write, temp file unsynced: the first checkpoint stays
    ("replace", 2, 4),  # temp file complete, rename pending
    ("after_replace", 2, 8),  # rename done: the new checkpoint
]


@pytest.mark.slow
@pytest.mark.parametrize("point, n, ckpt_step", KILL_POINTS, ids=[f"{p}{n}" for p, n, _ in KILL_POINTS])
def test_sigkill_at_a_moment_loses_nothing(tmp_path, straight, point, n, ckpt_step):
    run_dir = tmp_path / "run"
    proc, marker = _start(tmp_path, point, n, run_dir)
    _kill_when(proc, marker)
    assert proc.returncode == -signal.SIGKILL
    assert (run_dir / "config.yaml").is_file() and not (run_dir / "summary.json").exists()
    if ckpt_step is None:
        assert not (run_dir / "checkpoints" / "last.pt").exists()
    else:
        assert load_checkpoint(run_dir)["step"] == ckpt_step  # loadable, old or new, never half
    _assert_clean_metrics(run_dir)
    _finish_and_compare(run_dir, straight)


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing(tmp_path, straight):
    """Kill at a few seeded random moments of the loop; whatever is on disk must resume to the straight run."""
    rng = random.Random(9)
    for i in range(2):
        run_dir = tmp_path / f"run{i}"
        marker_dir = tmp_path / f"m{i}"
        marker_dir.mkdir()
        proc, marker = _start(marker_dir, "start", 0, run_dir)
        _kill_when(proc, marker, delay=rng.uniform(0.0, 0.6))
        if proc.returncode == 0:  # finished before the kill on a fast machine: nothing to check but the result
            got = _weights(load_checkpoint(run_dir))
            assert all(torch.equal(got[k], straight["weights"][k]) for k in got)
            continue
        if (run_dir / "checkpoints" / "last.pt").exists():
            assert load_checkpoint(run_dir)["step"] % 4 == 0
        _assert_clean_metrics(run_dir)
        _finish_and_compare(run_dir, straight)


def test_fresh_restart_clears_stale_rows_of_a_run_killed_before_its_first_checkpoint(tmp_path):
    """A run dir with config.yaml and metrics rows but no checkpoint is started afresh: no stale or duplicated rows."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("data: {name: fake}\n")
    (run_dir / "metrics.jsonl").write_text('{"step": 2, "loss/D": 7.0}\n{"step": 4, "loss/D": 7.0}\n{"step": 6, "lo')
    (run_dir / "checkpoints").mkdir()
    (run_dir / "checkpoints" / ".last.pt.tmp").write_bytes(b"half a checkpoint")
    assert run_status(run_dir) == "new"
    assert main_train(None, TINY + ["train.steps=4"], str(run_dir), None) == 0
    rows = read_metrics(run_dir)
    assert [r["step"] for r in rows] == [2, 4] and all(r["loss/D"] != 7.0 for r in rows)
    assert load_checkpoint(run_dir)["step"] == 4
