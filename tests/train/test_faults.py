"""Faults a long study meets (issue 20): two writers, a killed or stopped study, a full disk, a damaged
checkpoint, a run stopped before its first checkpoint; and the study-file mistakes found before training."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import gan.train.checkpoint
import gan.study.runner
from gan.train.checkpoint import load_checkpoint
from gan.cli import main
from gan.config.load import load_config
from gan.errors import UserError
from gan.tracking.metrics_file import read_metrics
from gan.files.lock import FolderLock
from gan.train.stopping import STUDY_PID_ENV, StopRequest
from gan.study.spec import read_study_spec
from gan.tracking.summary_file import run_status
from gan.study.runner import Runner, _train_command, tally
from gan.train.loop import _checkpoint
from gan.train.run import build_run
from gan.train.launch import main_train

import pausing_gan
from conftest import HANG_S, REPO, TINY

FAKE_YAML = str(REPO / "configs" / "fake.yaml")


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _steps(run_dir: Path) -> list[int]:
    return [r["step"] for r in read_metrics(run_dir)]


########################################################################################
# one writer per folder

def test_second_writer_is_refused_naming_the_pid_and_changes_nothing(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main_train(None, TINY + ["train.steps=4"], str(run_dir), None) == 0
    before = _files(run_dir)
    capsys.readouterr()
    with FolderLock(run_dir, "run folder"):  # the first writer, still training
        code = main(["train", "--resume", str(run_dir), "train.steps=8"])
        assert (run_dir / ".lock").read_text().strip() == str(os.getpid())
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert f"in use by another gan process (PID {os.getpid()})" in err[0] and "Traceback" not in err[0]
    assert _files(run_dir) == before  # nothing written by the refused writer; the holder removed .lock on release
    assert main_train(None, ["train.steps=8"], None, str(run_dir)) == 0  # free again: the resume goes on
    assert _steps(run_dir) == [2, 4, 6, 8]


def test_second_study_on_one_folder_is_refused(tmp_path):
    study = tmp_path / "s.yaml"
    study.write_text(f"name: s\nbase: {FAKE_YAML}\naxes:\n  train.seed: [0]\n")
    with FolderLock(tmp_path / "out", "study folder"):
        with pytest.raises(UserError, match=r"study folder .* in use by another gan process \(PID \d+\)"):
            gan.study.runner.run_study(str(study), out=str(tmp_path / "out"))
    assert not (tmp_path / "out" / "runs").exists()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    # the holder keeps the lock until it is killed (it reads stdin, which the test never closes first: no sleep
    # that a slow test could outlast; an orphaned holder exits when the test's end of the pipe closes)
    code = ("import sys; from gan.files.lock import FolderLock; lock = FolderLock(sys.argv[1]).acquire(); "
            "print('held', flush=True); sys.stdin.read()")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout.readline().strip() == "held"
    with pytest.raises(UserError, match=f"PID {proc.pid}"):
        FolderLock(tmp_path).acquire()
    assert proc.poll() is None  # still holding it
    proc.kill()
    proc.wait(timeout=HANG_S)
    proc.stdin.close()
    proc.stdout.close()
    assert (tmp_path / ".lock").exists()  # left by kill -9, but the kernel dropped its lock
    FolderLock(tmp_path).acquire().release()


########################################################################################
# checkpoints: rotation, a damaged last.pt, --restart, a full disk, non-finite weights

def test_damaged_last_pt_resumes_from_prev_pt(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main_train(None, TINY + ["train.steps=8"], str(run_dir), None) == 0  # checkpoints at 4 and 8
    ckpts = run_dir / "checkpoints"
    assert load_checkpoint(ckpts / "prev.pt")["step"] == 4 and load_checkpoint(ckpts / "last.pt")["step"] == 8
    (ckpts / "last.pt").write_bytes((ckpts / "last.pt").read_bytes()[:1000])  # torn by a faulty disk
    capsys.readouterr()
    assert main(["train", "--resume", str(run_dir), "train.steps=12"]) == 0
    err = capsys.readouterr().err
    warned = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1 and "damaged" in warned[0] and "prev.pt" in warned[0], err
    assert load_checkpoint(run_dir)["step"] == 12
    assert load_checkpoint(ckpts / "prev.pt")["step"] == 8  # the damaged file was set aside, not rotated in
    assert (ckpts / "last.pt.damaged").is_file()
    assert _steps(run_dir) == [2, 4, 6, 8, 10, 12]  # rows after step 4 recomputed once, none twice


def test_restart_gives_a_fresh_run(tmp_path, capsys):
    straight, run_dir = tmp_path / "straight", tmp_path / "run"
    assert main_train(None, TINY + ["train.steps=4"], str(straight), None) == 0
    assert main_train(None, TINY + ["train.steps=8"], str(run_dir), None) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(run_dir), "--restart", "train.steps=4"]) == 0
    assert "restarting" in capsys.readouterr().err
    assert not (run_dir / "checkpoints" / "prev.pt").exists()  # the old run's checkpoints are gone
    assert read_metrics(run_dir) == read_metrics(straight) or \
        [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in read_metrics(run_dir)] == \
        [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in read_metrics(straight)]
    a, b = load_checkpoint(run_dir), load_checkpoint(straight)
    assert a["step"] == 4 and all(torch.equal(a["G"][k], b["G"][k]) for k in a["G"])


def test_restart_is_listed_in_train_help(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--restart" in capsys.readouterr().out


def _zip_writer_full(monkeypatch, from_call: int):
    """torch.save failing as torch's zip writer does on a full disk: a RuntimeError, after writing part of it."""
    real_save, calls = gan.train.checkpoint.torch.save, {"n": 0}

    def save(obj, f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= from_call:
            f.write(b"part of a checkpoint")
            raise RuntimeError("[enforce fail at inline_container.cc:783] . PytorchStreamWriter failed writing "
                               "file data/3: file write failed")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(gan.train.checkpoint.torch, "save", save)


def test_disk_full_from_the_zip_writer_exits_2_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "run"
    _zip_writer_full(monkeypatch, from_call=2)  # the checkpoint at step 4 succeeds, the one at 8 fails
    code = main(["train", *TINY, "train.steps=12", "--out", str(run_dir)])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert "disk full writing" in lines[0] and f"gan train --resume {run_dir}" in lines[0]
    assert "the previous checkpoint is intact" in lines[0]
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["last.pt"]  # no temp file left
    assert load_checkpoint(run_dir)["step"] == 4
    assert run_status(run_dir) == "interrupted"  # not counted as finished: a study resumes it
    monkeypatch.undo()
    assert main_train(None, [], None, str(run_dir)) == 0 and _steps(run_dir) == [2, 4, 6, 8, 10, 12]


def test_disk_full_on_a_small_tmpfs(tmp_path, capsys):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1400k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN); the simulated variant runs instead")
    try:
        run_dir = mnt / "run"
        # model.ngf=16: a checkpoint is ~0.55 MB: last.pt and a temp fit, a third (prev.pt kept) does not
        code = main(["train", *TINY, "model.ngf=16", "train.sample_every=0", "train.steps=12", "--out", str(run_dir)])
        err = capsys.readouterr().err
        assert code == 2 and "disk full writing" in err and "Traceback" not in err, err
        assert not [p for p in (run_dir / "checkpoints").iterdir() if p.name.endswith(".tmp")]
        assert load_checkpoint(run_dir)["step"] in (4, 8)
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_non_finite_weights_are_never_checkpointed(tmp_path):
    run = build_run(load_config(None, TINY), tmp_path / "run")
    with torch.no_grad():
        next(run.D.parameters()).view(-1)[0] = float("nan")  # as a stop between log steps can find them

    class NoTracker:
        run_id = None

    assert _checkpoint(run, NoTracker()) is False
    assert not (tmp_path / "run" / "checkpoints").exists()


