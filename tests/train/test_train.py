"""The training loop: one step's numbers, exact resume, determinism, divergence, the CLI's files."""

import contextlib

import numpy as np
import json

import pytest
import torch

import gan.train.step
from gan.train.checkpoint import load_checkpoint
from gan.config.load import load_config
from gan.tracking.metrics_file import read_metrics
from gan.nets.models import build_models
from gan.train.step import d_step, g_step
from gan.train.launch import main_train

from conftest import TINY, run_cli


def _rows_without_timing(run_dir):
    return [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in read_metrics(run_dir)]


def _weights(run_dir):
    state = load_checkpoint(run_dir)
    return {**{f"G.{k}": v for k, v in state["G"].items()}, **{f"D.{k}": v for k, v in state["D"].items()}}


def test_one_d_and_g_step_give_finite_floats_and_change_both_networks():
    cfg = load_config(None, TINY)
    torch.manual_seed(0)
    G, D = build_models(cfg.model, 1, 32)
    opt_g, opt_d = torch.optim.Adam(G.parameters(), 2e-4), torch.optim.Adam(D.parameters(), 2e-4)
    g0 = [p.detach().clone() for p in G.parameters()]
    d0 = [p.detach().clone() for p in D.parameters()]
    real, z = torch.rand(16, 1, 32, 32) * 2 - 1, torch.randn(16, 16, 1, 1)
    d_stats, fake = d_step(G, D, opt_d, real, z, contextlib.nullcontext())
    assert all(p.grad is None for p in G.parameters())  # the D step must not touch G
    stats = {**d_stats, **g_step(D, opt_g, fake, contextlib.nullcontext())}
    assert set(stats) == {"loss/D", "loss/G", "D/real_prob", "D/fake_prob"}
    for k, v in stats.items():
        assert isinstance(v.item(), float) and torch.isfinite(v), k
    assert 0 < stats["D/real_prob"] < 1 and 0 < stats["D/fake_prob"] < 1
    assert all(not torch.equal(a, b) for a, b in zip(g0, G.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(d0, D.parameters()))


def test_resume_equals_straight_run(tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main_train(None, TINY + ["train.steps=8"], str(straight), None) == 0
    assert main_train(None, TINY + ["train.steps=4"], str(split), None) == 0
    assert json.loads((split / "summary.json").read_text())["status"] == "completed"
    assert main_train(None, ["train.steps=8"], None, str(split)) == 0
    a, b = _weights(straight), _weights(split)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _rows_without_timing(straight) == _rows_without_timing(split)
    assert [r["step"] for r in read_metrics(split)] == [2, 4, 6, 8]
    assert json.loads((split / "summary.json").read_text())["step"] == 8


def test_same_seed_same_run_other_seed_other_run(tmp_path):
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        assert main_train(None, TINY + ["train.steps=4", f"train.seed={seed}"], str(tmp_path / name), None) == 0
    assert _rows_without_timing(tmp_path / "a") == _rows_without_timing(tmp_path / "b")
    wa, wb, wc = (_weights(tmp_path / n) for n in "abc")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)


def nan_loss_from_d_step(monkeypatch, first: int) -> None:
    """From the `first`-th D update on, D's loss reads NaN (the weights stay finite): a run that diverges."""
    real_d_step = gan.train.step.d_step
    calls = {"n": 0}

    def exploding_d_step(*args, **kwargs):
        stats, fake = real_d_step(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] >= first:
            stats["loss/D"] = stats["loss/D"] * float("nan")
        return stats, fake

    monkeypatch.setattr(gan.train.step, "d_step", exploding_d_step)


def test_divergence_is_recorded_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    nan_loss_from_d_step(monkeypatch, 6)
    run_dir = tmp_path / "run"
    assert main_train(None, TINY + ["train.steps=12"], str(run_dir), None) == 1
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["step"] == 6
    assert load_checkpoint(run_dir)["step"] == 4  # the last good one, written before the blow-up
    assert (run_dir / "metrics.jsonl").exists() and (run_dir / "config.yaml").exists()


def test_existing_run_is_not_overwritten(tmp_path):
    from gan.errors import UserError

    run_dir = tmp_path / "run"
    assert main_train(None, TINY + ["train.steps=2"], str(run_dir), None) == 0
    before = (run_dir / "checkpoints" / "last.pt").read_bytes()
    with pytest.raises(UserError, match="already holds a run"):
        main_train(None, TINY + ["train.steps=2"], str(run_dir), None)
    assert (run_dir / "checkpoints" / "last.pt").read_bytes() == before


@pytest.mark.slow
def test_cli_train_writes_every_file_and_sample(tmp_path):
    out = tmp_path / "run"
    r = run_cli("train", "configs/fake.yaml", *TINY, "train.steps=8", "--out", str(out))
    assert r.returncode == 0, r.stderr
    for f in ("config.yaml", "metrics.jsonl", "summary.json", "checkpoints/last.pt",
              "samples/step_000004.png", "samples/step_000008.png", "samples/final.png"):
        assert (out / f).is_file(), f
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["final"]["loss/D"] > 0 and summary["wall_time_s"] > 0
    r = run_cli("sample", str(out), "--n", "16", "--out", str(tmp_path / "grid.png"))
    assert r.returncode == 0, r.stderr
    from PIL import Image

    grid = Image.open(tmp_path / "grid.png")
    assert grid.size == (4 * 34 + 2, 4 * 34 + 2)  # 4x4 tiles of 32 px with 2 px padding
    assert len(np.unique(np.asarray(grid.convert("L")))) > 10  # not blank


def test_probes_leave_no_trace_on_training(tmp_path):
    """probe_every=1 vs probes off: identical weights and identical training rows."""
    on, off = tmp_path / "on", tmp_path / "off"
    assert main_train(None, TINY + ["train.steps=4", "train.probe_every=1", "train.probe_batch=8"], str(on), None) == 0
    assert main_train(None, TINY + ["train.steps=4"], str(off), None) == 0
    a, b = _weights(on), _weights(off)
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows_on = _rows_without_timing(on)
    assert [r["step"] for r in rows_on] == [1, 2, 3, 4]
    assert all("probe/D/dead_frac" in r and "probe/input_grad/hoyer" in r for r in rows_on)
    train_keys = [{k: v for k, v in r.items() if not k.startswith("probe/")} for r in rows_on if "loss/D" in r]
    assert train_keys == _rows_without_timing(off)
    summary = json.loads((on / "summary.json").read_text())
    assert summary["mean"]["probe/D/dead_frac"] == pytest.approx(
        sum(r["probe/D/dead_frac"] for r in rows_on) / 4)


def test_d_steps_two_makes_two_d_updates_per_g_update(tmp_path):
    from gan.train.run import build_run
    from gan.train.loop import train
    from gan.tracking.tracker import Tracker

    cfg = load_config(None, TINY + ["train.steps=3", "train.d_steps=2", "train.lr_d=1e-3", "train.lr_g=5e-5"])
    run = build_run(cfg, tmp_path)
    assert run.opt_d.param_groups[0]["lr"] == 1e-3 and run.opt_g.param_groups[0]["lr"] == 5e-5
    calls = []
    for name, opt in (("D", run.opt_d), ("G", run.opt_g)):
        step = opt.step
        opt.step = (lambda step, name: lambda *a, **k: (calls.append(name), step(*a, **k))[1])(step, name)
    assert train(run, Tracker(cfg, tmp_path, enabled=False)) == "completed"
    assert "".join(calls) == "DDG" * 3
    assert run.stream.position == 2 * 3 * 16 % len(run.stream.images) or run.stream.epoch > 0


@pytest.mark.slow
def test_sigterm_stops_between_steps_and_resume_is_exact(tmp_path):
    """SIGTERM to `gan train` while it trains: it stops at its next step, checkpointed, and resumes exactly.
    The run is paused after its step-3 row until the signal has arrived (tests/pausing_gan.py), so the signal
    always lands mid-run, however slow the machine, and the stop step is known: 4."""
    import os
    import subprocess

    from conftest import HANG_S, REPO
    from pausing_gan import command, wait_until_paused

    args = [*TINY, "train.steps=40", "train.ckpt_every=1000", "train.sample_every=0", "train.log_every=1"]
    straight = tmp_path / "straight"
    assert main_train(None, args, str(straight), None) == 0
    run_dir, marker = tmp_path / "stopped", tmp_path / "paused"
    # one thread, as this process (conftest): the thread count changes float sums
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(command("log 3", marker, "stop", "train", *args, "--out", str(run_dir)),
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    assert wait_until_paused(proc, marker, "log 3", HANG_S) == proc.pid
    assert proc.poll() is None
    proc.terminate()  # SIGTERM, as a cluster scheduler or `gan study` would send
    assert proc.wait(timeout=HANG_S) == 130
    proc.stderr.close()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["step"] == 4  # the step after the signal
    assert load_checkpoint(run_dir)["step"] == summary["step"]
    assert [r["step"] for r in read_metrics(run_dir)] == [1, 2, 3, 4]
    assert main_train(None, [], None, str(run_dir)) == 0
    a, b = _weights(straight), _weights(run_dir)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert _rows_without_timing(straight) == _rows_without_timing(run_dir)


def test_checkpoint_steps_are_checked_even_between_log_steps(tmp_path, monkeypatch):
    """ckpt_every=3 with log_every=5: a NaN at step 6 must not be written over the step-3 checkpoint."""
    nan_loss_from_d_step(monkeypatch, 6)
    run_dir = tmp_path / "run"
    args = TINY + ["train.steps=12", "train.log_every=5", "train.ckpt_every=3"]
    assert main_train(None, args, str(run_dir), None) == 1
    assert json.loads((run_dir / "summary.json").read_text())["step"] == 6
    assert load_checkpoint(run_dir)["step"] == 3


def _stop_after(monkeypatch, step: int, nan: bool = False) -> None:
    """SIGTERM to this process during D step `step` (as a scheduler would send it); optionally a NaN loss there."""
    import os
    import signal

    real_d_step, calls = gan.train.step.d_step, {"n": 0}

    def d_step_then_signal(*args, **kwargs):
        stats, fake = real_d_step(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == step:
            os.kill(os.getpid(), signal.SIGTERM)  # StopRequest's handler (main thread) sets .requested
            if nan:
                stats["loss/D"] = stats["loss/D"] * float("nan")
        return stats, fake

    monkeypatch.setattr(gan.train.step, "d_step", d_step_then_signal)


def test_stop_between_log_steps_is_checked_and_resumes_with_the_same_rows(tmp_path, monkeypatch):
    args = TINY + ["train.steps=10", "train.log_every=5", "train.ckpt_every=3", "train.sample_every=0"]
    straight = tmp_path / "straight"
    assert main_train(None, args, str(straight), None) == 0
    stopped = tmp_path / "stopped"
    _stop_after(monkeypatch, 4)
    assert main_train(None, args, str(stopped), None) == 130
    assert load_checkpoint(stopped)["step"] == 4  # the stop step, not the step-3 checkpoint
    assert [r["step"] for r in read_metrics(stopped)] == [3]  # step 4 was checked but not logged
    monkeypatch.undo()
    assert main_train(None, [], None, str(stopped)) == 0
    assert _rows_without_timing(stopped) == _rows_without_timing(straight)
    a, b = _weights(straight), _weights(stopped)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_non_finite_stop_step_never_reaches_the_checkpoint(tmp_path, monkeypatch):
    args = TINY + ["train.steps=10", "train.log_every=5", "train.ckpt_every=3", "train.sample_every=0"]
    _stop_after(monkeypatch, 4, nan=True)
    run_dir = tmp_path / "run"
    assert main_train(None, args, str(run_dir), None) == 1  # diverged, not interrupted
    assert load_checkpoint(run_dir)["step"] == 3
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "diverged"
    assert [r["step"] for r in read_metrics(run_dir)] == [3, 4]  # the non-finite row is kept, as for any divergence
