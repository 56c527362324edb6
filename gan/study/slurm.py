"""`gan study --executor slurm`: a study's runs as tasks of Slurm job arrays (through submitit), resumed exactly.

    options = slurm_options(raw_study_yaml.get("slurm"), {"partition": "gpu", "time_min": 240})
    statuses = run_on_slurm(spec, study_dir, spec.runs, options)   # {run name: completed | diverged | ...}

Contract:
- Every run whose folder is not finished (gan.tracking.summary_file.is_finished) becomes one task of a job array; a run
  whose task from an earlier call is still queued or running is waited for, not submitted twice (StudyDir.slurm_jobs:
  <study_dir>/slurm/jobs.json).
  Status is read from the run folders, never from Slurm: local and cluster runs mix in one study folder.
- A task runs the local runner's `python -m gan train ...` (gan.study.runner._train_command), chosen when the task
  starts: a folder with a checkpoint resumes, so a task Slurm requeues (scontrol requeue, preemption, the
  time-limit checkpoint: TrainTask.checkpoint) continues the run exactly.
- Slurm down, an unknown partition, a refused submission, submitit missing, a bad `slurm:` key: UserError (one
  sentence, exit 2). Logs: <study_dir>/slurm/ (submitit's) and each run's train.log (the trainer's).
- Study folder, run folders and the submitting directory must be on a filesystem every node mounts, with working
  flock (docs/slurm.md). The caller holds the study-folder lock (gan.files.lock.FolderLock) during the call.
"""

from __future__ import annotations

import contextlib
import getpass
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gan.errors import UserError
from gan.files.atomic import write_text_atomic
from gan.files.layout import RunDir, StudyDir
from gan.train.stopping import STUDY_PID_ENV
from gan.study.runner import _train_command
from gan.study.slurm_options import SlurmOptions
from gan.study.spec import PlannedRun, StudySpec
from gan.tracking.summary_file import FINISHED, is_finished, run_status

COMMAND_TIMEOUT_S = 30  # sinfo / squeue / scontrol: a controller that does not answer in this time is "down"


def _submitit():
    try:
        import submitit
    except ImportError:
        raise UserError("--executor slurm needs submitit, which is not installed: pip install submitit "
                        "(or pip install 'gan[slurm]')") from None
    return submitit


def _slurm(*cmd: str) -> str:
    """A Slurm client command's stdout, or a UserError saying Slurm is not reachable."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
        if out.returncode == 0:
            return out.stdout
        why = "failed (" + " ".join((out.stderr or out.stdout or f"exit code {out.returncode}").split())[:300] + ")"
    except FileNotFoundError:
        raise UserError(f"Slurm's `{cmd[0]}` is not on PATH; run `gan study --executor slurm` on a login node "
                        "of the cluster (where sinfo, sbatch and squeue work)") from None
    except subprocess.TimeoutExpired:
        why = f"did not answer within {COMMAND_TIMEOUT_S} s"
    raise UserError(f"Slurm is not reachable: `{' '.join(cmd[:2])}` {why}; check that slurmctld is up (sinfo), "
                    "then run this again")


@dataclass(frozen=True)
class Cluster:
    partitions: tuple[str, ...]
    default_partition: str | None
    max_array_size: int  # array indices go 0 .. max_array_size - 1 (scontrol show config: MaxArraySize)


def check_cluster(options: SlurmOptions) -> Cluster:
    """The cluster answers, and the partition asked for exists (UserError otherwise)."""
    for tool in ("sbatch", "squeue", "scontrol", "srun"):
        if shutil.which(tool) is None:  # submitit itself refuses without srun, with a less helpful message
            _slurm(tool, "--version")  # raises the "not on PATH" UserError
    names = [line.strip() for line in _slurm("sinfo", "-h", "-o", "%P").splitlines() if line.strip()]
    default = next((n.rstrip("*") for n in names if n.endswith("*")), None)
    partitions = tuple(dict.fromkeys(n.rstrip("*") for n in names))
    if options.partition is not None and options.partition not in partitions:
        raise UserError(f"Slurm has no partition '{options.partition}' (it has {', '.join(partitions) or 'none'}); "
                        "set slurm.partition or --slurm-partition to one of them")
    if options.partition is None and default is None:
        raise UserError(f"the Slurm cluster has no default partition; set slurm.partition or --slurm-partition to "
                        f"one of {', '.join(partitions) or 'its partitions'}")
    found = re.search(r"^MaxArraySize\s*=\s*(\d+)", _slurm("scontrol", "show", "config"), re.M)
    return Cluster(partitions, default, int(found.group(1)) if found else 1001)


# every state of a task that has not ended; named, because squeue's default list may leave out the short
# states a task passes through while it is requeued, and a task missing from squeue counts as ended
LIVE_STATES = ("PENDING,RUNNING,SUSPENDED,COMPLETING,CONFIGURING,RESIZING,REQUEUED,REQUEUE_FED,REQUEUE_HOLD,"
               "SIGNALING,STAGE_OUT,STOPPED")


def queued_tasks(job_name: str) -> dict[str, str]:
    """{task id: state} of this user's tasks of jobs named job_name that have not ended (pending, running, ...)."""
    out = _slurm("squeue", "-h", "-r", "-u", getpass.getuser(), "-n", job_name, "-t", LIVE_STATES, "-o", "%i|%T")
    return dict(line.split("|", 1) for line in out.split() if "|" in line)