########################################################################################
# a run stopped before its first checkpoint (summary `interrupted`, no last.pt) restarts from scratch

def _stopped_before_first_checkpoint(tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    assert main_train(None, TINY + ["train.steps=4"], str(run_dir), None) == 0
    import shutil

    shutil.rmtree(run_dir / "checkpoints")
    summary = json.loads((run_dir / "summary.json").read_text())
    (run_dir / "summary.json").write_text(json.dumps({**summary, "status": "interrupted", "step": 3}))
    return run_dir


def test_resume_of_a_run_stopped_before_its_first_checkpoint_restarts_it(tmp_path, capsys):
    run_dir = _stopped_before_first_checkpoint(tmp_path)
    assert main(["train", "--resume", str(run_dir)]) == 0
    assert "from scratch (it was stopped before its first checkpoint)" in capsys.readouterr().err
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
    assert _steps(run_dir) == [2, 4]


def test_study_restarts_a_run_stopped_before_its_first_checkpoint(tmp_path):
    run_dir = _stopped_before_first_checkpoint(tmp_path)
    study = tmp_path / "s.yaml"
    study.write_text(f"name: s\nbase: {FAKE_YAML}\naxes:\n  train.seed: [0]\n")
    spec = read_study_spec(study)
    assert run_status(run_dir) == "new"
    cmd = _train_command(spec, spec.runs[0], run_dir, "new")
    assert cmd[-3:] == ["--out", str(run_dir), "--restart"]  # a plain fresh start would be refused
    assert main(cmd[3:]) == 0 and run_status(run_dir) == "completed"


########################################################################################
# the study counts by exit codes and says how its runs ended

def test_a_failed_trainer_is_failed_even_when_a_summary_exists(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "summary.json").write_text(json.dumps({"status": "interrupted"}))
    monkeypatch.setattr(gan.study.runner, "_train_command", lambda *a: [
        sys.executable, "-c", f"open({str(run_dir / 'summary.json')!r}, 'w').write('{{\"status\": \"completed\"}}'); "
                              "raise SystemExit(2)"])  # a second writer refused, while the other one finished
    spec = read_study_spec(_study_file(tmp_path))
    assert Runner(1).run_one(spec, spec.runs[0], run_dir) == "failed"


def test_tally_counts_and_names_failed_folders(tmp_path):
    line = tally(tmp_path, {"a": "completed", "b": "diverged", "c": "failed", "d": "completed"}, 3)
    assert line.startswith("study tally: 2 completed, 1 diverged, 1 failed (3 already done")
    assert str(tmp_path / "runs" / "c") in line and "/a" not in line


def test_stop_request_notices_a_dead_study(monkeypatch):
    # a made-up study PID, not our real parent: pytest itself may run re-parented to PID 1 (nohup ... &)
    monkeypatch.setattr(os, "getppid", lambda: 4242)
    monkeypatch.setenv(STUDY_PID_ENV, "4242")
    stop = StopRequest()
    try:
        assert not stop.requested  # its study (our parent) is alive
        monkeypatch.setattr(os, "getppid", lambda: 1)  # re-parented: the study died
        assert stop.requested and "is gone" in stop.reason
    finally:
        stop.restore()


########################################################################################
# study-file mistakes (issue 20, item 10)

def _study_file(tmp_path: Path, axes: str = "axes:\n  train.seed: [0]\n") -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(f"name: s\nbase: {FAKE_YAML}\n{axes}")
    return path


@pytest.mark.parametrize("axes, pattern", [
    ("axes:\n  train.seed: [0, 1, 0]\n", r"axis 'train.seed' lists 0 more than once"),
    ("", r"has no 'axes:' or 'grids:' \(so it would train one run named 'run'\)"),
    ("axes: {}\n", r"has no 'axes:'"),
    ("axes:\n  train.seed: ['3']\n", r"'train.seed' must be an integer, got '3'"),
])
def test_study_file_mistakes_are_one_sentence(tmp_path, capsys, axes, pattern):
    assert main(["study", str(_study_file(tmp_path, axes)), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    import re

    assert re.search(pattern, err[0]), err[0]
    assert not (tmp_path / "out").exists()


########################################################################################
# shared caches are built by the study, before its first run

@pytest.mark.slow
def test_study_prepares_the_classifier_before_its_first_run(tmp_path, monkeypatch):
    study = _study_file(tmp_path, "overrides: {eval.enabled: true, eval.n_samples: 64, eval.every: 0}\n"
                                  "axes:\n  train.seed: [0]\n")
    seen = {}

    def first_child(*args, **kwargs):
        seen["cache"] = sorted(p.name for p in (tmp_path / "gan_cache").rglob("*classifier*.pt"))
        seen["floor"] = sorted(p.name for p in (tmp_path / "gan_cache").rglob("reference-*.json"))
        raise SystemExit("stop here")

    monkeypatch.setattr(gan.study.runner.subprocess, "Popen", first_child)
    with pytest.raises(SystemExit):
        gan.study.runner.run_study(str(study), out=str(tmp_path / "out"))
    assert seen["cache"] and seen["floor"], seen


########################################################################################
# a study stopped or killed: its trainers stop too, queued runs don't start, the rerun completes each once

STUDY = ("name: k\nbase: {base}\noverrides: {{train.steps: 40, train.log_every: 2, train.ckpt_every: 4, "
         "train.sample_every: 0, train.probe_every: 0, model.nz: 16, train.batch_size: 16}}\n"
         "axes:\n  train.seed: [0, 1, 2]\n")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie (exited, not yet reaped by init) is not training
        return f.read().split(")")[-1].split()[0] != "Z"


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_stopped_study_stops_its_trainers_and_the_rerun_completes_each_run_once(tmp_path, sig):
    """The study's first trainer pauses after its step-10 row until it is asked to stop (tests/pausing_gan.py):
    the signal always reaches the study while that run trains, however slow the machine; it stops at step 11."""
    study = tmp_path / "k.yaml"
    study.write_text(STUDY.format(base=FAKE_YAML))
    out, marker = tmp_path / "out", tmp_path / "paused"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    # one thread per trainer: two threads on a loaded 2-core machine made each step ~10x slower here
    args = ["study", str(study), "--jobs", "1", "--threads", "1", "--out", str(out)]
    proc = subprocess.Popen(pausing_gan.command("log 10", marker, "stop", *args), env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = out / "runs" / "seed-0"
    trainer = pausing_gan.wait_until_paused(proc, marker, "log 10", HANG_S)  # seed-0's trainer, paused
    assert int((first / ".lock").read_text()) == trainer and proc.poll() is None
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=HANG_S)
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 130 and f"study stopped by {sig.name}" in err, err
        assert "continue with `gan study" in err
        with open(out / "results.csv", newline="") as f:  # the runs so far, for `gan report` on a stopped study
            rows = {r["run"]: r["status"] for r in csv.DictReader(f)}
        assert rows == {"seed-0": "interrupted", "seed-1": "missing", "seed-2": "missing"}, rows
    # the trainer stops at its next step (after SIGKILL: it sees its parent gone); HANG_S only guards a hang
    deadline = time.monotonic() + HANG_S
    while _alive(trainer):
        assert time.monotonic() < deadline, f"trainer {trainer} outlived its study"
        time.sleep(0.2)
    assert not (out / "runs" / "seed-2" / "train.log").exists()  # no queued run started
    assert run_status(first) == "interrupted" and load_checkpoint(first)["step"] == 11  # saved as it stopped
    assert "stopped at step 11" in (first / "train.log").read_text()
    cmd = [sys.executable, "-m", "gan", *args]
    rerun = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=HANG_S)
    assert rerun.returncode == 0, rerun.stderr
    assert "study tally: 3 completed, 0 diverged, 0 failed" in rerun.stdout
    for seed in (0, 1, 2):
        run_dir = out / "runs" / f"seed-{seed}"
        assert _steps(run_dir) == list(range(2, 41, 2))  # every row once: none missing, none twice
        assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"


def test_a_failed_summary_write_leaves_no_temp_file(tmp_path, monkeypatch):
    import errno

    import gan.files.atomic

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(gan.files.atomic.os, "fsync", full)
    with pytest.raises(OSError):
        gan.files.atomic.write_json_atomic(tmp_path / "summary.json", {"status": "completed"})
    assert list(tmp_path.iterdir()) == []
