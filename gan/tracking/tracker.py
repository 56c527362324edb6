"""Tracking: every logged row goes to `metrics.jsonl` first and to Weights & Biases second.

The only module that imports wandb (lazily, so `track.wandb=disabled` costs nothing). A W&B failure
never stops training: the first exception from wandb logs one warning and switches W&B off for the
run, while `metrics.jsonl` carries on. Besides the Tracker, only the two bare W&B calls that `gan sweep`
needs live here, so the wandb import stays in one file. Elsewhere: the metrics.jsonl file
(gan/tracking/metrics_file.py), summary.json and a run's status (gan/tracking/summary_file.py), sweeps
(gan/study/sweep.py), reading a .wandb log back (gan/tracking/wandb_history.py), dashboards
(gan/tracking/dashboard.py, through the separate wandb-workspaces package).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
from pathlib import Path
from typing import Any

from gan.measure import metric_keys as mk
from gan.config.schema import D_ACT, G_ACT, SEED, RunConfig, run_name
from gan.config.load import config_to_dict
from gan.files.layout import RunDir
from gan.files.atomic import json_safe
from gan.tracking.metrics_file import STEP_KEY, repair_tail
from gan.tracking.summary_file import write_summary

log = logging.getLogger(__name__)

TABLE_COLUMNS = (mk.FCD, mk.D_DEAD_FRAC, mk.IG_HOYER, mk.IG_ZERO_FRAC)  # final values in the run's W&B table
_SECRET = re.compile(r"api_?key|token|secret|password", re.IGNORECASE)


def resolve_mode(setting: str) -> str:
    """track.wandb -> online | offline | disabled. Explicit settings win; `auto` reads the environment."""
    if setting != "auto":
        return setting
    env = os.environ.get("WANDB_MODE", "").strip().lower()
    if env:
        return {"dryrun": "offline", "run": "online"}.get(env, env)
    if os.environ.get("WANDB_DISABLED", "").lower() in ("1", "true", "yes"):
        return "disabled"
    # a sweep agent sets WANDB_SWEEP_ID: its runs must report online even with a `wandb login` key only
    return "online" if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_SWEEP_ID") else "offline"


def _number(key: str, v: Any) -> float | int:
    """float / int for JSON and W&B alike (tensors and numpy scalars via .item())."""
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    try:
        return float(v)
    except (TypeError, ValueError):
        raise TypeError(f"logged value '{key}' must be a number, got {type(v).__name__}") from None


def _scrub(d: Any) -> Any:
    """Drop any key that looks like a credential, at any depth (the config has none; keep it so)."""
    if isinstance(d, dict):
        return {k: _scrub(v) for k, v in d.items() if not _SECRET.search(str(k))}
    return d


def wandb_config(cfg: RunConfig, provenance: dict[str, Any], dataset: dict[str, Any] | None = None) -> dict[str, Any]:
    """The W&B run config: the resolved config (secrets scrubbed), under `provenance` where it ran, and under
    `dataset` what it trained on (the number of training images and the hash of their indices)."""
    return {**_scrub(config_to_dict(cfg)), "provenance": dict(provenance), "dataset": dict(dataset or {})}


class Tracker:
    """metrics.jsonl (always, on the logging rank) mirrored to a W&B run (online | offline | disabled)."""

    def __init__(self, cfg: RunConfig, run_dir: Path, run_id: str | None = None, enabled: bool = True,
                 provenance: dict[str, Any] | None = None, dataset: dict[str, Any] | None = None):
        self.cfg, self.run_dir, self.enabled = cfg, Path(run_dir), enabled
        self.dataset = dataset or {}  # gan.data.training_set.load_training_set's record (W&B config)
        self.layout = RunDir(run_dir)
        self.provenance = provenance or {}  # gan.train.provenance.record: code version, versions, machine (W&B config)
        self._run_id, self._run, self._wandb, self._file = run_id, None, None, None
        self._last_grid: Any = None
        self._nonfinite: dict[str, int] = {}  # key -> first step it was NaN / inf (null in metrics.jsonl)
        self._saved_env: dict[str, str | None] = {}
        self.mode = "disabled"
        if not enabled:  # a non-zero DDP rank: nothing is written at all
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.layout.metrics
        repair_tail(path)
        self._file = open(path, "a", encoding="utf-8")
        self.mode = resolve_mode(cfg.track.wandb)
        if self.mode != "disabled":
            self._start_wandb()

    @property
    def run_id(self) -> str | None:
        return self._run_id

    ####################################################################################
    # W&B lifecycle

    def _start_wandb(self) -> None:
        try:
            import wandb
        except ImportError:
            log.warning("wandb is not installed (pip install wandb); metrics go to %s only",
                        self.layout.metrics)
            return
        wdir = self.layout.wandb
        env = {"WANDB_DIR": str(self.run_dir), "WANDB_CACHE_DIR": str(wdir / ".cache"),
               "WANDB_DATA_DIR": str(wdir / ".data"), "WANDB_CONFIG_DIR": str(wdir / ".config"),
               "WANDB_ERROR_REPORTING": "false", "WANDB_SILENT": "true"}
        for k, v in env.items():
            self._saved_env[k] = os.environ.get(k)
            os.environ[k] = v
        cfg, tr = self.cfg, self.cfg.track
        tags = [f"D:{cfg.model.d_act}", f"G:{cfg.model.g_act}", *tr.tags]
        try:
            wdir.mkdir(parents=True, exist_ok=True)
            self._run = wandb.init(
                mode=self.mode, dir=str(self.run_dir), project=tr.project, entity=tr.entity, group=tr.group,
                job_type=cfg.data.name, name=run_name(cfg), tags=tags, config=wandb_config(cfg, self.provenance, self.dataset),
                id=self._run_id, resume="allow" if self._run_id else None, allow_val_change=True,
                reinit="finish_previous", settings=wandb.Settings(silent=True, console="off"))
            self._run.define_metric(STEP_KEY)
            self._run.define_metric("*", step_metric=STEP_KEY)  # every panel on the training-step axis
        except Exception as err:  # noqa: BLE001 - any W&B failure: warn once, train on
            self._fail(err)
            return
        self._wandb = wandb
        self._run_id = self._run.id
        if self.mode == "online":
            print(f"W&B run: {self._run.url}", file=sys.stderr)
        else:
            print(f"W&B offline run {self._run.id}: upload with `wandb sync {wdir}/offline-run-*`", file=sys.stderr)

    def _fail(self, err: BaseException) -> None:
        """The one warning of a run; W&B stays off afterwards, metrics.jsonl carries on."""
        first = (str(err).strip().splitlines() or [""])[0][:200]
        log.warning("W&B failed (%s: %s); W&B is off for the rest of this run, %s carries on",
                    type(err).__name__, first, self.layout.metrics)
        run, self._run, self._wandb = self._run, None, None
        if run is not None:
            try:  # close what was written so far; a second failure stays silent
                run.finish(exit_code=1)
            except Exception:  # noqa: BLE001
                pass
        self._restore_env()

    def _restore_env(self) -> None:
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self._saved_env = {}

    def _wb(self, fn, *args, **kwargs) -> None:
        """Call into wandb only while it is on; the first exception switches it off."""
        if self._run is None:
            return
        try:
            fn(*args, **kwargs)
        except Exception as err:  # noqa: BLE001
            self._fail(err)

    ####################################################################################
    # logging

    def log(self, row: dict[str, Any], step: int) -> None:
        """Append {"step": step, **row} to metrics.jsonl (flushed) and log the same row to W&B."""
        if not self.enabled:
            return
        rec = {STEP_KEY: int(step), **{k: _number(k, v) for k, v in row.items() if k != STEP_KEY}}
        for k, v in rec.items():
            if isinstance(v, float) and not math.isfinite(v):
                self._nonfinite.setdefault(k, int(step))
        self._file.write(json.dumps(json_safe(rec), allow_nan=False) + "\n")  # NaN -> null: strict JSON
        self._file.flush()
        self._wb(lambda: self._run.log(rec))

    def log_image(self, key: str, grid: Any, step: int) -> None:
        """grid: uint8 (3, H, W) (a float grid in [0, 1] is scaled); logged as a PNG at `step`."""
        if not self.enabled or self._run is None:
            return
        import numpy as np

        a = grid.detach().cpu().numpy() if hasattr(grid, "detach") else np.asarray(grid)
        if a.dtype != np.uint8:  # a float image would log as black
            a = (np.clip(a.astype(np.float64), 0, 1) * 255).round().astype(np.uint8)
        a = a[0] if a.shape[0] == 1 else np.ascontiguousarray(a.transpose(1, 2, 0))  # (H, W[, 3])
        self._last_grid = a
        self._wb(lambda: self._run.log({STEP_KEY: int(step), key: self._wandb.Image(a)}))

    def log_histogram(self, key: str, values: Any, step: int) -> None:
        """values: 1-D tensor / array; non-finite entries are dropped (numpy cannot bin them)."""
        if not self.enabled or self._run is None:
            return
        import numpy as np

        v = values.detach().float().cpu().numpy() if hasattr(values, "detach") else np.asarray(values, float)
        v = v.reshape(-1)
        v = v[np.isfinite(v)]
        if v.size:
            self._wb(lambda: self._run.log({STEP_KEY: int(step), key: self._wandb.Histogram(v, num_bins=64)}))

    def finish(self, summary: dict[str, Any]) -> None:
        """summary.json (atomic), fsync of metrics.jsonl, W&B summary + final table, close W&B."""
        if not self.enabled:
            return
        if self._file is not None and not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        if self._nonfinite:  # why metrics.jsonl holds nulls: {key: first step it was NaN / inf}
            summary = {**summary, "nonfinite": dict(self._nonfinite)}
        write_summary(self.layout.path, summary)
        if self._run is not None:
            self._wb(self._finish_wandb, summary)
        self._run, self._wandb = None, None
        self._restore_env()

    def _finish_wandb(self, summary: dict[str, Any]) -> None:
        wandb, run, final = self._wandb, self._run, summary.get(mk.FINAL, {})
        keep = ("status", "step", "wall_time_s")
        run.summary.update({k: summary[k] for k in keep if k in summary})
        run.summary.update({mk.mean(k): v for k, v in summary.get(mk.MEAN, {}).items()})
        metrics = sorted(set(final) | set(summary.get(mk.MEAN, {})))
        rows = [[k, final.get(k), summary.get(mk.MEAN, {}).get(k)] for k in metrics]
        tables = {mk.TABLE_METRICS: wandb.Table(columns=["metric", "final", "mean"], data=rows)}
        m = self.cfg.model
        cols = ["run", D_ACT, G_ACT, SEED, mk.SAMPLES, *TABLE_COLUMNS]
        cells = [run_name(self.cfg), m.d_act, m.g_act, self.cfg.train.seed,
                 wandb.Image(self._last_grid) if self._last_grid is not None else None,
                 *[final.get(k) for k in TABLE_COLUMNS]]
        tables[mk.TABLE_SAMPLES] = wandb.Table(columns=cols, data=[cells])
        run.log({STEP_KEY: int(summary.get("step", 0)), **tables})
        run.finish(exit_code=0 if summary.get("status", "completed") == "completed" else 1)




########################################################################################
# the two W&B calls of `gan sweep` (the sweep logic and its messages are gan/study/sweep.py)

def wandb_sweep_macros(params: dict[str, Any]) -> dict[str, list[str]] | None:
    """W&B's own rendering of a parameter set into `${args}` / `${args_no_hyphens}`; None without wandb."""
    try:
        from wandb.sdk.launch.sweeps.utils import create_sweep_command_args
    except ImportError:
        return None
    return create_sweep_command_args({"args": {k: {"value": v} for k, v in params.items()}})


def wandb_api_and_sweep() -> tuple[Any, Any]:
    """(wandb.Api(timeout=30), wandb.sweep); ImportError without wandb, wandb's own error without a key."""
    import wandb

    return wandb.Api(timeout=30), wandb.sweep