def _ignore_task_signals() -> None:
    """In the trainer (before exec): ignore submitit's time-limit signal. Slurm sends it to every process of
    the job step, and its default action would kill the trainer before it checkpoints; TrainTask.checkpoint
    then stops the trainer with SIGTERM, the signal it handles."""
    signal.signal(getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2")), signal.SIG_IGN)


class TrainTask:
    """What one Slurm task runs: `gan train` for one run (new, or `--resume` from its checkpoint), as a child.

    Picklable (submitit ships it to the node): it holds the study's name and base, the run and paths only.
    Returns {"status": run folder status, "exit": trainer exit code}; a finished run returns at once.
    """

    def __init__(self, name: str, base: str | None, run: PlannedRun, run_dir: Path, cwd: Path, threads: int):
        self.name, self.base, self.run, self.run_dir, self.cwd, self.threads = name, base, run, run_dir, cwd, threads
        self._child: subprocess.Popen | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_child": None}  # a process handle does not travel

    def __call__(self) -> dict[str, Any]:
        status = run_status(self.run_dir)
        if status in FINISHED:  # e.g. requeued after the trainer had just finished
            return {"status": status, "exit": 0}
        self.run_dir.mkdir(parents=True, exist_ok=True)
        spec = StudySpec(self.name, self.base, {}, {})  # all _train_command reads of a spec
        cmd = _train_command(spec, self.run, self.run_dir, status)
        # GAN_STUDY_PID: the trainer stops (and checkpoints) at its next step if this task process dies
        env = {**os.environ, "OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads),
               STUDY_PID_ENV: str(os.getpid())}
        job = "_".join(os.environ[k] for k in ("SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID") if k in os.environ)
        with open(RunDir(self.run_dir).train_log, "a") as log:  # which job, node and attempt: in the run's log
            print(f"slurm: job {job or os.environ.get('SLURM_JOB_ID', '?')} on {socket.gethostname()} (restart "
                  f"{os.environ.get('SLURM_RESTART_COUNT', '0')}): the run is {status}, "
                  f"{'resuming it' if '--resume' in cmd else 'starting it'}", file=log, flush=True)
            self._child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           env=env, cwd=self.cwd, preexec_fn=_ignore_task_signals)
            # poll, not wait(): checkpoint() runs in a signal handler of this thread and must not meet
            # Popen.wait's lock held by the code it interrupted
            while (code := self._child.poll()) is None:
                time.sleep(0.2)
        return {"status": run_status(self.run_dir), "exit": code}

    def checkpoint(self):
        """Called by submitit in this task on the time-limit or preemption signal: SIGTERM the trainer (it saves
        a checkpoint after its current step and exits 130), then requeue a fresh TrainTask, which finds the
        checkpoint and runs `gan train --resume RUN_DIR` (the trainer drops metrics rows after the checkpoint)."""
        child = self._child
        if child is not None and child.returncode is None:
            try:
                os.kill(child.pid, signal.SIGTERM)
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and os.waitpid(child.pid, os.WNOHANG) == (0, 0):
                    time.sleep(0.2)
            except (ProcessLookupError, ChildProcessError):
                pass  # already gone (and reaped)
        fresh = TrainTask(self.name, self.base, self.run, self.run_dir, self.cwd, self.threads)
        return _submitit().helpers.DelayedSubmission(fresh)


