"""Study statistics: per-group means with bootstrap CIs, seed-paired differences and contrasts, verdicts.

Rules (gan/claims.py applies them to the claims; the report prints them under the claims table):
- Only runs with status "completed" and a finite metric value enter a statistic.
- Runs are paired by every axis of the study except the ones being compared (train.seed, data.name, ...);
  replicate runs in one cell are averaged first.
- 95% CI: expanded percentile bootstrap of the mean (scipy.stats.bootstrap, 9999 resamples, fixed seed).
  The plain percentile interval is too narrow for a few seeds (at n = 5 it excludes 0 for pure noise ~15% of
  the time), so its level is raised until it is as wide as the t interval (Hesterberg 2015, "What teachers
  should know about the bootstrap", section 6): 99.8% at n = 5, 98.3% at n = 10, -> 95% for large n. BCa is
  not used: it is undefined for 2-3 values. One value: no CI. All values equal: a zero-width CI there.
- Verdict: "supported" when the CI excludes the null value in the claimed direction, "contradicted" when
  it excludes it the other way, "inconclusive" otherwise.
- Fewer than MIN_PAIRS (5) pairs give "inconclusive" whatever the CI: a bootstrap CI is never wider than
  the values' range, so with n values it excludes 0 whenever all differences share a sign, which pure noise
  does with probability 2 / 2^n (50% at n = 2, 12.5% at n = 4, 6% at n = 5).
"""

from __future__ import annotations

import csv
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import yaml
from scipy import stats as sps

from gan.errors import UserError

ACT, SEED = "model.d_act", "train.seed"
CONFIDENCE = 0.95
N_RESAMPLES = 9999
BOOT_SEED = 0
MIN_PAIRS = 5  # fewer pairs: no verdict (see the module docstring)
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


@dataclass(frozen=True)
class Estimate:
    """A mean with its 95% bootstrap CI over n values (kept for plots and tests)."""

    mean: float
    ci_low: float
    ci_high: float
    n: int
    values: tuple[float, ...] = ()


##### loading


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
    path = study_dir / "results.csv"
    if not path.is_file():
        raise UserError(f"no results.csv in {study_dir}: run `gan study` on its study.yaml first")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    study = {}
    if (study_dir / "study.yaml").is_file():
        study = yaml.safe_load((study_dir / "study.yaml").read_text()) or {}
    return make_results(rows, study, name=str(study.get("name") or study_dir.name))


##### groups


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


##### estimates


def expanded_level(n: int, level: float = CONFIDENCE) -> float:
    """Percentile level whose bootstrap CI of a mean of n values is as wide as the t interval (Hesterberg)."""
    if n < 2:
        return level
    t = sps.t.ppf(0.5 + level / 2, n - 1) * math.sqrt(n / (n - 1))
    return min(1.0 - 2 * sps.norm.sf(t), 0.9999)  # beyond 0.9999 the 9999 resamples cannot resolve it


def bootstrap_mean(values: Sequence[float], seed: int = BOOT_SEED) -> Estimate:
    """Mean and 95% (expanded percentile) bootstrap CI of the finite values; see the module docstring."""
    x = np.asarray([v for v in values if is_finite(v)], dtype=float)
    if x.size == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if x.size == 1:
        return Estimate(mean, math.nan, math.nan, 1, tuple(x))
    if np.all(x == x[0]):
        return Estimate(mean, mean, mean, int(x.size), tuple(x))
    res = sps.bootstrap((x,), np.mean, n_resamples=N_RESAMPLES, confidence_level=expanded_level(x.size),
                        method="percentile", rng=np.random.default_rng(seed))
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return Estimate(mean, min(lo, mean), max(hi, mean), int(x.size), tuple(x))


