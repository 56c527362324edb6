"""results.csv: one row per planned run, from its own folder (config.yaml, summary.json, metrics.jsonl).

    collect_results(study_dir, spec, spec.runs)   # after `gan study` ran them, or again with `gan report --collect`

The derived columns the claims read (tail3/log/quality/fcd, half2/probe/..., gan/study/derived.py) are computed
here, once, so the analysis never reaches back into run folders and anyone can recompute a verdict from
results.csv alone.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from gan.config.load import read_run_config
from gan.errors import UserError
from gan.files.atomic import write_text_atomic
from gan.files.layout import RunDir, StudyDir
from gan.files.lock import FolderLock
from gan.study.derived import derived_columns
from gan.study.spec import PlannedRun, StudySpec, read_study_spec
from gan.tracking.metrics_file import read_metrics
from gan.tracking.summary_file import NEW, run_status, summary_columns


def _settings_as_run(run_dir: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """The study's keys with the values the run really used, read from its own config.yaml (through the config
    loader): the preset may have changed since the run was trained. The preset's values stand for a run with no
    config.yaml, and for a key its config.yaml does not name (the run predates the key)."""
    saved = read_run_config(run_dir)
    if saved is None:
        return dict(settings)
    named = saved.settings()
    return {key: named.get(key, planned) for key, planned in settings.items()}


def collect_results(study_dir: Path, spec: StudySpec, runs: list[PlannedRun]) -> Path:
    """results.csv: one row per run: name, dir, status, its settings (from its own config.yaml), final/*, mean/*,
    classifier/* and provenance/* of its summary, and the derived columns of its metrics.jsonl
    (tail3/log/quality/fcd, half2/probe/...: gan/study/derived.py)."""
    rows = []
    layout = StudyDir(study_dir)
    for run in runs:
        run_dir = layout.run(run.name).path
        row: dict[str, Any] = {"run": run.name, "run_dir": str(run_dir.relative_to(study_dir)),
                               "status": run_status(run_dir) if run_dir.exists() else "missing"}
        if row["status"] == NEW:
            row["status"] = "failed" if RunDir(run_dir).train_log.exists() else "missing"
        row.update(_settings_as_run(run_dir, run.settings))
        if run.grids:
            row["grids"] = ";".join(run.grids)  # which sub-grids hold the run (claims 1-3 read the first one's)
        row.update(summary_columns(run_dir))  # step, wall_time_s, final/*, mean/*, classifier/*, ...
        row.update(derived_columns(read_metrics(run_dir)))  # the claims' primary metrics (gan/study/derived.py)
        rows.append(row)
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    path = layout.results_csv
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, text.getvalue())
    return path


def recollect(study_dir: str | Path) -> Path:
    """results.csv rewritten from the study folder's own study.yaml and run folders with this code's derived
    columns (`gan report --collect`); trains nothing. Refused while a `gan study` holds the folder."""
    layout = StudyDir(study_dir)
    if not layout.study_yaml.is_file():
        raise UserError(f"'{study_dir}' has no study.yaml: --collect needs a folder written by `gan study`")
    spec = read_study_spec(str(layout.study_yaml))
    with FolderLock(layout.path, "study folder"):
        return collect_results(layout.path, spec, spec.runs)


