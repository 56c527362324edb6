"""Study statistics: per-arm means with bootstrap CIs, seed-paired differences, a verdict per claim.

Rules (the report prints them under the claims table):
- Only runs with status "completed" and a finite metric value enter a statistic.
- An arm is a value of `model.d_act`. Claims 1-3 and 6 compare "relu" with one LeakyReLU arm: slope 0.2
  when the study has it, else the slope closest to 0.2.
- Runs are paired by every axis of the study except the ones being compared (train.seed, data.name, ...);
  replicate runs in one cell are averaged first.
- 95% CI: expanded percentile bootstrap of the mean (scipy.stats.bootstrap, 9999 resamples, fixed seed).
  The plain percentile interval is too narrow for a few seeds (at n = 5 it excludes 0 for pure noise ~15% of
  the time), so its level is raised until it is as wide as the t interval (Hesterberg 2015, "What teachers
  should know about the bootstrap", section 6): 99.8% at n = 5, 98.3% at n = 10, -> 95% for large n. BCa is
  not used: it is undefined for 2-3 values. One value: no CI. All values equal: a zero-width CI there.
- Verdict: "supported" when the CI excludes the null value in the claimed direction, "contradicted" when
  it excludes it the other way, "inconclusive" otherwise, "not tested" when the study lacks the axis values
  or the metric column. Claims 4 and 7 use the special rules written in their `detail`.
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

ACT, SEED, NDF, DEPTH, NORM, LR_D = (
    "model.d_act", "train.seed", "model.ndf", "model.d_extra_layers", "model.d_norm", "train.lr_d")
RELU = "relu"
DEFAULT_SLOPE = 0.2
CONFIDENCE = 0.95
N_RESAMPLES = 9999
BOOT_SEED = 0
ALPHA = 0.05  # Friedman test level for claim 7
MIN_PAIRS = 5  # fewer pairs: no verdict (see the module docstring)
EQUIV_MARGIN_REL = 0.10  # claim 4: leaky@ndf/2 may be at most 10% of relu@ndf's mean FCD worse
CONFIG_KEY = re.compile(r"^(data|model|train|eval|track)\.\w+$")  # results.csv columns that are config keys
FCD, FID = "final/quality/fcd", "final/quality/fid"  # fid with eval.features=inception

CLAIMS = {
    1: "LeakyReLU in D gives G denser gradients",
    2: "LeakyReLU in D gives better samples",
    3: "ReLU units in D die; LeakyReLU units do not",
    4: "With LeakyReLU, fewer units suffice (LeakyReLU at ndf/2 matches ReLU at ndf)",
    5: "The benefit of LeakyReLU grows with D's depth",
    6: "LeakyReLU costs more compute",
    7: "The LeakyReLU slope matters",
    8: "The gap depends on D's normalization (and learning rate)",
}

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
        return [r for r in self.rows if str(r.get("status") or "completed") == "completed"]

    def failed(self) -> list[Row]:
        return [r for r in self.rows if str(r.get("status") or "completed") != "completed"]

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


@dataclass(frozen=True)
class ClaimResult:
    number: int
    text: str
    metric: str
    effect: float
    ci_low: float
    ci_high: float
    n_pairs: int
    verdict: str  # supported | contradicted | inconclusive | not tested
    detail: str


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


##### arms


def leaky_slope(act: Any) -> float | None:
    """'leaky_relu:0.1' -> 0.1, 'leaky_relu' -> 0.2, anything else -> None."""
    m = re.fullmatch(r"leaky_relu(?::(.+))?", str(act).strip())
    if not m:
        return None
    try:
        return float(m.group(1)) if m.group(1) else DEFAULT_SLOPE
    except ValueError:
        return None


def pick_leaky(acts: Sequence[Any]) -> str | None:
    """The LeakyReLU arm claims 1-3 use: slope 0.2, else the slope closest to 0.2."""
    leaky = [a for a in acts if leaky_slope(a) is not None]
    return min(leaky, key=lambda a: (abs(leaky_slope(a) - DEFAULT_SLOPE), leaky_slope(a)), default=None)


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


def _matches(row: Row, sel: Selector) -> bool:
    return all(row.get(c) == v or str(row.get(c)) == str(v) for c, v in sel.items())


def _cells(results: Results, metric: str, sel: Selector, exclude: set[str]) -> dict[tuple, float]:
    """Mean of `metric` per pairing key (values of the axes not in `exclude`) over runs matching `sel`."""
    cells: dict[tuple, list[float]] = {}
    keys = [a for a in results.axes if a not in exclude]
    for r in results.completed():
        if _matches(r, sel) and is_finite(r.get(metric)):
            cells.setdefault(tuple(str(r.get(a)) for a in keys), []).append(float(r[metric]))
    return {k: float(np.mean(v)) for k, v in cells.items()}


def contrast(results: Results, metric: str, terms: Sequence[tuple[float, Selector]], log: bool = False) -> Estimate:
    """Bootstrap estimate of sum(coef * metric[selector]) over pairing keys present in every term."""
    exclude = {c for _, sel in terms for c in sel}
    cells = [_cells(results, metric, sel, exclude) for _, sel in terms]
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



##### claims

# (claim, metric, claimed sign of leaky - relu)
PAIRED_CLAIMS = (
    (1, "mean/probe/input_grad/hoyer", "less"),
    (1, "mean/probe/input_grad/zero_frac", "less"),
    (2, FCD, "less"),
    (2, "final/quality/modes_covered", "greater"),
    (3, "mean/probe/D/dead_frac", "less"),
    (3, "mean/probe/D/param_grad_zero_frac", "less"),
    (3, "mean/probe/D/grad_zero_frac", "less"),
)
# claim 6: a run's median step time (report.load_study adds it from metrics.jsonl), else its last logged one
STEP_MS_KEYS = ("median/perf/step_ms", "final/perf/step_ms")


def _result(number: int, metric: str, est: Estimate, verdict_: str, detail: str) -> ClaimResult:
    return ClaimResult(number, CLAIMS[number], metric, est.mean, est.ci_low, est.ci_high, est.n, verdict_, detail)


def _not_tested(number: int, metric: str, why: str) -> ClaimResult:
    return _result(number, metric, Estimate(math.nan, math.nan, math.nan, 0), "not tested", why)


def _detail(results: Results, what: str, est: Estimate, exclude: set[str]) -> str:
    keys = [a for a in results.axes if a not in exclude]
    parts = [what, "paired by " + ", ".join(keys) if keys else "nothing to pair by"]
    if est.n == 0:
        parts.append("no complete pairs (failed runs or missing values)")
    elif est.n == 1:
        parts.append("1 pair: no CI")
    elif est.n < MIN_PAIRS:
        parts.append(f"only {est.n} pairs: a verdict needs at least {MIN_PAIRS}")
    return "; ".join(parts)


def _numeric_levels(results: Results, column: str) -> list[float]:
    return sorted({v for v in results.levels(column) if is_finite(v)})


def evaluate_claims(results: Results) -> list[ClaimResult]:
    """One ClaimResult per (claim, metric) of DESIGN.md's eight claims; effects are leaky minus relu."""
    acts = results.levels(ACT)
    leaky = pick_leaky(acts)
    relu, lk = {ACT: RELU}, {ACT: leaky}
    missing = None if RELU in acts and leaky else (
        f"needs {ACT} values relu and leaky_relu[:slope] (study has: {', '.join(map(str, acts)) or 'none'})")
    q = FID if results.has_metric(FID) and not results.has_metric(FCD) else FCD
    no_fcd = None if results.has_metric(q) else f"no values in column {q}"
    out = []
    for number, metric, direction in PAIRED_CLAIMS:
        metric = q if metric == FCD else metric
        why = missing or (None if results.has_metric(metric) else f"no values in column {metric}")
        if why:
            out.append(_not_tested(number, metric, why))
            continue
        est = paired_difference(results, metric, lk, relu)
        what = f"{leaky} − relu, claimed {'<' if direction == 'less' else '>'} 0"
        out.append(_result(number, metric, est, verdict(est, direction), _detail(results, what, est, {ACT})))
    out.append(_claim4(results, q, leaky, missing or no_fcd))
    out.append(_claim5(results, q, leaky, missing or no_fcd))
    out.append(_claim6(results, leaky, missing))
    out.append(_claim7(results, q, acts, no_fcd))
    out.extend(_claim8(results, q, leaky, missing or no_fcd))
    return out


