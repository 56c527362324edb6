"""`gan study`: expand a seeded grid, run it as local processes, collect results.csv, write the report.

A study YAML names a base config, fixed overrides and axes; runs are the product of the axes:

    name: quick
    base: configs/fashion_mnist.yaml
    overrides: {train.steps: 1500, model.ngf: 32, model.ndf: 32}
    axes:
      model.d_act: [relu, "leaky_relu:0.2"]
      train.seed: [0, 1]

Instead of one `axes:`, a study may give `grids:`, a list of sub-grids that share arms (issue 21):

    grids:
      - name: baseline                      # optional, for the reader
        axes: {model.d_act: [relu, "leaky_relu:0.2"], train.seed: [0, 1]}
      - name: no-norm
        overrides: {model.d_norm: none}     # optional, on top of the study's overrides
        axes: {model.d_act: [relu, "leaky_relu:0.2"], train.seed: [0, 1]}

The runs are the union of the grids' products, deduplicated by resolved config: a run two grids share
(here none; with `d_norm: [batch, none]` in the second grid, the batch runs) trains once.
Folder names of a `grids:` study (`_grid_name`): `d_act-<v>` first, then every other key some grid varies
(an axis or a grid override) whose value differs from the base (base config + the study's overrides) as
`<short key>-<v>`, in sorted key order, then `seed-<v>`. A key no grid of the run changed is left out, so
adding a grid never renames an existing run. A single-`axes` study keeps its names: the axis values in
the file's axis order (`d_act-relu__ndf-8__seed-0`).

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

from gan.config import config_to_dict, load_config, run_name
from gan.derived import derived_columns
from gan.metrics_log import read_metrics
from gan.errors import UserError
from gan.layout import STUDIES_ROOT, RunDir, StudyDir
from gan.metric_keys import CLASSIFIER, FINAL, MEAN, PROVENANCE
from gan.runlock import FolderLock
from gan.stopping import STUDY_PID_ENV

FINISHED = ("completed", "diverged")


@dataclass(frozen=True)
class PlannedRun:
    name: str  # directory name under runs/, from the axis values: `d_act-relu__seed-0`
    settings: dict[str, Any]  # overrides + this run's axis values (dotted keys)
    wandb_name: str  # docs/design.md's `<dataset>-D_<act>-G_<act>-s<seed>`, then any other axis values
    grids: tuple[str, ...] = ()  # a `grids:` study: the grids that hold this run (grid_label), first grid first


NAMED_BY_RUN_NAME = ("data.name", "model.d_act", "model.g_act", "train.seed")  # already in config.run_name


@dataclass(frozen=True)
class Grid:
    """One sub-grid: its own overrides (on top of the study's) and axes; `name` is only for the reader."""

    name: str | None
    overrides: dict[str, Any]
    axes: dict[str, list[Any]]


@dataclass(frozen=True)
class StudySpec:
    name: str
    base: str | None
    overrides: dict[str, Any]
    axes: dict[str, list[Any]]  # a `grids:` study: every value any grid gives each axis key (for the reader)
    runs: tuple[PlannedRun, ...] = ()  # plan(spec), filled in by read_study_spec once every run is validated
    grids: tuple[Grid, ...] = ()  # empty: the single-`axes` form (the product of `axes`)
    margins: dict[str, Any] = dataclasses.field(default_factory=dict)  # `margins:` (checked by gan/claims.py)


def read_study_spec(path: str | Path) -> StudySpec:
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
    unknown = {str(k) for k in raw} - {"name", "base", "overrides", "axes", "grids", "description", "margins"}
    if unknown:  # margins: per-claim equivalence margins, read by gan/claims.py
        raise UserError(f"study file '{path}' may only hold name, base, overrides, axes or grids, margins and "
                        f"description (found {', '.join(sorted(unknown)) or type(raw).__name__})")
    if raw.get("axes") and raw.get("grids"):
        raise UserError(f"study file '{path}' gives both 'axes' and 'grids'; move the axes into one of the grids")
    if not raw.get("axes") and raw.get("grids") is None:  # one run named `run` is what `gan train` is for
        raise UserError(f"study file '{path}' has no 'axes:' or 'grids:' (so it would train one run named 'run'); "
                        "add axes, e.g. `axes: {train.seed: [0, 1]}`, or train one run with `gan train`")
    axes = _axes(path, raw.get("axes") or {}, "'axes'")
    overrides = raw.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise UserError(f"study file '{path}': 'overrides' must map config keys to values")
    grids = _grids(path, raw.get("grids"))
    if grids:
        axes = {}
        for g in grids:
            for k, vs in g.axes.items():
                axes.setdefault(k, [])
                axes[k] += [v for v in vs if v not in axes[k]]
    base = _resolve_base(path, raw.get("base"))
    spec = StudySpec(str(raw.get("name") or path.stem), base, overrides, axes, grids=grids,
                     margins=raw.get("margins") or {})
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


def _axes(path: Path, axes: Any, where: str) -> dict[str, list[Any]]:
    if not isinstance(axes, dict) or not all(isinstance(v, list) and v for v in axes.values()):
        raise UserError(f"study file '{path}': {where} must map config keys to non-empty lists of values")
    for key, values in axes.items():
        twice = [v for i, v in enumerate(values) if v in values[:i]]
        if twice:
            raise UserError(f"study file '{path}': {where}: axis '{key}' lists {twice[0]!r} more than once; "
                            "remove the duplicate value")
    return axes


def grid_label(grid: Grid, index: int) -> str:
    """A grid's name in results.csv's `grids` column: its `name`, else grid<index> (1-based, file order)."""
    return grid.name or f"grid{index}"


def _grids(path: Path, raw: Any) -> tuple[Grid, ...]:
    """`grids:` validated: a non-empty list of mappings with optional name and overrides, and axes."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        raise UserError(f"study file '{path}': 'grids' must be a non-empty list of {{name, overrides, axes}} "
                        "mappings")
    out = []
    for i, g in enumerate(raw, 1):
        where = f"grid {i}" + (f" ('{g['name']}')" if isinstance(g, dict) and g.get("name") else "")
        if not isinstance(g, dict) or set(map(str, g)) - {"name", "overrides", "axes"} or not g.get("axes"):
            raise UserError(f"study file '{path}': {where} must be a mapping with 'axes' and optionally 'name' "
                            "and 'overrides'")
        overrides = g.get("overrides") or {}
        if not isinstance(overrides, dict):
            raise UserError(f"study file '{path}': {where}: 'overrides' must map config keys to values")
        out.append(Grid(None if g.get("name") is None else str(g["name"]), overrides,
                        _axes(path, g["axes"], f"{where}: 'axes'")))
    return tuple(out)


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
    """The product of the axes (or the deduplicated union of the grids' products), in a stable order; each
    run's config is validated (UserError names the key)."""
    if spec.grids:
        return _plan_grids(spec)
    keys = list(spec.axes)
    runs = []
    for values in itertools.product(*(spec.axes[k] for k in keys)):
        settings = {**spec.overrides, **dict(zip(keys, values))}
        name = "__".join(_slug(k, v) for k, v in zip(keys, values)) or "run"
        cfg = load_config(spec.base, _as_overrides(settings))
        extra = [_slug(k, v) for k, v in zip(keys, values) if k not in NAMED_BY_RUN_NAME]
        runs.append(PlannedRun(name, settings, "-".join([run_name(cfg), *extra])))
    return runs


FIRST_KEY, LAST_KEY = "model.d_act", "train.seed"  # always in a grid run's folder name, first and last


def _value(cfg_dict: dict[str, Any], key: str) -> Any:
    section, leaf = key.split(".", 1)
    return cfg_dict[section][leaf]


def _grid_name(named: list[tuple[str, Any]]) -> str:
    """Folder name of a grid run from its (key, value) pairs: d_act first, seed last, the rest by key."""
    order = sorted(named, key=lambda kv: (kv[0] != FIRST_KEY, kv[0] == LAST_KEY, kv[0]))
    return "__".join(_slug(k, v) for k, v in order) or "run"


def _plan_grids(spec: StudySpec) -> list[PlannedRun]:
    """The union of the grids' products, one run per resolved config (the first grid's order wins).

    Every run's settings hold every key some grid varies, with its resolved value, so results.csv has a
    value in each axis column for each run (a baseline run of a d_norm grid says d_norm=batch).
    """
    base = config_to_dict(load_config(spec.base, _as_overrides(spec.overrides)))
    varied = list(dict.fromkeys(k for g in spec.grids for k in (*g.overrides, *g.axes)))
    for k in (FIRST_KEY, LAST_KEY):
        varied += [] if k in varied else [k]
    runs, seen = [], {}
    for index, grid in enumerate(spec.grids, 1):
        keys = list(grid.axes)
        for values in itertools.product(*(grid.axes[k] for k in keys)):
            cfg = load_config(spec.base, _as_overrides({**spec.overrides, **grid.overrides, **dict(zip(keys, values))}))
            resolved = config_to_dict(cfg)
            identity = json.dumps({k: v for k, v in resolved.items() if k != "name"}, sort_keys=True, default=str)
            label = grid_label(grid, index)
            if identity in seen:  # another grid already has this run: it trains once, and belongs to both
                i = seen[identity]
                if label not in runs[i].grids:
                    runs[i] = dataclasses.replace(runs[i], grids=(*runs[i].grids, label))
                continue
            seen[identity] = len(runs)
            named = [(k, _value(resolved, k)) for k in varied
                     if k in (FIRST_KEY, LAST_KEY) or _value(resolved, k) != _value(base, k)]
            settings = {**spec.overrides, **{k: _value(resolved, k) for k in varied}}
            extra = [_slug(k, v) for k, v in named if k not in NAMED_BY_RUN_NAME]
            runs.append(PlannedRun(_grid_name(named), settings, "-".join([run_name(cfg), *extra]), (label,)))
    return runs


def run_status(run_dir: Path) -> str:
    """new | completed | diverged | interrupted (a checkpoint exists, so it can resume) | failed."""
    summary = RunDir(run_dir).summary
    if summary.is_file():
        try:
            status = json.loads(summary.read_text()).get("status", "failed")
        except json.JSONDecodeError:
            status = "failed"
        if status in FINISHED:
            return status
    resumable = RunDir(run_dir).ckpt_last.is_file() or RunDir(run_dir).ckpt_prev.is_file()
    return "interrupted" if resumable else "new"


def _train_command(spec: StudySpec, run: PlannedRun, run_dir: Path, status: str) -> list[str]:
    cmd = [sys.executable, "-m", "gan", "train"]
    settings = {**run.settings, "name": run.wandb_name, "track.group": spec.name}
    if status == "interrupted":
        steps = [f"train.steps={settings['train.steps']}"] if "train.steps" in settings else []
        return cmd + ["--resume", str(run_dir), *steps]
    # a run stopped before its first checkpoint left a summary or rows but nothing to resume: start it again
    leftovers = any(p.exists() for p in (RunDir(run_dir).summary, RunDir(run_dir).metrics, RunDir(run_dir).config))
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
        with open(RunDir(run_dir).train_log, "a") as log:
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
    spec = read_study_spec(study_yaml)
    study_dir = Path(out) if out else STUDIES_ROOT / spec.name
    with FolderLock(study_dir, "study folder"):
        return _run_study_locked(spec, study_yaml, study_dir, jobs)


def _run_study_locked(spec: StudySpec, study_yaml: str, study_dir: Path, jobs: int) -> int:
    runs, layout = spec.runs, StudyDir(study_dir)
    try:
        layout.runs.mkdir(parents=True, exist_ok=True)
        layout.study_yaml.write_text(Path(study_yaml).read_text())
    except OSError as err:
        raise UserError(f"cannot write the study to '{study_dir}' ({err.strerror}); pass a writable --out") from None
    threads = max(1, (os.cpu_count() or 1) // jobs)
    todo = [r for r in runs if run_status(layout.run(r.name).path) not in FINISHED]
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
            futures = {pool.submit(runner.run_one, spec, r, layout.run(r.name).path): r for r in todo}
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
                                                                   STUDIES_ROOT / spec.name else "`"),
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
    failed = [str(StudyDir(study_dir).run(n).path) for n, s in statuses.items() if s == "failed"]
    line = (f"study tally: {count['completed']} completed, {count['diverged']} diverged, {count['failed']} failed"
            f" ({already} already done before this run)")
    return line + (f"; failed (see train.log in each): {', '.join(failed)}" if failed else "")


def _settings_as_run(run_dir: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """The study's keys with the values the run really used, read from its own config.yaml: the preset may
    have changed since the run was trained. The preset's values stand only for a run with no config.yaml."""
    try:
        saved = yaml.safe_load(RunDir(run_dir).config.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return dict(settings)
    out = {}
    for key, planned in settings.items():
        value: Any = saved
        for part in key.split("."):
            value = value.get(part, _MISSING) if isinstance(value, dict) else _MISSING
        out[key] = planned if value is _MISSING else value
    return out


_MISSING = object()


def collect_results(study_dir: Path, spec: StudySpec, runs: list[PlannedRun]) -> Path:
    """results.csv: one row per run: name, dir, status, its settings (from its own config.yaml), final/*, mean/*,
    classifier/* and provenance/* of its summary, and the derived columns of its metrics.jsonl
    (tail3/log/quality/fcd, half2/probe/...: gan/derived.py)."""
    rows = []
    layout = StudyDir(study_dir)
    for run in runs:
        run_dir = layout.run(run.name).path
        row: dict[str, Any] = {"run": run.name, "run_dir": str(run_dir.relative_to(study_dir)),
                               "status": run_status(run_dir) if run_dir.exists() else "missing"}
        if row["status"] == "new":
            row["status"] = "failed" if RunDir(run_dir).train_log.exists() else "missing"
        row.update(_settings_as_run(run_dir, run.settings))
        if run.grids:
            row["grids"] = ";".join(run.grids)  # which sub-grids hold the run (claims 1-3 read the first one's)
        summary_path = RunDir(run_dir).summary
        if summary_path.is_file():
            try:
                summary = json.loads(summary_path.read_text())
            except json.JSONDecodeError:
                summary = {}
            row["step"] = summary.get("step")
            row["wall_time_s"] = summary.get("wall_time_s")
            # classifier/hash: which feature network measured; provenance/code_version: which code trained
            for section in (FINAL, MEAN, CLASSIFIER, PROVENANCE):
                row.update({f"{section}/{k}": v for k, v in (summary.get(section) or {}).items()})
        row.update(derived_columns(read_metrics(run_dir)))  # the claims' primary metrics (gan/derived.py)
        rows.append(row)
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    path = layout.results_csv
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path
