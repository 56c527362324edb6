"""`gan study`: expand a seeded grid, run it as local processes, collect results.csv, write the report.

A study YAML names a base config, fixed overrides and axes; runs are the product of the axes:

    name: quick
    base: configs/fashion_mnist.yaml
    overrides: {train.steps: 1500, model.ngf: 32, model.ndf: 32}
    axes:
      model.d_act: [relu, "leaky_relu:0.2"]
      train.seed: [0, 1]

Running it again skips completed (and diverged) runs and resumes interrupted ones.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from tqdm import tqdm

from gan.config import load_config, run_name
from gan.derived import derived_columns
from gan.metrics_log import read_metrics
from gan.errors import UserError
from gan.runlock import FolderLock
from gan.stopping import STUDY_PID_ENV

FINISHED = ("completed", "diverged")


@dataclass(frozen=True)
class PlannedRun:
    name: str  # directory name under runs/, from the axis values: `d_act-relu__seed-0`
    settings: dict[str, Any]  # overrides + this run's axis values (dotted keys)
    wandb_name: str  # DESIGN's `<dataset>-D_<act>-G_<act>-s<seed>`, then any other axis values


NAMED_BY_RUN_NAME = ("data.name", "model.d_act", "model.g_act", "train.seed")  # already in config.run_name


@dataclass(frozen=True)
class StudySpec:
    name: str
    base: str | None
    overrides: dict[str, Any]
    axes: dict[str, list[Any]]
    runs: tuple[PlannedRun, ...] = ()  # plan(spec), filled in by load_study once every run is validated


def load_study(path: str | Path) -> StudySpec:
    """Parse and validate a study file (every run's config is validated before anything runs)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"study file '{path}' does not exist; see configs/study/quick.yaml for an example")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError):
        raise UserError(f"study file '{path}' is not valid YAML; fix the syntax") from None
    if not isinstance(raw, dict):
        raise UserError(f"study file '{path}' must hold a mapping with name, base, overrides and axes")
    unknown = {str(k) for k in raw} - {"name", "base", "overrides", "axes", "description", "margins"}
    if unknown:  # margins: per-claim equivalence margins, read by gan/claims.py
        raise UserError(f"study file '{path}' may only hold name, base, overrides, axes, margins and description "
                        f"(found {', '.join(sorted(unknown)) or type(raw).__name__})")
    if not raw.get("axes"):  # one run named `run` is what `gan train` is for
        raise UserError(f"study file '{path}' has no 'axes:' (so it would train one run named 'run'); add axes, "
                        "e.g. `axes: {train.seed: [0, 1]}`, or train one run with `gan train`")
    axes = raw["axes"]
    if not isinstance(axes, dict) or not all(isinstance(v, list) and v for v in axes.values()):
        raise UserError(f"study file '{path}': 'axes' must map config keys to non-empty lists of values")
    for key, values in axes.items():
        twice = [v for i, v in enumerate(values) if v in values[:i]]
        if twice:
            raise UserError(f"study file '{path}': axis '{key}' lists {twice[0]!r} more than once; "
                            "remove the duplicate value")
    overrides = raw.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise UserError(f"study file '{path}': 'overrides' must map config keys to values")
    base = _resolve_base(path, raw.get("base"))
    spec = StudySpec(str(raw.get("name") or path.stem), base, overrides, axes)
    if spec.name in (".", "..") or not all(c.isalnum() or c in "._:-" for c in spec.name):
        raise UserError(f"study file '{path}': study name '{spec.name}' may only hold letters, digits, '.', '_', "
                        "':' and '-' (it names the folder studies/<name>)")
    runs = plan(spec)
    names = [r.name for r in runs]
    if len(set(names)) < len(names):
        twice = sorted({n for n in names if names.count(n) > 1})[0]
        raise UserError(f"study file '{path}': two runs would share the folder '{twice}' (axis values that differ "
                        "only in characters a folder name cannot hold); make the values distinct")
    return dataclasses.replace(spec, runs=tuple(runs))


def _resolve_base(study_file: Path, base: Any) -> str | None:
    """`base:` from the current directory, else from the study file's folder or the nearest one above it.

    So `configs/study/tiny.yaml` (base `configs/fake.yaml`) runs from any directory; which file was used is said.
    """
    if base is None or Path(str(base)).is_file():
        return None if base is None else str(base)
    folder = study_file.resolve().parent
    for above in (folder, *folder.parents):
        if (above / str(base)).is_file():
            found = above / str(base)
            print(f"study file '{study_file}': base config '{base}' is not in the current directory; "
                  f"using '{found}' (found from the study file's folder)", file=sys.stderr)
            return str(found)
    raise UserError(f"study file '{study_file}': base config '{base}' does not exist, neither from the current "
                    f"directory nor from '{folder}' or a folder above it; fix the path")


def _as_overrides(settings: dict[str, Any]) -> list[str]:
    return [f"{k}={json.dumps(v) if not isinstance(v, str) or _reads_as_number(v) else v}" for k, v in settings.items()]


def _reads_as_number(text: str) -> bool:
    """A quoted '3' in the study file stays a string (the config refuses it for an integer key, e.g. train.seed),
    instead of silently becoming the number 3 on the command line."""
    try:
        value = yaml.safe_load(text)
        return isinstance(value, int) and not isinstance(value, bool)
    except yaml.YAMLError:
        return False


def _slug(key: str, value: Any) -> str:
    short = key.split(".")[-1]
    slug = f"{short}-{value}".replace("/", "_").replace(" ", "").replace("+", "")  # 1e+30 -> 1e30
    return "".join(c if c.isalnum() or c in "._:-" else "_" for c in slug)  # a valid run name (config.validate)


def plan(spec: StudySpec) -> list[PlannedRun]:
    """The product of the axes, in a stable order; each run's config is validated (UserError names the key)."""
    keys = list(spec.axes)
    runs = []
    for values in itertools.product(*(spec.axes[k] for k in keys)):
        settings = {**spec.overrides, **dict(zip(keys, values))}
        name = "__".join(_slug(k, v) for k, v in zip(keys, values)) or "run"
        cfg = load_config(spec.base, _as_overrides(settings))
        extra = [_slug(k, v) for k, v in zip(keys, values) if k not in NAMED_BY_RUN_NAME]
        runs.append(PlannedRun(name, settings, "-".join([run_name(cfg), *extra])))
    return runs


def run_status(run_dir: Path) -> str:
    """new | completed | diverged | interrupted (a checkpoint exists, so it can resume) | failed."""
    summary = run_dir / "summary.json"
    if summary.is_file():
        try:
            status = json.loads(summary.read_text()).get("status", "failed")
        except json.JSONDecodeError:
            status = "failed"
        if status in FINISHED:
            return status
    resumable = any((run_dir / "checkpoints" / n).is_file() for n in ("last.pt", "prev.pt"))
    return "interrupted" if resumable else "new"


def _train_command(spec: StudySpec, run: PlannedRun, run_dir: Path, status: str) -> list[str]:
    cmd = [sys.executable, "-m", "gan", "train"]
    settings = {**run.settings, "name": run.wandb_name, "track.group": spec.name}
    if status == "interrupted":
        steps = [f"train.steps={settings['train.steps']}"] if "train.steps" in settings else []
        return cmd + ["--resume", str(run_dir), *steps]
    # a run stopped before its first checkpoint left a summary or rows but nothing to resume: start it again
    leftovers = any((run_dir / n).exists() for n in ("summary.json", "metrics.jsonl", "config.yaml"))
    return cmd + ([spec.base] if spec.base else []) + _as_overrides(settings) + ["--out", str(run_dir)] + \
        (["--restart"] if leftovers else [])


class Runner:
    """Starts the study's trainers and owns them: each is a child in its own session (a terminal Ctrl-C
    reaches the study only, which forwards it once), and a stop request reaches every running child and
    keeps queued runs from starting."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.stopped_by: str | None = None  # the signal's name once a stop was asked for
        self._children: set[subprocess.Popen] = set()
        self._lock = threading.Lock()

    def stop(self, signum: int, frame=None) -> None:
        """Signal handler: forward the signal to every running trainer (each checkpoints and exits)."""
        self.stopped_by = self.stopped_by or signal.Signals(signum).name
        with self._lock:
            for child in self._children:
                if child.poll() is None:
                    child.send_signal(signum)

    def run_one(self, spec: StudySpec, run: PlannedRun, run_dir: Path) -> str:
        """completed | diverged | failed | interrupted (stopped with the study) | skipped (never started)."""
        status = run_status(run_dir)
        if status in FINISHED:
            return status
        run_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads),
               STUDY_PID_ENV: str(os.getpid())}
        with open(run_dir / "train.log", "a") as log:
            with self._lock:  # checked under the lock: a stop either sees this child or keeps it from starting
                if self.stopped_by:
                    return "skipped"
                child = subprocess.Popen(_train_command(spec, run, run_dir, status), stdout=log,
                                         stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
                self._children.add(child)
            code = child.wait()
        with self._lock:
            self._children.discard(child)
        from gan.train import STATUS_EXIT

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

    from gan.data import load_split
    from gan.distributed import pick_device
    from gan.quality import reference_floor

    seen: set[str] = set()
    threads = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    try:
        for run in spec.runs:
            cfg = load_config(spec.base, _as_overrides(run.settings))
            key = json.dumps([dataclasses.asdict(cfg.data), dataclasses.asdict(cfg.eval)], sort_keys=True, default=str)
            if key in seen:
                continue
            seen.add(key)
            load_split(cfg.data, train=True), load_split(cfg.data, train=False)
            if cfg.eval.enabled and cfg.eval.features == "classifier":
                print(f"preparing the {cfg.data.name} quality classifier and its real-data floor (once, "
                      f"{os.cpu_count()} threads)", file=sys.stderr)
                reference_floor(cfg, pick_device(cfg.train.device))
    finally:
        torch.set_num_threads(threads)


def run_study(study_yaml: str, jobs: int = 1, out: str | None = None) -> int:
    """Run every planned run not yet finished (K at a time), then write results.csv and the report.

    One `gan study` per study folder (a lock); SIGTERM / Ctrl-C stop the running trainers at their next step
    (each checkpoints) and start no queued run; exit 130 then, 1 when a run failed, else 0.
    """
    spec = load_study(study_yaml)
    study_dir = Path(out) if out else Path("studies") / spec.name
    with FolderLock(study_dir, "study folder"):
        return _run_study_locked(spec, study_yaml, study_dir, jobs)


def _run_study_locked(spec: StudySpec, study_yaml: str, study_dir: Path, jobs: int) -> int:
    runs = spec.runs
    try:
        (study_dir / "runs").mkdir(parents=True, exist_ok=True)
        (study_dir / "study.yaml").write_text(Path(study_yaml).read_text())
    except OSError as err:
        raise UserError(f"cannot write the study to '{study_dir}' ({err.strerror}); pass a writable --out") from None
    threads = max(1, (os.cpu_count() or 1) // jobs)
    todo = [r for r in runs if run_status(study_dir / "runs" / r.name) not in FINISHED]
    print(f"study '{spec.name}': {len(runs)} runs, {len(runs) - len(todo)} already done, {len(todo)} to run "
          f"({jobs} at a time, {threads} thread{'s' if threads > 1 else ''} each) -> {study_dir}")
    if todo:  # before the handlers below: a Ctrl-C here stops at once (the classifier says what to rerun)
        prepare_caches(spec)
    runner = Runner(threads)
    previous = {}
    if threading.current_thread() is threading.main_thread():  # signals can only be caught there
        previous = {sig: signal.signal(sig, runner.stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    statuses: dict[str, str] = {}
    try:
        pool = ThreadPoolExecutor(max_workers=jobs)
        with tqdm(total=len(todo), desc="study", unit="run") as bar:
            futures = {pool.submit(runner.run_one, spec, r, study_dir / "runs" / r.name): r for r in todo}
            pending = set(futures)
            while pending:  # a short wait, so a stop request is acted on at once
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                if runner.stopped_by:
                    pool.shutdown(wait=False, cancel_futures=True)  # no queued run starts
                    cancelled = {f for f in pending if f.cancelled()}  # wait() never reports these as done
                    done, pending = done | cancelled, pending - cancelled
                for fut in done:
                    run = futures[fut]
                    statuses[run.name] = "skipped" if fut.cancelled() else fut.result()
                    bar.set_postfix_str(f"{run.name}: {statuses[run.name]}")
                    bar.update(1)
        pool.shutdown(wait=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if runner.stopped_by:
        stopped = sum(s == "interrupted" for s in statuses.values())
        not_started = sum(s == "skipped" for s in statuses.values())
        print(f"study stopped by {runner.stopped_by}: {stopped} running run(s) checkpointed, {not_started} not "
              f"started; continue with `gan study {study_yaml}" + (f" --out {study_dir}`" if study_dir !=
                                                                   Path("studies") / spec.name else "`"),
              file=sys.stderr)
        return 130
    print(tally(study_dir, statuses, len(runs) - len(todo)))
    path = collect_results(study_dir, spec, runs)
    print(f"results: {path}")
    from gan.report import write_report

    print(f"report: {write_report(study_dir)}")
    return 1 if any(s == "failed" for s in statuses.values()) else 0


def tally(study_dir: Path, statuses: dict[str, str], already: int) -> str:
    """One line: how this invocation's runs ended, with the folders of failed ones."""
    count = {k: sum(s == k for s in statuses.values()) for k in ("completed", "diverged", "failed")}
    failed = [str(study_dir / "runs" / n) for n, s in statuses.items() if s == "failed"]
    line = (f"study tally: {count['completed']} completed, {count['diverged']} diverged, {count['failed']} failed"
            f" ({already} already done before this run)")
    return line + (f"; failed (see train.log in each): {', '.join(failed)}" if failed else "")


def collect_results(study_dir: Path, spec: StudySpec, runs: list[PlannedRun]) -> Path:
    """results.csv: one row per run: name, dir, status, its settings, final/*, mean/* and classifier/* of its summary, and
    the derived columns of its metrics.jsonl (tail3/log/quality/fcd, half2/probe/...: gan/derived.py)."""
    rows = []
    for run in runs:
        run_dir = study_dir / "runs" / run.name
        row: dict[str, Any] = {"run": run.name, "run_dir": str(run_dir.relative_to(study_dir)),
                               "status": run_status(run_dir) if run_dir.exists() else "missing"}
        if row["status"] == "new":
            row["status"] = "failed" if (run_dir / "train.log").exists() else "missing"
        row.update(run.settings)
        summary_path = run_dir / "summary.json"
        if summary_path.is_file():
            try:
                summary = json.loads(summary_path.read_text())
            except json.JSONDecodeError:
                summary = {}
            row["step"] = summary.get("step")
            row["wall_time_s"] = summary.get("wall_time_s")
            for section in ("final", "mean", "classifier"):  # classifier/hash: which feature network measured
                row.update({f"{section}/{k}": v for k, v in (summary.get(section) or {}).items()})
        row.update(derived_columns(read_metrics(run_dir)))  # the claims' primary metrics (gan/derived.py)
        rows.append(row)
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    path = study_dir / "results.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path