def run_on_slurm(spec: StudySpec, study_dir: str | Path, runs: list[PlannedRun] | tuple[PlannedRun, ...],
                 options: SlurmOptions, detach: bool = False, poll_s: float = 2.0) -> dict[str, str]:
    """Submit every run not finished (and not already queued) as job-array tasks; wait unless `detach`.

    Returns {run name: status} for each run of `runs` not finished when called: completed | diverged | interrupted
    (its task ended with a checkpoint to resume: cancelled, or requeued too often) | failed | skipped (cancelled
    before it started); with detach: submitted. Ctrl-C while waiting stops only the waiting (KeyboardInterrupt).
    """
    submitit, cluster = _submitit(), check_cluster(options)
    layout, job_name = StudyDir(Path(study_dir).resolve()), f"gan-{spec.name}"
    slurm_dir = layout.slurm
    slurm_dir.mkdir(parents=True, exist_ok=True)
    todo = [r for r in runs if not is_finished(layout.run(r.name).path)]
    tasks = _read_jobs(layout.slurm_jobs)
    queued = queued_tasks(job_name) if todo else {}
    waiting = {r.name: tasks[r.name] for r in todo if tasks.get(r.name) in queued}  # from an earlier call
    new = [r for r in todo if r.name not in waiting]
    if new:
        tasks.update(_submit(submitit, spec, layout, new, options, cluster, job_name, slurm_dir))
        write_text_atomic(layout.slurm_jobs, json.dumps({"runs": tasks}, indent=1) + "\n")
    jobs = sorted({tasks[r.name].split("_")[0] for r in todo}, key=int)
    print(f"study '{spec.name}' on Slurm: {len(runs)} runs, {len(runs) - len(todo)} already done, {len(new)} "
          f"submitted, {len(waiting)} already queued; job(s) {', '.join(jobs) or 'none'}; logs {slurm_dir}")
    if detach or not todo:
        return {r.name: "submitted" for r in todo}
    return _wait(layout, {r.name: tasks[r.name] for r in todo}, job_name, slurm_dir, poll_s, submitit)


def _read_jobs(jobs_file: Path) -> dict[str, str]:
    try:
        runs = json.loads(jobs_file.read_text()).get("runs", {})
        return {str(k): str(v) for k, v in runs.items()}
    except (OSError, ValueError, AttributeError):
        return {}


