"""A study's results table: results.csv read back as one dict per run (numbers parsed), its axes, its study file.

    results = load_results("studies/quick")      # Results(rows, axes, name, study)
    results.completed(); results.levels("model.d_act"); group_rows(results.completed(), ["model.d_act"])

The statistics (gan/analysis/) read runs only through this table; nothing here computes a statistic.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from gan.errors import UserError
from gan.config import schema
from gan.files.layout import StudyDir
from gan.files.yaml_file import read_yaml_mapping

ACT, SEED = schema.D_ACT, schema.SEED  # the axis every claim compares, and the one that pairs runs
CONFIG_KEY = re.compile(r"^(data|model|train|eval|track)\.\w+$")  # results.csv columns that are config keys

Row = dict[str, Any]
Selector = dict[str, Any]  # column -> value, e.g. {"model.d_act": "relu", "model.ndf": 32}


@dataclass(frozen=True)
class Results:
    """A study's results.csv (one dict per run, numbers parsed), its axes and its study.yaml."""

    rows: list[Row]
    axes: list[str]
    name: str = ""
    study: dict = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(k for row in self.rows for k in row))

    def completed(self) -> list[Row]:
        return [r for r in self.rows if is_completed(r)]

    def failed(self) -> list[Row]:
        return [r for r in self.rows if not is_completed(r)]

    def levels(self, column: str) -> list[Any]:
        """Distinct non-empty values of `column` over all runs, in order of appearance."""
        return list(dict.fromkeys(r[column] for r in self.rows if r.get(column) is not None))

    def has_metric(self, column: str) -> bool:
        return any(is_finite(r.get(column)) for r in self.completed())


def _parse(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    s = value.strip()
    if s in ("", "None"):  # csv writes None as ""; "none" (lowercase) is a d_norm value
        return None
    for cast in (int, float):
        try:
            return cast(s)
        except ValueError:
            pass
    return s


def is_finite(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and math.isfinite(value)


def is_completed(row: Row) -> bool:
    """Whether a run finished: status "completed" (a row without a status counts as completed)."""
    return str(row.get("status") or "completed") == "completed"


def make_results(rows: Sequence[Row], study: dict | None = None, name: str = "") -> Results:
    """Results from row dicts: axes are study.yaml's axes plus any other config-key column that varies."""
    rows = [{k: _parse(v) for k, v in r.items()} for r in rows]
    study = study or {}
    columns = list(dict.fromkeys(k for r in rows for k in r))
    config_cols = [c for c in columns if CONFIG_KEY.match(c)]  # not run, status, step, wall_time_s, final/...
    axes = [a for a in (study.get("axes") or {}) if a in columns]
    axes += [c for c in config_cols if c not in axes and len({str(r.get(c)) for r in rows}) > 1]
    return Results(rows=rows, axes=axes, name=name or str(study.get("name") or ""), study=study)


def load_results(study_dir: str | Path) -> Results:
    """Read <study_dir>/results.csv and study.yaml (optional)."""
    study_dir = Path(study_dir)
    layout = StudyDir(study_dir)
    path = layout.results_csv
    if not path.is_file():
        raise UserError(f"no results.csv in {study_dir}: run `gan study` on its study.yaml first")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    study = read_yaml_mapping(layout.study_yaml, "study file") if layout.study_yaml.is_file() else {}
    return make_results(rows, study, name=str(study.get("name") or study_dir.name))


def short(column: str) -> str:
    """'model.d_extra_layers' -> 'd_extra_layers'."""
    return column.rsplit(".", 1)[-1]


def label(row: Row, columns: Sequence[str]) -> str:
    """A group label such as 'relu, ndf=32' (the activation is shown bare)."""
    return ", ".join(str(row.get(c)) if c == ACT else f"{short(c)}={row.get(c)}" for c in columns) or "all runs"


def group_rows(rows: Sequence[Row], by: Sequence[str]) -> dict[str, list[Row]]:
    """Rows grouped by the values of `by`, labelled with `label`, in order of appearance."""
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(label(r, by), []).append(r)
    return groups


def matches(row: Row, sel: Selector) -> bool:
    """Whether `row` has every value of `sel` (compared as parsed or as text: 32 matches "32")."""
    return all(row.get(c) == v or str(row.get(c)) == str(v) for c, v in sel.items())


