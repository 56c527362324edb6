"""A finished study read back as data: results.csv, each run's metrics.jsonl rows and run dir, step_time.json.

gan/analysis/ reads a study through `Study` (study_analysis, headline, advice, sequential) and writes what the
renderers show into analysis.json; nothing here computes a metric (the derived results.csv columns are written
once, by `gan study` when it collects results: gan/study/collect.py with gan/study/derived.py).

    study = load_study_results("studies/quick")
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from gan.study.results import group_rows, load_results
from gan.errors import UserError
from gan.files.layout import StudyDir
from gan.tracking.metrics_file import read_metrics
from gan.study.results import ACT, SEED, Results

MAX_FIGURE_GROUPS = 12


@dataclass
class Study:
    """A study dir read back: results.csv, each run's metrics.jsonl rows and run dir."""

    dir: Path
    results: Results
    metrics: dict[str, list[dict]] = field(default_factory=dict)  # run name -> metrics.jsonl rows
    run_dirs: dict[str, Path | None] = field(default_factory=dict)
    step_time: dict | None = None  # step_time.json: claim 6's side-by-side timing (benchmarks/bench_act_step.py)

    @property
    def settings(self) -> list[str]:
        """Every axis except the seed, the activation first: one group of seeds per combination."""
        axes = [a for a in self.results.axes if a != SEED]
        return sorted(axes, key=lambda a: a != ACT) or ([ACT] if ACT in self.results.columns else [])

    @property
    def pooled(self) -> bool:
        """Too many combinations to draw: figures then group by the activation alone."""
        return ACT in self.settings and len(group_rows(self.results.rows, self.settings)) > MAX_FIGURE_GROUPS

    @property
    def group_by(self) -> list[str]:
        return [ACT] if self.pooled else self.settings

    def groups(self, completed: bool = True) -> dict[str, list[dict]]:
        rows = self.results.completed() if completed else self.results.rows
        return group_rows(rows, self.group_by)


def _run_dir(study_dir: Path, row: dict) -> Path | None:
    name, given = str(row.get("run") or ""), row.get("run_dir")
    candidates = [study_dir / str(given)] if given else []  # relative to the study dir (or absolute)
    candidates.append(StudyDir(study_dir).run(name).path)
    return next((p for p in candidates if name and p.is_dir()), None)


def load_study_results(study_dir: str | Path) -> Study:
    """Read results.csv, study.yaml, step_time.json and every run's metrics.jsonl, as they are on disk
    (raises UserError without results.csv)."""
    study_dir = Path(study_dir)
    results = load_results(study_dir)
    study = Study(study_dir, results)
    for row in results.rows:
        name = str(row.get("run"))
        study.run_dirs[name] = d = _run_dir(study_dir, row)
        study.metrics[name] = read_metrics(d) if d else []
    study.step_time = read_step_time(study_dir)
    return study


def read_step_time(study_dir: Path) -> dict | None:
    """<study_dir>/step_time.json, or None when absent; UserError when it is not what the benchmark writes."""
    path = StudyDir(study_dir).step_time
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        ok = all(len(data[k]) == len(data["relu_ms"]) and all(v > 0 for v in data[k]) for k in ("relu_ms", "leaky_ms"))
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise UserError(f"{path} is not a step-time file (relu_ms and leaky_ms: equal-length lists of positive "
                        "times); delete it or rewrite it with `python benchmarks/bench_act_step.py`")
    return data