def bootstrap_band(matrix: np.ndarray, seed: int = BOOT_SEED, n_resamples: int = 2000) -> tuple[np.ndarray, ...]:
    """Per-column mean and 95% (expanded percentile) bootstrap band over rows (runs); NaN = missing.

    matrix: (R, T) -> mean, low, high: (T,); low/high are NaN where a column has fewer than 2 values.
    """
    m = np.asarray(matrix, dtype=float)
    counts = np.sum(np.isfinite(m), axis=0)
    lo, hi = np.full(m.shape[1], np.nan), np.full(m.shape[1], np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: nanmean warns, returns NaN
        mean = np.nanmean(m, axis=0)
        idx = np.random.default_rng(seed).integers(0, m.shape[0], size=(n_resamples, m.shape[0]))
        boot = np.nanmean(m[idx], axis=1)  # (B, T)
        for n in {int(c) for c in counts if c >= 2}:
            cols = counts == n
            tail = 50 * (1 - expanded_level(n))
            lo[cols], hi[cols] = np.nanpercentile(boot[:, cols], [tail, 100 - tail], axis=0)
    return mean, lo, hi


def arm_summary(results: Results, metric: str, by: Sequence[str] = (ACT,)) -> dict[str, Estimate]:
    """Mean and CI of `metric` per group of completed runs (groups: values of `by`)."""
    return {g: bootstrap_mean([r.get(metric) for r in rows])
            for g, rows in group_rows(results.completed(), by).items()}


def matches(row: Row, sel: Selector) -> bool:
    """Whether `row` has every value of `sel` (compared as parsed or as text: 32 matches "32")."""
    return all(row.get(c) == v or str(row.get(c)) == str(v) for c, v in sel.items())


def cell_means(results: Results, metric: str, sel: Selector, exclude: set[str]) -> dict[tuple, float]:
    """Mean of `metric` per pairing key (values of the axes not in `exclude`) over runs matching `sel`."""
    cells: dict[tuple, list[float]] = {}
    keys = [a for a in results.axes if a not in exclude]
    for r in results.completed():
        if matches(r, sel) and is_finite(r.get(metric)):
            cells.setdefault(tuple(str(r.get(a)) for a in keys), []).append(float(r[metric]))
    return {k: float(np.mean(v)) for k, v in cells.items()}


def contrast(results: Results, metric: str, terms: Sequence[tuple[float, Selector]], log: bool = False) -> Estimate:
    """Bootstrap estimate of sum(coef * metric[selector]) over pairing keys present in every term."""
    exclude = {c for _, sel in terms for c in sel}
    cells = [cell_means(results, metric, sel, exclude) for _, sel in terms]
    keys = sorted(set.intersection(*(set(c) for c in cells))) if cells else []
    if log:
        keys = [k for k in keys if all(c[k] > 0 for c in cells)]
    f = np.log if log else (lambda v: v)
    return bootstrap_mean([sum(coef * f(c[k]) for (coef, _), c in zip(terms, cells)) for k in keys])


def paired_difference(results: Results, metric: str, a: Selector, b: Selector, log: bool = False) -> Estimate:
    """metric[a] - metric[b] (log ratio when `log`), paired by every other axis."""
    return contrast(results, metric, [(1.0, a), (-1.0, b)], log=log)


def interaction(results: Results, metric: str, a: Selector, b: Selector, axis: str, hi: Any, lo: Any) -> Estimate:
    """(metric[a] - metric[b]) at axis=hi minus the same at axis=lo, paired by every other axis."""
    return contrast(results, metric, [(1.0, {**a, axis: hi}), (-1.0, {**b, axis: hi}),
                                      (-1.0, {**a, axis: lo}), (1.0, {**b, axis: lo})])


def verdict(est: Estimate, direction: str, null: float = 0.0) -> str:
    """'supported' / 'contradicted' / 'inconclusive' from the CI and n; direction: less | greater | two-sided."""
    lo, hi = est.ci_low, est.ci_high
    if est.n < MIN_PAIRS or not (math.isfinite(lo) and math.isfinite(hi)):
        return "inconclusive"
    below, above = hi < null, lo > null
    if direction == "two-sided":
        return "supported" if below or above else "inconclusive"
    claimed, other = (below, above) if direction == "less" else (above, below)
    return "supported" if claimed else "contradicted" if other else "inconclusive"