def _submit(submitit, spec: StudySpec, layout: StudyDir, runs: list[PlannedRun], options: SlurmOptions,
            cluster: Cluster, job_name: str, slurm_dir: Path) -> dict[str, str]:
    """Submit runs as arrays of at most MaxArraySize tasks; {run name: task id}."""
    executor = submitit.SlurmExecutor(folder=slurm_dir, max_num_timeout=options.max_requeues)
    params = {"job_name": job_name, "time": options.time_min, "cpus_per_task": options.cpus_per_task,
              "array_parallelism": options.array_parallelism, "signal_delay_s": options.signal_delay(),
              "setup": list(options.setup), "stderr_to_stdout": True}
    params.update({k: v for k, v in (("partition", options.partition), ("mem", options.mem),
                                     ("account", options.account), ("qos", options.qos),
                                     ("gpus_per_node", options.gpus_per_node or None)) if v is not None})
    executor.update_parameters(**params)
    # relative paths (the base config, data.root) are read from the submitting directory, like a local study
    base = str(Path(spec.base).resolve()) if spec.base else None
    cwd = Path.cwd()
    chunk = max(1, cluster.max_array_size)
    out: dict[str, str] = {}
    for start in range(0, len(runs), chunk):
        part = runs[start:start + chunk]
        printed = io.StringIO()  # submitit prints sbatch's complaint to stderr: it goes into our one sentence
        try:
            with contextlib.redirect_stderr(printed), executor.batch():
                jobs = [executor.submit(TrainTask(spec.name, base, r, layout.run(r.name).path, cwd,
                                                  options.cpus_per_task)) for r in part]
        except (submitit.core.utils.FailedJobError, submitit.core.utils.FailedSubmissionError, OSError) as err:
            said = " ".join((str(err) or printed.getvalue()).split())
            raise UserError(f"Slurm refused the study's job array ({said[:300]}); fix the slurm: options "
                            f"(partition, time_min, cpus_per_task, mem, gpus_per_node) and run this again") from None
        out.update({r.name: j.job_id for r, j in zip(part, jobs)})
    return out


def _wait(layout: StudyDir, tasks: dict[str, str], job_name: str, slurm_dir: Path, poll_s: float,
          submitit) -> dict[str, str]:
    """Poll squeue until every run's task has left the queue; each run's status is then read from its folder."""
    from tqdm import tqdm

    statuses: dict[str, str] = {}
    reachable = time.monotonic()
    try:
        with tqdm(total=len(tasks), desc="slurm", unit="run") as bar:
            while len(statuses) < len(tasks):
                try:
                    queued, reachable = queued_tasks(job_name), time.monotonic()
                except UserError as err:  # a controller restart is brief: tolerate a minute of it
                    if time.monotonic() - reachable > 60:
                        raise UserError(f"{err} (the tasks may still run: run this again to wait for them)") from None
                    time.sleep(poll_s)
                    continue
                for name, task in tasks.items():
                    if name not in statuses and task not in queued:
                        statuses[name] = _ended(layout.run(name).path, task, slurm_dir, submitit)
                        bar.set_postfix_str(f"{name}: {statuses[name]}")
                        bar.update(1)
                bar.set_description(f"slurm ({sum(queued.get(t) == 'RUNNING' for t in tasks.values())} running)")
                time.sleep(poll_s if len(statuses) < len(tasks) else 0)
    except KeyboardInterrupt:
        jobs = " ".join(sorted({t.split("_")[0] for t in tasks.values()}, key=int))
        print(f"stopped waiting; the Slurm tasks keep running (`scancel {jobs}` stops them); run the same command "
              "again to wait for them", file=sys.stderr)
        raise
    return statuses


def _ended(run_dir: Path, task: str, slurm_dir: Path, submitit) -> str:
    """The status of a run whose task has left the queue: its folder's, refined by what the task returned."""
    status = run_status(run_dir)
    if status in FINISHED:
        return status
    result = submitit.core.utils.JobPaths(slurm_dir, job_id=task, task_id=0).result_pickle
    try:
        outcome, value = submitit.core.utils.pickle_load(result)
    except Exception:  # no result: killed, cancelled, or never started
        outcome, value = None, None
    code = value.get("exit") if outcome == "success" and isinstance(value, dict) else None
    if isinstance(code, int) and code > 0 and code != 130:  # < 0: killed by a signal (e.g. while starting)
        return "failed"  # the trainer itself failed (e.g. exit 2: a bad config or a full disk; see train.log)
    if status == "interrupted":
        return "interrupted"  # a checkpoint to resume: the next call resubmits it
    return "failed" if RunDir(run_dir).train_log.exists() else "skipped"
