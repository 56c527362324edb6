"""`gan study`: run a study file's runs as local processes and collect results.csv (the command then writes the report).

The study file's format and how it expands into runs (folder names, sub-grids): gan/study/spec.py.
Running a study again skips completed (and diverged) runs and resumes interrupted ones.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

import yaml
from tqdm import tqdm

from gan.config.load import load_config
from gan.config.schema import STEPS, TRACK_GROUP
from gan.errors import UserError
from gan.files.layout import STUDIES_ROOT, RunDir, StudyDir
from gan.files.lock import FolderLock
from gan.train.stopping import STUDY_PID_ENV
from gan.files.atomic import write_text_atomic
from gan.files.yaml_file import read_yaml_mapping
from gan.study.collect import collect_results
from gan.study.progress import RunBars
from gan.study.spec import PlannedRun, StudySpec, as_overrides, read_study_spec
from gan.tracking.summary_file import FINISHED, is_finished, run_status


OVER_BUDGET = "over budget"
BUDGET_EXIT = 3  # `gan study --budget`: the budget ran out before every run started (rerun to continue)


def _train_command(spec: StudySpec, run: PlannedRun, run_dir: Path, status: str) -> list[str]:
    cmd = [sys.executable, "-m", "gan", "train"]
    settings = {**run.settings, "name": run.wandb_name, TRACK_GROUP: spec.name}
    if status == "interrupted":
        steps = [f"{STEPS}={settings[STEPS]}"] if STEPS in settings else []
        return cmd + ["--resume", str(run_dir), *steps]
    # a run stopped before its first checkpoint left a summary or rows but nothing to resume: start it again
    leftovers = any(p.exists() for p in (RunDir(run_dir).summary, RunDir(run_dir).metrics, RunDir(run_dir).config))
    return cmd + ([spec.base] if spec.base else []) + as_overrides(settings) + ["--out", str(run_dir)] + \
        (["--restart"] if leftovers else [])


class Runner:
    """Starts the study's trainers and owns them: each is a child in its own session (a terminal Ctrl-C
    reaches the study only, which forwards it once), and a stop request reaches every running child and
    keeps queued runs from starting."""

    def __init__(self, threads: int, deadline: float | None = None) -> None:
        self.threads = threads
        self.deadline = deadline  # time.monotonic() past which no run starts (the study's wall-time budget)
        self.stopped_by: str | None = None  # the signal's name once a stop was asked for
        self._children: set[subprocess.Popen] = set()
        self.running: dict[str, Path] = {}  # run name -> its folder, while its trainer runs (the step bars read it)
        self._lock = threading.Lock()

    def stop(self, signum: int, frame=None) -> None:
        """Signal handler: forward the signal to every running trainer (each checkpoints and exits)."""
        self.stopped_by = self.stopped_by or signal.Signals(signum).name
        with self._lock:
            for child in self._children:
                if child.poll() is None:
                    child.send_signal(signum)

    def running_now(self) -> dict[str, Path]:
        """A copy of the runs whose trainers are running now (pool threads change the dict)."""
        with self._lock:
            return dict(self.running)

    def run_one(self, spec: StudySpec, run: PlannedRun, run_dir: Path) -> str:
        """completed | diverged | failed | interrupted (stopped with the study) | skipped (never started) |
        over budget (not started: the study's wall-time budget had passed)."""
        status = run_status(run_dir)
        if status in FINISHED:
            return status
        run_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads),
               STUDY_PID_ENV: str(os.getpid())}
        with open(RunDir(run_dir).train_log, "a") as log:
            with self._lock:  # checked under the lock: a stop either sees this child or keeps it from starting
                if self.stopped_by:
                    return "skipped"
                if self.deadline is not None and time.monotonic() > self.deadline:
                    return OVER_BUDGET
                child = subprocess.Popen(_train_command(spec, run, run_dir, status), stdout=log,
                                         stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
                self._children.add(child)
                self.running[run.name] = run_dir
            code = child.wait()
        with self._lock:
            self._children.discard(child)
            self.running.pop(run.name, None)
        from gan.errors import STATUS_EXIT

        # the exit code decides: a summary.json another process wrote does not make a failed trainer finished
        status = run_status(run_dir)
        if code == STATUS_EXIT["completed"] and status == "completed":
            return "completed"
        if code == STATUS_EXIT["diverged"] and status == "diverged":
            return "diverged"
        if code == STATUS_EXIT["interrupted"] and self.stopped_by:
            return "interrupted"
        return "failed"


def prepare_caches(spec: StudySpec) -> None:
    """Data files and the quality classifier (with its real-data floor) once, on every core, before any run:
    otherwise the first run builds them on its share of the threads while the other jobs wait for them."""
    import torch

    from gan.data.dataset import load_split
    from gan.measure.features import resolve
    from gan.train.distributed import pick_device
    from gan.measure.quality import reference_floor

    from gan.train.machine import idle_cores

    seen: set[str] = set()
    threads, cores = torch.get_num_threads(), idle_cores()
    torch.set_num_threads(cores)
    try:
        for run in spec.runs:
            cfg = load_config(spec.base, as_overrides(run.settings))
            key = json.dumps([dataclasses.asdict(cfg.data), dataclasses.asdict(cfg.eval)], sort_keys=True, default=str)
            if key in seen:
                continue
            seen.add(key)
            load_split(cfg.data, train=True), load_split(cfg.data, train=False)
            if cfg.eval.enabled and (kind := resolve(cfg)) != "inception":
                print(f"preparing the {cfg.data.name} quality {kind} features and their real-data floor (once, "
                      f"{cores} thread{'s' * (cores > 1)}{'' if cores == (os.cpu_count() or 1) else ': the other cores are busy'})",
                      file=sys.stderr)
                reference_floor(cfg, pick_device(cfg.train.device))
    finally:
        torch.set_num_threads(threads)


@dataclasses.dataclass(frozen=True)
class StudyRequest:
    """What `gan study` was asked: the study file, command-line overrides, where, how many at once, the budget."""

    study_yaml: str
    overrides: tuple[str, ...] = ()
    out: str | None = None
    jobs: int = 1
    budget_s: float | None = None  # no run starts once this many seconds have passed (None: no budget)


def study_dir_of(spec: StudySpec, out: str | None) -> Path:
    """--out, else studies/<name>; a study of a folder of images: studies/<name>-<folder>-<hash of its path>, so
    the same preset pointed at other images never reuses these runs."""
    if out:
        return Path(out)
    data = load_config(spec.base, as_overrides(spec.overrides)).data
    if data.name != "folder":
        return STUDIES_ROOT / spec.name
    root = Path(data.root).expanduser().absolute()
    tag = hashlib.sha256(str(root).encode()).hexdigest()[:6]
    return STUDIES_ROOT / f"{spec.name}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', root.stem)[:40]}-{tag}"


def run_study(study_yaml: str, jobs: int = 1, out: str | None = None, overrides: tuple[str, ...] = (),
              budget_s: float | None = None, threads: int | None = None) -> int:
    """Run every planned run not yet finished (K at a time, in the file's order), then write results.csv.

    One `gan study` per study folder (a lock); SIGTERM / Ctrl-C stop the running trainers at their next step
    (each checkpoints) and start no queued run: exit 130 then. Past `budget_s` no new run starts (the running
    ones finish; the rest wait for the next `gan study`): exit 3 then. 1 when a run failed, else 0.
    The analysis and the report are the command's next stages (gan/commands/study.py), not the runner's.
    `threads`: torch threads per run (None: the cores shared out over the jobs). A study that must match runs
    trained earlier keeps their thread count (CPU kernels sum in another order with another count).
    """
    spec = read_study_spec(study_yaml, overrides)
    study_dir = study_dir_of(spec, out)
    with FolderLock(study_dir, "study folder"):
        write_study_file(spec, study_yaml, study_dir)
        return _run_study_locked(spec, study_yaml, study_dir, jobs, budget_s, threads)


def write_study_file(spec: StudySpec, study_yaml: str, study_dir: Path) -> None:
    """The study file beside its runs (as given, or with the command line's overrides merged in)."""
    layout = StudyDir(study_dir)
    try:
        layout.runs.mkdir(parents=True, exist_ok=True)
        text = Path(study_yaml).read_text()
        if spec.raw.get("overrides") != (read_yaml_mapping(study_yaml, "study file").get("overrides")):
            text = "# written by `gan study` with command-line overrides merged into `overrides:`\n" + \
                yaml.safe_dump(spec.raw, sort_keys=False)
        write_text_atomic(layout.study_yaml, text)
    except OSError as err:
        raise UserError(f"cannot write the study to '{study_dir}' ({err.strerror}); pass a writable --out") from None


def _run_study_locked(spec: StudySpec, study_yaml: str, study_dir: Path, jobs: int,
                      budget_s: float | None = None, threads: int | None = None) -> int:
    runs, layout = spec.runs, StudyDir(study_dir)
    threads = threads or max(1, (os.cpu_count() or 1) // jobs)
    todo = [r for r in runs if not is_finished(layout.run(r.name).path)]
    print(f"study '{spec.name}': {len(runs)} runs, {len(runs) - len(todo)} already done, {len(todo)} to run "
          f"({jobs} at a time, {threads} thread{'s' if threads > 1 else ''} each) -> {study_dir}")
    if todo:  # before the handlers below: a Ctrl-C here stops at once (the classifier says what to rerun)
        prepare_caches(spec)
    runner = Runner(threads, None if budget_s is None else time.monotonic() + budget_s)
    previous = {}
    if threading.current_thread() is threading.main_thread():  # signals can only be caught there
        previous = {sig: signal.signal(sig, runner.stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    statuses: dict[str, str] = {}
    steps = {r.name: load_config(spec.base, as_overrides(r.settings)).train.steps for r in todo}
    try:
        pool = ThreadPoolExecutor(max_workers=jobs)
        with tqdm(total=len(todo), desc="study", unit="run", position=0) as bar:
            futures = {pool.submit(runner.run_one, spec, r, layout.run(r.name).path): r for r in todo}
            pending = set(futures)
            run_bars = RunBars(steps)  # the steps inside each running run, read from its metrics.jsonl
            while pending:  # a short wait, so a stop request is acted on at once
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                run_bars.update(runner.running_now())
                if runner.stopped_by:
                    pool.shutdown(wait=False, cancel_futures=True)  # no queued run starts
                    cancelled = {f for f in pending if f.cancelled()}  # wait() never reports these as done
                    done, pending = done | cancelled, pending - cancelled
                for fut in done:
                    run = futures[fut]
                    statuses[run.name] = "skipped" if fut.cancelled() else fut.result()
                    bar.set_postfix_str(f"{run.name}: {statuses[run.name]}")
                    bar.update(1)
            run_bars.close()
        pool.shutdown(wait=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if runner.stopped_by:
        stopped = sum(s == "interrupted" for s in statuses.values())
        not_started = sum(s == "skipped" for s in statuses.values())
        # results.csv of the runs so far (the rest read interrupted / missing), so `gan report` can read a
        # stopped study; the report itself waits for the rerun that finishes it
        path = collect_results(study_dir, spec, runs)
        print(f"study stopped by {runner.stopped_by}: {stopped} running run(s) checkpointed, {not_started} not "
              f"started; results so far: {path}; continue with `gan study {study_yaml}"
              + (f" --out {study_dir}`" if study_dir != STUDIES_ROOT / spec.name else "`"), file=sys.stderr)
        return 130
    print(tally(study_dir, statuses, len(runs) - len(todo)))
    path = collect_results(study_dir, spec, runs)
    print(f"results: {path}")
    if any(s == "failed" for s in statuses.values()):
        return 1
    over = sum(s == OVER_BUDGET for s in statuses.values())
    if over:
        print(f"study budget reached: {over} run(s) not started; the same command continues the study",
              file=sys.stderr)
        return BUDGET_EXIT
    return 0


def tally(study_dir: Path, statuses: dict[str, str], already: int) -> str:
    """One line: how this invocation's runs ended, with the folders of failed ones."""
    count = {k: sum(s == k for s in statuses.values()) for k in ("completed", "diverged", "failed")}
    failed = [str(StudyDir(study_dir).run(n).path) for n, s in statuses.items() if s == "failed"]
    line = (f"study tally: {count['completed']} completed, {count['diverged']} diverged, {count['failed']} failed"
            f" ({already} already done before this run)")
    return line + (f"; failed (see train.log in each): {', '.join(failed)}" if failed else "")
