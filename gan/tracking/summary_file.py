"""summary.json: a run's end record, its one writer and reader, and the one place a run's status is decided.

    record = end_record(status=..., step=..., ...)   # the dict `gan train` hands the tracker at the end of a run
    write_summary(run_dir, record)                   # atomically (gan/tracking/tracker.py's finish)
    read_summary(run_dir)                            # {} when the run has none (still training) or it is unreadable
    run_status(run_dir)                              # new | completed | diverged | interrupted
    is_finished(run_dir)                             # completed or diverged: trained to its end, a study skips it
    summary_columns(run_dir)                         # its results.csv cells: step, wall_time_s, final/*, mean/*, ...

summary.json holds the run's status (completed / diverged / interrupted), its step and wall time, the final and
mean values of its metrics (gan/tracking/metrics_file.py's summarize), the real-data floor of its quality
(`quality_ref`), the feature network that measured it, the dataset it trained on and its provenance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gan.files.atomic import write_json_atomic
from gan.files.layout import RunDir
from gan.measure.metric_keys import CLASSIFIER, DATASET, FINAL, MEAN, PROVENANCE

STATUS, STEP, WALL_TIME_S, QUALITY_REF = "status", "step", "wall_time_s", "quality_ref"
COMPLETED, DIVERGED, INTERRUPTED, NEW = "completed", "diverged", "interrupted", "new"
FINISHED = (COMPLETED, DIVERGED)  # statuses of a run that trained to its end (a study skips it, gan pack keeps it)
SECTIONS = (FINAL, MEAN, CLASSIFIER, PROVENANCE, DATASET)  # copied into results.csv as <section>/<key>


def end_record(*, status: str, step: int, name: str, wall_time_s: float, config: dict[str, Any],
               final: dict[str, Any], mean: dict[str, Any], quality_ref: dict[str, Any], wandb_run_id: str | None,
               provenance: dict[str, Any], dataset: dict[str, Any], classifier: dict[str, Any]) -> dict[str, Any]:
    """summary.json's content, in its order (the tracker adds `nonfinite` when a metric was ever NaN / inf)."""
    return {STATUS: status, STEP: step, "name": name, WALL_TIME_S: wall_time_s, "config": config,
            FINAL: final, MEAN: mean, QUALITY_REF: quality_ref, "wandb_run_id": wandb_run_id,
            PROVENANCE: provenance, DATASET: dataset, CLASSIFIER: classifier}


def write_summary(run_dir: str | Path, record: dict[str, Any]) -> None:
    write_json_atomic(RunDir(run_dir).summary, record)


def read_summary(run_dir: str | Path) -> dict[str, Any]:
    """The run's summary.json; {} when it has none or it does not parse as a JSON object."""
    try:
        summary = json.loads(RunDir(run_dir).summary.read_text())
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}


def is_finished(run_dir: str | Path) -> bool:
    """Trained to its end (completed or diverged), by its summary.json."""
    return read_summary(run_dir).get(STATUS) in FINISHED


def run_status(run_dir: str | Path) -> str:
    """new | completed | diverged | interrupted (a checkpoint exists, so it can resume)."""
    status = read_summary(run_dir).get(STATUS)
    if status in FINISHED:
        return status
    run = RunDir(run_dir)
    return INTERRUPTED if run.ckpt_last.is_file() or run.ckpt_prev.is_file() else NEW


def stopped_before_first_checkpoint(run_dir: str | Path) -> bool:
    """A summary saying `interrupted` and no checkpoint: a second Ctrl-C before the first one; nothing to resume."""
    run = RunDir(run_dir)
    if run.ckpt_last.is_file() or run.ckpt_prev.is_file():
        return False
    return read_summary(run_dir).get(STATUS) == INTERRUPTED


def summary_columns(run_dir: str | Path) -> dict[str, Any]:
    """The run's results.csv cells from its summary.json: step, wall_time_s and <section>/<key> of SECTIONS
    (classifier/hash: which feature network measured; provenance/code_version: which code trained); {} without one."""
    if not RunDir(run_dir).summary.is_file():
        return {}
    summary = read_summary(run_dir)
    row = {STEP: summary.get(STEP), WALL_TIME_S: summary.get(WALL_TIME_S)}
    for section in SECTIONS:
        row.update({f"{section}/{k}": v for k, v in (summary.get(section) or {}).items()})
    return row
