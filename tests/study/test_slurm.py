"""`gan study --executor slurm` (gan/study/slurm.py) against a real one-node Slurm cluster.

The cluster is the one ci/slurm/start.sh starts (as root it installs slurm-wlm and munge with apt when
missing); the cluster tests are skipped, with the reason, where it is not up and cannot be started.
Option checks and "submitit missing" need no cluster. Runs are tiny fake-data runs in tmp folders.

Slurm holds a requeued task for about two minutes (its BeginTime) before it may start again; the tests
move that start time to now (`scontrol update StartTime=now`, what an admin may do) so they take minutes.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
import yaml

from gan.train.checkpoint import load_checkpoint
from gan.errors import UserError
from gan.files.layout import StudyDir
from gan.tracking.metrics_file import read_metrics
from gan.study.collect import collect_results
from gan.tracking.summary_file import run_status
from gan.study.runner import Runner
from gan.study.spec import read_study_spec
import gan.study.slurm as se
import gan.study.slurm_options as so

from conftest import REPO

START = REPO / "ci" / "slurm" / "start.sh"
TINY_STUDY = {"model.nz": 16, "model.ngf": 8, "model.ndf": 8, "train.batch_size": 16, "eval.enabled": False,
              "track.wandb": "disabled", "data.name": "fake"}
# the resume tests' run: ~30 s on a quiet 2-core CI machine (~126 steps/s); the tests interrupt it within a
# second or two of its first checkpoint (step 100), so it is always far from its end then, at any load
LONG = {**TINY_STUDY, "train.steps": 4000, "train.log_every": 20, "train.ckpt_every": 100, "train.sample_every": 0,
        "train.probe_every": 0}
# a column that says when, where or how fast a run ran (or which code): not a result
NOT_A_RESULT = re.compile(r"^provenance/|wall_time|time_s|host|step_ms|img_per_s")


########################################################################################
# helpers


def write_study(folder: Path, name: str, overrides: dict, axes: dict) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "base": str(REPO / "configs" / "fake.yaml"),
                                    "overrides": overrides, "axes": axes}))
    return path


def squeue(job_name: str) -> list[tuple[str, str, str]]:
    out = subprocess.run(["squeue", "-h", "-r", "-n", job_name, "-o", "%i|%T|%r"], capture_output=True, text=True,
                         timeout=30).stdout
    return [tuple(line.split("|")) for line in out.split() if line.count("|") == 2]


class Hurry(threading.Thread):
    """Moves each requeued task of job_name (pending on BeginTime) to start now, once it has been pending for
    SETTLE_S seconds; counts how often.

    Why the wait: the node revokes the killed attempt's job credential, and slurmd compares credential times in
    whole seconds, so an attempt started within the same second is refused as revoked ("Killing non-startable
    batch JobId=24: Job credential revoked"); the task then leaves the queue as if it had ended. Slurm's own
    BeginTime (about two minutes) exists for this; a few seconds are enough on one node."""

    SETTLE_S = 3.0

    def __init__(self, job_name: str):
        super().__init__(daemon=True)
        self.job_name, self.moved, self.stop = job_name, 0, threading.Event()
        self.pending_since: dict[str, float] = {}

    def run(self) -> None:
        while not self.stop.wait(1.0):
            now = time.monotonic()
            for task, state, reason in squeue(self.job_name):
                if state != "PENDING" or reason != "BeginTime":
                    self.pending_since.pop(task, None)
                elif now - self.pending_since.setdefault(task, now) >= self.SETTLE_S:
                    subprocess.run(["scontrol", "update", f"jobid={task}", "StartTime=now"], capture_output=True)
                    self.pending_since.pop(task, None)
                    self.moved += 1


def wait_for(what, timeout: float, step: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def comparable_rows(path: Path) -> list[dict]:
    with open(path) as f:
        return [{k: v for k, v in row.items() if not NOT_A_RESULT.search(k)} for row in csv.DictReader(f)]


def without_perf(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in row.items() if not k.startswith("perf/")} for row in read_metrics(run_dir)]


def assert_same_run(run_dir: Path, reference: Path) -> None:
    """Same metrics rows (no duplicate, none missing) and bitwise the same final weights as the reference."""
    rows, ref_rows = without_perf(run_dir), without_perf(reference)
    steps = [r["step"] for r in rows]
    assert steps == sorted(set(steps)), "metrics.jsonl holds a step twice or out of order"
    assert rows == ref_rows
    got, ref = load_checkpoint(run_dir), load_checkpoint(reference)
    assert got["step"] == ref["step"]
    for net in ("G", "D"):
        assert all(torch.equal(got[net][k], ref[net][k]) for k in ref[net]), f"{net} weights differ"


def one_sentence(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text and "Traceback" not in text and text.strip()
    return text


########################################################################################
# no cluster needed


def test_options_from_the_study_file_and_flags():
    opts = so.slurm_options({"partition": "gpu", "time_min": 30, "setup": "source /x/bin/activate", "mem": "8G"},
                            {"time_min": 240, "partition": None, "cpus_per_task": 4})
    assert opts == so.SlurmOptions(partition="gpu", time_min=240, cpus_per_task=4, mem="8G",
                                   setup=("source /x/bin/activate",))
    assert opts.signal_delay() == 90 and so.SlurmOptions(time_min=1).signal_delay() == 20
    parser = argparse.ArgumentParser()
    so.add_slurm_arguments(parser)
    args = parser.parse_args(["--executor", "slurm", "--slurm-gpus-per-node", "1", "--slurm-setup", "a",
                              "--slurm-setup", "b"])
    assert args.executor == "slurm" and not args.detach
    assert so.slurm_options(None, so.slurm_flags(args)) == so.SlurmOptions(gpus_per_node=1, setup=("a", "b"))


def test_options_of_a_study_file(tmp_path):
    study = tmp_path / "s.yaml"
    study.write_text("name: s\naxes: {train.seed: [0]}\nslurm: {partition: gpu, time_min: 30}\n")
    assert so.study_slurm_options(study, {"time_min": 5}) == so.SlurmOptions(partition="gpu", time_min=5)
    study.write_text("name: s\naxes: {train.seed: [0]}\nslurm: {time: 30}\n")
    with pytest.raises(UserError) as err:
        so.study_slurm_options(study)
    assert f"study file '{study}': slurm.time is not a Slurm option" in one_sentence(err)


@pytest.mark.parametrize("mapping, says", [
    ({"partitoin": "gpu"}, "did you mean 'partition'"),
    ({"time_min": "2h"}, "slurm.time_min must be a whole number"),
    ({"cpus_per_task": True}, "slurm.cpus_per_task must be a whole number"),
    ({"gpus_per_node": -1}, ">= 0"),
    ({"mem": "lots"}, "slurm.mem must be a size"),
    ({"setup": [1, 2]}, "slurm.setup must be a list of shell lines"),
    (["partition", "gpu"], "'slurm' must be a mapping"),
])
def test_bad_slurm_options_say_one_sentence(mapping, says):
    with pytest.raises(UserError) as err:
        so.slurm_options(mapping)
    assert says in one_sentence(err)


def test_submitit_missing_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "submitit", None)  # `import submitit` raises ImportError
    spec = read_study_spec(write_study(tmp_path, "nosub", TINY_STUDY, {"train.seed": [0]}))
    with pytest.raises(UserError) as err:
        se.run_on_slurm(spec, tmp_path / "study", spec.runs, so.SlurmOptions())
    assert "pip install submitit" in one_sentence(err)


########################################################################################
# the cluster


def _cluster_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    out = subprocess.run(["sinfo", "-h", "-o", "%a"], capture_output=True, text=True, timeout=60)
    return out.returncode == 0 and "up" in out.stdout


@pytest.fixture(scope="session")
def slurm():
    """A Slurm cluster this machine can submit to: one already up, else ci/slurm/start.sh's (needs root)."""
    pytest.importorskip("submitit", reason="submitit is not installed (pip install submitit)")
    if not _cluster_up():
        if os.geteuid() != 0:
            pytest.skip("no Slurm cluster is reachable, and starting one (ci/slurm/start.sh) needs root")
        out = subprocess.run(["bash", str(START)], capture_output=True, text=True, timeout=900)
        if out.returncode != 0:
            pytest.skip(f"no Slurm cluster: ci/slurm/start.sh failed: {out.stderr.strip()[-400:]}")
    return True


def test_slurm_down_is_one_sentence(slurm, monkeypatch, tmp_path):
    conf = Path(os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf"))
    bad = tmp_path / "slurm.conf"  # the same cluster, asked on a port where no controller listens
    bad.write_text(re.sub(r"(?m)^SlurmctldPort=.*$", "", conf.read_text()) + "SlurmctldPort=6999\n")
    monkeypatch.setenv("SLURM_CONF", str(bad))
    with pytest.raises(UserError) as err:
        se.check_cluster(so.SlurmOptions())
    assert one_sentence(err).startswith("Slurm is not reachable")


def test_unknown_partition_is_one_sentence(slurm, tmp_path):
    spec = read_study_spec(write_study(tmp_path, "nopart", TINY_STUDY, {"train.seed": [0]}))
    with pytest.raises(UserError) as err:
        se.run_on_slurm(spec, tmp_path / "study", spec.runs, so.SlurmOptions(partition="no-such-partition"))
    assert "no partition 'no-such-partition'" in one_sentence(err)
    assert not (tmp_path / "study" / "runs").exists()  # nothing submitted


@pytest.mark.slow
def test_scancel_then_again_finishes_with_the_local_results(slurm, monkeypatch, tmp_path):
    """A 4-run study on Slurm (two arrays: MaxArraySize 3), detached, the whole job cancelled mid-run, then
    called again: it resubmits only the unfinished runs, and results.csv equals the same study run locally."""
    overrides = {**TINY_STUDY, "train.steps": 200, "train.log_every": 10, "train.ckpt_every": 10,
                 "train.sample_every": 100, "train.probe_every": 50}
    study = write_study(tmp_path, "mix", overrides, {"model.d_act": ["relu", "leaky_relu:0.2"], "train.seed": [0, 1]})
    spec = read_study_spec(study)
    real_check = se.check_cluster
    monkeypatch.setattr(se, "check_cluster", lambda o: dataclasses.replace(real_check(o), max_array_size=3))
    on_slurm, local = tmp_path / "slurm_study", tmp_path / "local_study"
    options = so.SlurmOptions(time_min=10, cpus_per_task=1)
    assert set(se.run_on_slurm(spec, on_slurm, spec.runs, options, detach=True).values()) == {"submitted"}
    tasks = se._read_jobs(StudyDir(on_slurm).slurm_jobs)
    assert len({t.split("_")[0] for t in tasks.values()}) == 2  # 3 + 1 tasks: two arrays
    # cancel every job of the study as soon as one run has written a checkpoint (mid-run)
    wait_for(lambda: any(StudyDir(on_slurm).run(r.name).ckpt_last.exists() for r in spec.runs), 300)
    subprocess.run(["scancel", "-n", f"gan-{spec.name}"], check=True)
    wait_for(lambda: not squeue(f"gan-{spec.name}"), 120)
    cut = {r.name: run_status(StudyDir(on_slurm).run(r.name).path) for r in spec.runs}
    assert set(cut.values()) - {"completed"}, f"every run finished before scancel: {cut}"

    # the same study locally (`gan study --jobs 2`: one thread per run, as cpus_per_task=1), meanwhile
    local_run = subprocess.Popen([sys.executable, "-m", "gan", "study", str(study), "--jobs", "2", "--out",
                                  str(local)], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 text=True)
    statuses = se.run_on_slurm(spec, on_slurm, spec.runs, options, poll_s=1.0)
    assert statuses == {name: "completed" for name, s in cut.items() if s != "completed"}
    assert se.run_on_slurm(spec, on_slurm, spec.runs, options) == {}  # nothing left: nothing submitted
    assert local_run.wait(timeout=600) == 0, local_run.stderr.read()[-2000:]
    collect_results(on_slurm, spec, spec.runs)
    assert comparable_rows(on_slurm / "results.csv") == comparable_rows(local / "results.csv")
    for r in spec.runs:  # resumed after the scancel or not, each run is the local one, weight for weight
        assert_same_run(StudyDir(on_slurm).run(r.name).path, StudyDir(local).run(r.name).path)


def _interrupt_once_and_finish(tmp_path, name: str, options: so.SlurmOptions, interrupt) -> Path:
    """Run LONG seed 0 on Slurm; once it is past its first checkpoint (far from its end) call interrupt(task),
    then wait for it to finish. Returns its run folder. The moment of the interruption is chosen by the test,
    never by a clock, so the outcome cannot depend on how loaded the machine is."""
    spec = read_study_spec(write_study(tmp_path, name, LONG, {"train.seed": [0]}))
    study_dir = tmp_path / name
    se.run_on_slurm(spec, study_dir, spec.runs, options, detach=True)
    hurry = Hurry(f"gan-{spec.name}")
    hurry.start()
    run = StudyDir(study_dir).run(spec.runs[0].name)
    try:
        wait_for(lambda: run.ckpt_last.exists(), 600)
        interrupt(se._read_jobs(StudyDir(study_dir).slurm_jobs)[spec.runs[0].name])
        assert se.run_on_slurm(spec, study_dir, spec.runs, options) == {"seed-0": "completed"}
    finally:
        hurry.stop.set()
    assert run_status(run.path) == "completed"
    log = run.train_log.read_text()
    assert "stopped at step" in log and "(restart 1)" in log, f"{run.path} was not interrupted and resumed"
    return run.path


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    """LONG seed 0 trained without interruption by the local runner (the same command, one thread)."""
    tmp = tmp_path_factory.mktemp("reference")
    spec = read_study_spec(write_study(tmp, "reference", LONG, {"train.seed": [0]}))
    Runner(1).run_one(spec, spec.runs[0], tmp / "run")
    return tmp / "run"


@pytest.mark.slow
def test_scontrol_requeue_resumes_exactly(slurm, tmp_path, uninterrupted):
    """`scontrol requeue` (what an admin or a node failure does) while the run trains: it ends with an
    uninterrupted run's metrics and weights."""
    requeue = lambda task: subprocess.run(["scontrol", "requeue", task], check=True)
    assert_same_run(_interrupt_once_and_finish(tmp_path, "requeued", so.SlurmOptions(time_min=30), requeue),
                    uninterrupted)


@pytest.mark.slow
def test_time_limit_signal_checkpoints_requeues_and_resumes_exactly(slurm, tmp_path, uninterrupted):
    """The time limit: the task is submitted asking Slurm for USR2 `signal_delay_s` before its limit; the test
    then sends that very signal itself (`scancel --signal=USR2`, what Slurm sends at limit - delay) at a moment
    it chooses: submitit calls TrainTask.checkpoint, the trainer checkpoints, the task is requeued and resumes
    to the uninterrupted run's metrics and weights. Waiting for a real 1-minute limit instead made the number
    of requeues depend on the machine's load (the run could exhaust them under load: a race, issue 43)."""
    options = so.SlurmOptions(time_min=30, signal_delay_s=5)

    def time_limit_signal(task: str) -> None:
        shown = subprocess.run(["scontrol", "show", "job", task], capture_output=True, text=True, check=True).stdout
        assert "TimeLimit=00:30:00" in shown  # the limit asked for
        scripts = list(StudyDir(tmp_path / "timed").slurm.glob("*_submission.sh"))
        assert scripts and all("--signal=USR2@5" in s.read_text() for s in scripts)  # and the signal before it
        subprocess.run(["scancel", "--signal=USR2", task], check=True)

    assert_same_run(_interrupt_once_and_finish(tmp_path, "timed", options, time_limit_signal), uninterrupted)