def _claim4(results: Results, q: str, leaky: str | None, why: str | None) -> ClaimResult:
    widths = [int(v) for v in _numeric_levels(results, NDF)]
    full = [n for n in widths if n % 2 == 0 and n // 2 in widths]
    if not full or why:
        return _not_tested(4, q, why if full else f"needs a {NDF} axis holding some ndf and ndf/2 (study has: "
                                                  f"{', '.join(map(str, widths)) or 'no such axis'})")
    n = max(full)
    est = paired_difference(results, q, {ACT: leaky, NDF: n // 2}, {ACT: RELU, NDF: n})
    ref = bootstrap_mean([r.get(q) for r in results.completed() if _matches(r, {ACT: RELU, NDF: n})]).mean
    margin = EQUIV_MARGIN_REL * abs(ref)
    v = "inconclusive"
    if est.n >= MIN_PAIRS and math.isfinite(est.ci_low) and math.isfinite(est.ci_high) and math.isfinite(margin):
        v = "supported" if est.ci_high <= margin else "contradicted" if est.ci_low > margin else "inconclusive"
    what = (f"{leaky}@ndf={n // 2} − relu@ndf={n}; non-inferiority: supported when the CI's upper end ≤ margin "
            f"= {EQUIV_MARGIN_REL:.0%} of relu@ndf={n}'s mean ({margin:.3g}), contradicted when its lower end > margin")
    return _result(4, q, est, v, _detail(results, what, est, {ACT, NDF}))


def _claim5(results: Results, q: str, leaky: str | None, why: str | None) -> ClaimResult:
    depths = _numeric_levels(results, DEPTH)
    if len(depths) < 2 or why:
        return _not_tested(5, q, why if len(depths) >= 2 else f"needs a {DEPTH} axis with at least 2 values")
    lo, hi = depths[0], depths[-1]
    est = interaction(results, q, {ACT: RELU}, {ACT: leaky}, DEPTH, hi, lo)
    what = f"(relu − {leaky}) gap at d_extra_layers={hi:g} minus the gap at {lo:g}, claimed > 0"
    return _result(5, q, est, verdict(est, "greater"), _detail(results, what, est, {ACT, DEPTH}))


def _claim6(results: Results, leaky: str | None, why: str | None) -> ClaimResult:
    metric = next((k for k in STEP_MS_KEYS if results.has_metric(k)), STEP_MS_KEYS[-1])
    why = why or (None if results.has_metric(metric) else f"no values in column {metric}")
    if why:
        return _not_tested(6, metric, why)
    log_est = paired_difference(results, metric, {ACT: leaky}, {ACT: RELU}, log=True)
    est = Estimate(*(math.exp(x) for x in (log_est.mean, log_est.ci_low, log_est.ci_high)), log_est.n)
    what = (f"geometric-mean step-time ratio {leaky} / relu, claimed > 1 (runs timed at other times or in "
            "parallel jobs share the machine: small ratios are noise)")
    return _result(6, metric, est, verdict(log_est, "greater"), _detail(results, what, est, {ACT}))


def _claim7(results: Results, q: str, acts: list[Any], why: str | None) -> ClaimResult:
    leaky = sorted((a for a in acts if leaky_slope(a) is not None), key=leaky_slope)
    if len(leaky) < 2 or why:
        return _not_tested(7, q, why if len(leaky) >= 2 else f"needs at least 2 leaky_relu:<slope> values of {ACT}")
    cells = {a: _cells(results, q, {ACT: a}, {ACT}) for a in leaky}
    blocks = sorted(set.intersection(*(set(c) for c in cells.values())))
    means = {a: np.mean([c[k] for k in blocks] if blocks else list(c.values()) or [math.nan])
             for a, c in cells.items()}
    ranked = sorted((a for a in leaky if math.isfinite(means[a])), key=means.get)
    if len(ranked) < 2:
        return _not_tested(7, q, f"fewer than 2 slopes have values in {q}")
    best, worst = ranked[0], ranked[-1]
    est = paired_difference(results, q, {ACT: worst}, {ACT: best})
    what = f"effect = the worst slope ({worst}) − the best ({best})"
    if len(leaky) == 2:
        what += "; supported when its CI excludes 0"
        return _result(7, q, est, verdict(est, "two-sided"), _detail(results, what, est, {ACT}))
    v, test = "inconclusive", f"Friedman test, which needs at least {MIN_PAIRS} blocks with every slope"
    if len(blocks) >= MIN_PAIRS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all ties: NaN statistic
            stat, p = sps.friedmanchisquare(*([cells[a][k] for k in blocks] for a in leaky))
        v = "supported" if p < ALPHA else "inconclusive"
        test = (f"Friedman test over {len(leaky)} slopes x {len(blocks)} blocks (seed x other axes): "
                f"chi2={stat:.3g}, p={p:.3g}")
    what += (f" (picked after looking: descriptive); verdict from the {test}; supported when p < {ALPHA}, "
             "never contradicted (a test cannot show that slopes do not matter)")
    return _result(7, q, est, v, _detail(results, what, est, {ACT}))


def _claim8(results: Results, q: str, leaky: str | None, why: str | None) -> list[ClaimResult]:
    out = []
    norms = results.levels(NORM)
    if len(norms) < 2 or why:
        out.append(_not_tested(8, q, why if len(norms) >= 2 else f"needs a {NORM} axis with at least 2 values"))
    else:
        ref = "batch" if "batch" in norms else norms[0]
        for norm in (n for n in norms if n != ref):
            est = interaction(results, q, {ACT: RELU}, {ACT: leaky}, NORM, norm, ref)
            what = f"(relu − {leaky}) gap at d_norm={norm} minus the gap at d_norm={ref}, claimed > 0"
            out.append(_result(8, q, est, verdict(est, "greater"), _detail(results, what, est, {ACT, NORM})))
    lrs = _numeric_levels(results, LR_D)
    if len(lrs) < 2 or why:
        out.append(_not_tested(8, q, why if len(lrs) >= 2 else
                               f"learning rate: needs a {LR_D} axis with at least 2 values"))
    else:
        est = interaction(results, q, {ACT: RELU}, {ACT: leaky}, LR_D, lrs[-1], lrs[0])
        what = (f"(relu − {leaky}) gap at lr_d={lrs[-1]:g} minus the gap at lr_d={lrs[0]:g}, claimed > 0 "
                "(assumed: ReLU units die more at a high learning rate)")
        out.append(_result(8, q, est, verdict(est, "greater"), _detail(results, what, est, {ACT, LR_D})))
    return out
