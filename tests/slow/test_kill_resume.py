"""SIGKILL a CPU training run at chosen moments (inside a checkpoint write included): nothing finished is lost.

Each test starts `python -m gan train` through tests/pausing_gan.py, which pauses the run at one moment (a step,
a metrics row, a point inside an atomic write) and says so in a marker file; the test kills it with SIGKILL
there, then checks: the checkpoint on disk is loadable (the old or the new one, never half), metrics.jsonl has
no torn line and no duplicated step after the resume, and the resumed run (or the fresh restart of a run killed
before its first checkpoint) ends with exactly the weights and metrics of an uninterrupted run.

The run waits, paused, for the kill: however loaded the machine, the kill lands while it is still running, at
the moment chosen (the random-moment test draws its moments with a fixed seed from every moment of the run).
The pause hooks live only in the driver; the package itself carries no test hooks.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
from pathlib import Path

import pytest
import torch

from gan.train.checkpoint import load_checkpoint
from gan.tracking.metrics_file import read_metrics
from gan.tracking.summary_file import run_status
from gan.train.launch import main_train

import pausing_gan
from conftest import HANG_S, REPO, TINY

STEPS = 24  # checkpoints at 4, 8, ..., 24; metrics rows at 2, 4, ..., 24
ARGS = TINY + [f"train.steps={STEPS}", "train.ckpt_every=4", "train.sample_every=8"]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def _start(tmp_path: Path, moment: str, run_dir: Path) -> tuple[subprocess.Popen, Path]:
    """`gan train ARGS --out run_dir`, paused at `moment` until killed (tests/pausing_gan.py)."""
    marker = tmp_path / "paused"
    proc = subprocess.Popen(pausing_gan.command(moment, marker, "kill", "train", *ARGS, "--out", str(run_dir)),
                            cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return proc, marker


def _kill_when(proc: subprocess.Popen, marker: Path, moment: str) -> None:
    """SIGKILL the run while it is paused at `moment` (fails if it exits or never gets there)."""
    assert pausing_gan.wait_until_paused(proc, marker, moment, HANG_S) == proc.pid
    assert proc.poll() is None, "the run went on past its pause"  # by construction: it waits for the kill
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=HANG_S)
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, f"the kill at {moment!r} did not end the run ({proc.returncode})"


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
    """The uninterrupted run everything is compared with, and the moments of that run (tests/pausing_gan.py's
    names, counted in-process by a second, hooked run that must end the same)."""
    run_dir = tmp_path_factory.mktemp("straight") / "run"
    assert main_train(None, ARGS, str(run_dir), None) == 0
    out = {"weights": _weights(load_checkpoint(run_dir)), "rows": _rows(run_dir)}
    counted = run_dir.parent / "counted"
    with pytest.MonkeyPatch.context() as mp:
        met = pausing_gan.install("count", None, "kill", patch=mp.setattr)  # filled as the run goes
        assert main_train(None, ARGS, str(counted), None) == 0
        moments = list(met)
    got = _weights(load_checkpoint(counted))
    assert _rows(counted) == out["rows"] and all(torch.equal(got[k], out["weights"][k]) for k in got)
    assert len(moments) == len(set(moments)) and moments[0] == "step 1" and moments[-1] == "replace summary.json 1"
    return {**out, "moments": moments}


def _left_by_a_kill_at(moments: list[str], moment: str) -> tuple[int | None, list[int]]:
    """(the step of last.pt, None before the first; the steps of metrics.jsonl's rows) a kill at `moment` leaves:
    every checkpoint renamed into place and every row appended before it, nothing after it."""
    before = moments[:moments.index(moment) + 1]
    renamed = sum(m.startswith("replace last.pt ") for m in before) - (moment.startswith("replace last.pt "))
    rows = [int(m.split()[1]) for m in before if m.startswith("log ")]
    return (renamed * 4 or None), rows  # ARGS: a checkpoint every 4 steps


def _kill_and_check(tmp_path: Path, straight: dict, moment: str) -> int | None:
    """Start the run, SIGKILL it paused at `moment`, check what is on disk, resume it and compare. -> last.pt's step"""
    run_dir = tmp_path / "run"
    proc, marker = _start(tmp_path, moment, run_dir)
    _kill_when(proc, marker, moment)
    assert (run_dir / "config.yaml").is_file()
    assert not (run_dir / "summary.json").exists(), "the kill landed after the run had finished (summary.json)"
    ckpt_step, rows = _left_by_a_kill_at(straight["moments"], moment)
    if ckpt_step is None:
        assert not (run_dir / "checkpoints" / "last.pt").exists()
    else:
        assert load_checkpoint(run_dir)["step"] == ckpt_step  # loadable, old or new, never half
    assert _assert_clean_metrics(run_dir) == rows  # every row appended before the kill, whole
    _finish_and_compare(run_dir, straight)
    return ckpt_step


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


# (moment, the step of last.pt right after the kill; None: no checkpoint yet)
KILL_POINTS = [
    ("fsync last.pt 1", None),  # inside the first checkpoint write: only the temp file exists
    ("log 6", 4),  # between checkpoints, just after a metrics row (it is recomputed, not duplicated)
    ("fsync last.pt 2", 4),  # inside the second write, temp file unsynced: the first checkpoint stays
    ("replace last.pt 2", 4),  # temp file complete, prev.pt linked, rename pending
    ("after_replace last.pt 2", 8),  # rename done: the new checkpoint
]


@pytest.mark.slow
@pytest.mark.parametrize("moment, ckpt_step", KILL_POINTS,
                         ids=[m.replace(" last.pt ", "").replace(" ", "") for m, _ in KILL_POINTS])
def test_sigkill_at_a_moment_loses_nothing(tmp_path, straight, moment, ckpt_step):
    assert _kill_and_check(tmp_path, straight, moment) == ckpt_step


RANDOM_KILLS = 3


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing(tmp_path, straight):
    """Kill at a few moments drawn (seeded: the same every time) from every moment of the run, from its first step
    to the write of summary.json; whatever is on disk must resume to the straight run."""
    moments = random.Random(9).sample(straight["moments"], RANDOM_KILLS)
    for i, moment in enumerate(moments):
        (tmp_path / f"kill{i}").mkdir()
        try:
            _kill_and_check(tmp_path / f"kill{i}", straight, moment)
        except AssertionError as err:
            raise AssertionError(f"killed at {moment!r} (of {moments}): {err}") from err


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
