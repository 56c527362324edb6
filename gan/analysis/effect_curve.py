"""The LeakyReLU / ReLU effect at every evaluation step: does the verdict depend on how long one trains?

A claim's primary quality metric is the tail average at the end of the runs (gan/study/derived.py). Beside it, the
same paired comparison is made at each evaluation step, from the runs' metrics.jsonl rows:

    d_i(s) = log FCD_leaky,i(s) - log FCD_relu,i(s)      one value per pair i (same seed and other axes)

and its mean with the 95% t-interval (gan.analysis.stats.paired_test), read back as a ratio exp(.). One curve per cell of
the axes other than the activation and the seed (e.g. one per `model.d_norm` value), so sub-grids do not mix.
Steps where fewer than two pairs have a value are left out.

A curve is read as one statement ("LeakyReLU is worse from step 1000 on"), so besides each step's pointwise
95% interval it carries a simultaneous 95% band: Bonferroni over the curve's K steps (each step's t-interval at
level 1 - 0.05 / K), which covers the whole curve at once with probability >= 95%. `describe` reads the
simultaneous band; the pointwise intervals are drawn as a lighter layer.

Where the curve goes next: the late trend (docs/claims.md, "The late trend", stated before the 20000-step runs).
Per pair, the least-squares slope of d_i(s) on s / 1000 over the evaluations in the last 40% of the run's steps
(s >= 0.6 T), in log ratio per 1000 steps; their mean over pairs with its 95% t-interval, a one-sample t p, and
TOST against +-log(1.01) per 1000 steps (the 90% interval inside). Read "still moving" when the 95% interval
excludes 0, else "level" when TOST says so, else "undecided". On FCD and, descriptive, on KID; a reading of one
study, never a claim in a Holm family.

One currency across datasets: steps to quality. A ratio of FCDs lives in one feature network's scale; the steps an
arm needs do not. Per pair, a power law log v = a + b log(step) is fitted (least squares) to each arm's evaluations
from step FIT_FROM (1000) to the run's end T; t* = exp((fit_L(T) - a_R) / b_R) is the step at which ReLU's curve
reaches the quality LeakyReLU's curve has at T, and log(t* / T) the pair's shift (> 0: ReLU needs longer, LeakyReLU
is ahead). Mean over pairs with its 95% t-interval, read back as a multiple of T. Descriptive.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
from scipy import stats as sps

from gan.measure import metric_keys as mk
from gan.config.schema import STEPS
from gan.study.results import ACT, SEED, Results, is_finite, label, make_results
from gan.analysis.stats import CONFIDENCE, ALPHA, PairedTest, paired_difference, paired_test, t_interval, tost_p


@dataclass(frozen=True)
class EffectCurve:
    """One cell's paired effect per evaluation step (tests[i] belongs to steps[i]); ratio = exp(test.mean)."""

    cell: str  # e.g. "model.d_norm=none"; "" when the study has no other axis
    steps: tuple[int, ...]
    tests: tuple[PairedTest, ...]
    bands: tuple[tuple[float, float], ...] = ()  # simultaneous 95% band per step, log scale (Bonferroni over steps)

    def ratio(self) -> list[tuple[float, float, float]]:
        """(ratio, CI low, CI high) per step: the pointwise 95% t-interval."""
        return [(math.exp(t.mean), math.exp(t.ci_low), math.exp(t.ci_high)) if t.n >= 2 else (math.nan,) * 3
                for t in self.tests]

    def band(self) -> list[tuple[float, float]]:
        """(low, high) per step of the simultaneous 95% band, as ratios."""
        return [(math.exp(lo), math.exp(hi)) if is_finite(lo) else (math.nan, math.nan) for lo, hi in self.bands]

    def simultaneous(self) -> list[PairedTest]:
        """Each step's test with its interval widened to the simultaneous band (what `describe` reads)."""
        return [replace(t, ci_low=lo, ci_high=hi) for t, (lo, hi) in zip(self.tests, self.bands)]


def simultaneous_level(k: int, level: float = CONFIDENCE) -> float:
    """Bonferroni: each of k intervals at 1 - (1 - level) / k, so all k hold together with probability >= level."""
    return 1 - (1 - level) / max(k, 1)


def value_at(rows: Sequence[dict], key: str, step: int) -> float | None:
    """`key` at exactly `step` in metrics.jsonl rows (the last such row wins: a resumed run re-logs)."""
    vals = [r[key] for r in rows if r.get("step") == step and is_finite(r.get(key))]
    return float(vals[-1]) if vals else None


def eval_steps(metrics: dict[str, list[dict]], key: str) -> list[int]:
    """Every step at which some run logged `key`, ascending."""
    return sorted({int(r["step"]) for rows in metrics.values() for r in rows
                   if is_finite(r.get("step")) and is_finite(r.get(key))})


def effect_curves(results: Results, metrics: dict[str, list[dict]], leaky: str, key: str = mk.FCD,
                  margin: float = math.log1p(0.10), relu: str = "relu") -> list[EffectCurve]:
    """Paired log-ratio tests of `key` (leaky vs relu) at each evaluation step, one curve per cell.

    results: the study's results (rows need `run` and the axes); metrics: run name -> metrics.jsonl rows;
    margin: on the log scale (log(1 + fraction)), carried into each PairedTest for TOST.
    """
    cells_by = [a for a in results.axes if a not in (ACT, SEED)]
    rows = [r for r in results.completed() if str(r.get(ACT)) in (leaky, relu)]
    by_cell: dict[str, list[dict]] = {}
    for r in rows:
        by_cell.setdefault(label(r, cells_by) if cells_by else "", []).append(r)
    curves = []
    for cell, cell_rows in by_cell.items():
        runs = {str(r["run"]): metrics.get(str(r["run"]), []) for r in cell_rows}
        steps, tests, ds = [], [], []
        for step in eval_steps(runs, key):
            at = [{**r, key: value_at(runs[str(r["run"])], key, step)} for r in cell_rows]
            res = make_results(at, {"axes": {a: None for a in results.axes}})
            d = paired_difference(res, key, {ACT: leaky}, {ACT: relu}, log=True)
            if len(d) >= 2:
                steps.append(step)
                tests.append(paired_test(d, margin))
                ds.append(d)
        if steps:
            level = simultaneous_level(len(steps))
            curves.append(EffectCurve(cell, tuple(steps), tuple(tests), tuple(t_interval(d, level) for d in ds)))
    return curves


def describe(curves: Sequence[EffectCurve], margin: float) -> list[str]:
    """Plain sentences on whether the effect depends on training length (for the report's notes).

    Each evaluation step gets a reading of its simultaneous 95% band (_reading): the curve is read as one
    statement, so the band covers every step at once. Consecutive steps with the same reading are grouped. The
    answer depends on training length when some step reads LeakyReLU better and another worse.
    """
    out = []
    for c in curves:
        tests = c.simultaneous()
        readings = [_reading(t, margin) for t in tests]
        name = f" ({c.cell})" if c.cell else ""
        spans: list[tuple[int, int, str]] = []  # (first step, last step, reading)
        for step, r in zip(c.steps, readings):
            if spans and spans[-1][2] == r:
                spans[-1] = (spans[-1][0], step, r)
            else:
                spans.append((step, step, r))
        text = "; ".join(f"step {a}: {r}" if a == b else f"steps {a}-{b}: {r}" for a, b, r in spans)
        sides = {_side(t) for t in tests} - {None}  # {"better", "worse"}: steps whose band excludes a ratio of 1
        if len(sides) > 1:
            verdict = "the direction of the effect changes with training length"
        elif sides:
            verdict = "wherever the CI excludes a ratio of 1, it points the same way (it points one way at every such step)"
        else:
            verdict = "no step shows an effect: every CI includes a ratio of 1"
        out.append(f"effect over training{name} (simultaneous 95% bands, Bonferroni over {len(c.steps)} steps): "
                   f"{text}. So {verdict}.")
    return out


def _reading(t: PairedTest, margin: float) -> str:
    """One step's 95% CI (log scale) against 0 and +-margin."""
    if not is_finite(t.ci_low):
        return "unclear"
    if t.ci_high < -margin:
        return "LeakyReLU better by more than the margin"
    if t.ci_low > margin:
        return "LeakyReLU worse by more than the margin"
    if -margin < t.ci_low and t.ci_high < margin:  # small, but it can still exclude 1: say on which side
        side = _side(t)
        return f"LeakyReLU {side}, within the margin" if side else "within the margin"
    if t.ci_high < 0:
        return "LeakyReLU better (size unclear)"
    if t.ci_low > 0:
        return "LeakyReLU worse (size unclear)"
    return "unclear"


def _side(t: PairedTest) -> str | None:
    """'better' / 'worse' when the step's 95% CI (log ratio) excludes 0, else None."""
    if not is_finite(t.ci_low):
        return None
    return "better" if t.ci_high < 0 else "worse" if t.ci_low > 0 else None


##### the late trend: is the ratio still moving at the end of the runs?

LATE_FRACTION = (3, 5)  # the window starts at 3/5 of the run's steps: its last 40% (exact in integers: 12000 of 20000)
LEVEL_MARGIN = math.log1p(0.01)  # "level": the ratio moves less than 1% per 1000 steps (TOST)
MIN_LATE_EVALS = 3  # a pair's slope needs at least 3 evaluations in the window (2 points fit any line exactly)
STILL_MOVING, LEVEL, UNDECIDED, TOO_FEW = "still moving", "level", "undecided", "too few pairs"


@dataclass(frozen=True)
class LateTrend:
    """The slope of one cell's paired log ratio over the last 40% of its steps, per 1000 steps (log scale)."""

    cell: str
    metric: str  # the per-evaluation key, e.g. quality/fcd
    total_steps: int  # T, the run's length
    first_step: int  # the first evaluation in the window (>= 0.6 T)
    last_step: int
    evaluations: int  # distinct evaluation steps in the window
    slopes: tuple[float, ...]  # one per pair with >= MIN_LATE_EVALS evaluations there
    mean: float
    ci_low: float  # 95% t-interval of the mean slope
    ci_high: float
    p: float  # one-sample t, H0: slope 0
    p_equiv: float  # TOST at +-LEVEL_MARGIN
    reading: str  # still moving | level | undecided | too few pairs

    @property
    def n(self) -> int:
        return len(self.slopes)

    def as_dict(self) -> dict:
        return {**{f: getattr(self, f) for f in self.__dataclass_fields__}, "slopes": list(self.slopes),
                "n": self.n, "margin": LEVEL_MARGIN}


def arm_series(results: Results, metrics: dict[str, list[dict]], arm: str, key: str = mk.FCD
               ) -> dict[tuple, dict[int, float]]:
    """pair -> step -> `key` of the `arm` runs (a pair: the values of every axis but the activation, as
    paired_difference pairs; replicate runs averaged per step; a resumed run's last row of a step wins)."""
    axes = [a for a in results.axes if a != ACT]
    values: dict[tuple, dict[int, list[float]]] = {}
    for r in results.completed():
        if str(r.get(ACT)) != arm:
            continue
        run = {int(m["step"]): float(m[key]) for m in metrics.get(str(r["run"]), [])
               if is_finite(m.get("step")) and is_finite(m.get(key))}
        pair = values.setdefault(tuple(str(r.get(a)) for a in axes), {})
        for step, v in run.items():
            pair.setdefault(step, []).append(v)
    return {p: {s: sum(v) / len(v) for s, v in steps.items()} for p, steps in values.items()}


def paired_series(results: Results, metrics: dict[str, list[dict]], leaky: str, key: str = mk.FCD,
                  relu: str = "relu") -> dict[str, dict[tuple, dict[int, float]]]:
    """cell -> pair -> step -> log(key_leaky / key_relu) at that evaluation (cells as in effect_curves)."""
    cells_by = [a for a in results.axes if a not in (ACT, SEED)]
    by_cell: dict[str, list[dict]] = {}
    for r in results.completed():
        if str(r.get(ACT)) in (leaky, relu):
            by_cell.setdefault(label(r, cells_by) if cells_by else "", []).append(r)
    out: dict[str, dict[tuple, dict[int, float]]] = {}
    for cell, cell_rows in by_cell.items():
        cell_results = replace(results, rows=cell_rows)
        lk, rl = (arm_series(cell_results, metrics, arm, key) for arm in (leaky, relu))
        out[cell] = {}
        for pair in sorted(lk.keys() & rl.keys()):
            series = {s: math.log(lk[pair][s]) - math.log(rl[pair][s]) for s in sorted(lk[pair].keys() & rl[pair].keys())
                      if lk[pair][s] > 0 and rl[pair][s] > 0}  # KID can dip to 0 or below: no log ratio there
            if series:
                out[cell][pair] = series
    return out


def run_length(rows: Sequence[dict], steps: Sequence[int] = ()) -> int:
    """T: the runs' train.steps (their longest, when they differ), else the step they reached, else the last
    evaluation step given."""
    for col in (STEPS, "step"):
        vals = [int(r[col]) for r in rows if is_finite(r.get(col))]
        if vals:
            return max(vals)
    return max(steps, default=0)


def slope_per_1000(steps: Sequence[int], values: Sequence[float]) -> float:
    """The least-squares slope of values on step / 1000 (numpy.polyfit, degree 1)."""
    return float(np.polyfit(np.asarray(steps, float) / 1000, np.asarray(values, float), 1)[0])


def late_trend(pairs: dict[tuple, dict[int, float]], total_steps: int, metric: str = mk.FCD,
               cell: str = "") -> LateTrend:
    """The late trend of one cell from its per-pair series (paired_series) and the run length T."""
    num, den = LATE_FRACTION
    window = sorted({s for series in pairs.values() for s in series if s * den >= num * total_steps})
    slopes = []
    for pair in sorted(pairs):
        pts = sorted((s, v) for s, v in pairs[pair].items() if s * den >= num * total_steps)
        if len(pts) >= MIN_LATE_EVALS:
            slopes.append(slope_per_1000(*zip(*pts)))
    x = np.asarray(slopes, float)
    first, last = (window[0], window[-1]) if window else (0, 0)
    if x.size < 2:
        return LateTrend(cell, metric, total_steps, first, last, len(window), tuple(slopes),
                         float(x.mean()) if x.size else math.nan, math.nan, math.nan, math.nan, math.nan, TOO_FEW)
    lo, hi = t_interval(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # every slope equal: t is undefined, p NaN
        p = float(sps.ttest_1samp(x, 0.0).pvalue)
    p_equiv = tost_p(x, LEVEL_MARGIN)
    reading = STILL_MOVING if (lo > 0 or hi < 0) else LEVEL if p_equiv < ALPHA else UNDECIDED
    return LateTrend(cell, metric, total_steps, first, last, len(window), tuple(slopes), float(x.mean()), lo, hi,
                     p, p_equiv, reading)


def late_trends(results: Results, metrics: dict[str, list[dict]], leaky: str, key: str = mk.FCD,
                relu: str = "relu") -> list[LateTrend]:
    """One LateTrend per cell (the cells of effect_curves), T from the cell's runs (run_length)."""
    cells_by = [a for a in results.axes if a not in (ACT, SEED)]
    out = []
    for cell, pairs in paired_series(results, metrics, leaky, key, relu).items():
        if not pairs:  # the metric was never logged in this cell (e.g. no KID): nothing to read, not "too few"
            continue
        rows = [r for r in results.completed() if str(r.get(ACT)) in (leaky, relu)
                and (label(r, cells_by) if cells_by else "") == cell]
        steps = [s for series in pairs.values() for s in series]
        out.append(late_trend(pairs, run_length(rows, steps), key, cell))
    return out


def _pct(x: float) -> str:
    return "–" if not is_finite(x) else f"{100 * math.expm1(x):+.2f}%"  # % per 1000 steps: 2 decimals, as quoted


def late_trend_text(fcd: LateTrend, kid: LateTrend | None = None) -> str:
    """One sentence for the report's notes: the FCD late trend, its reading, and KID beside it."""
    name = f" ({fcd.cell})" if fcd.cell else ""
    head = (f"late trend{name}: over the last 40% of the steps ({fcd.first_step}-{fcd.last_step}, {fcd.evaluations} "
            f"evaluations, {fcd.n} pairs)")
    if fcd.reading == TOO_FEW:
        return f"{head}, fewer than 2 pairs have {MIN_LATE_EVALS} evaluations there: no trend."
    why = {STILL_MOVING: f"its 95% CI excludes 0: the ratio is still {'falling' if fcd.mean < 0 else 'rising'}, and "
                         f"the verdict at {fcd.total_steps} steps holds at that length only",
           LEVEL: "its 90% CI lies inside ±1% per 1000 steps",
           UNDECIDED: "neither excludes 0 nor lies inside ±1% per 1000 steps; it rules out trends beyond the CI"}
    kid_part = ""
    if kid is not None and kid.reading != TOO_FEW:
        kid_part = f"; KID {_pct(kid.mean)} [{_pct(kid.ci_low)}, {_pct(kid.ci_high)}] (descriptive)"
    return (f"{head}, the LeakyReLU / ReLU FCD ratio moves {_pct(fcd.mean)} per 1000 steps [{_pct(fcd.ci_low)}, "
            f"{_pct(fcd.ci_high)}], p = {fcd.p:.2g}: {fcd.reading} ({why[fcd.reading]}){kid_part}.")


##### steps to quality: the LeakyReLU / ReLU effect in steps, a currency that no feature network scales

FIT_FROM = 1000  # power laws from step 1000: before it FCD falls 5-7x in a start-up transient no power law follows
MIN_FIT_EVALS = 3


def power_law(steps: Sequence[int], values: Sequence[float]) -> tuple[float, float]:
    """(a, b) of the least-squares fit log value = a + b log step (numpy.polyfit, degree 1)."""
    b, a = np.polyfit(np.log(np.asarray(steps, float)), np.log(np.asarray(values, float)), 1)
    return float(a), float(b)


def steps_shift(leaky: dict[int, float], relu: dict[int, float], total_steps: int,
                fit_from: int = FIT_FROM) -> float | None:
    """log(t* / T) for one pair (see the module docstring), from each arm's step -> value; None when an arm has fewer
    than MIN_FIT_EVALS positive evaluations in [fit_from, T], or ReLU's curve does not fall (b_R >= 0: it never
    reaches any better quality, so t* does not exist)."""
    fits = []
    for series in (leaky, relu):
        pts = sorted((s, v) for s, v in series.items() if fit_from <= s <= total_steps and v > 0)
        if len(pts) < MIN_FIT_EVALS:
            return None
        fits.append(power_law(*zip(*pts)))
    (a_l, b_l), (a_r, b_r) = fits
    if b_r >= 0:
        return None
    log_t = math.log(total_steps)
    return (a_l + b_l * log_t - a_r) / b_r - log_t


def steps_to_quality(results: Results, metrics: dict[str, list[dict]], leaky: str, key: str = mk.FCD,
                     relu: str = "relu") -> dict:
    """Per pair of `results` (pass claim 2's runs) the log shift, and their mean with its 95% t-interval (log scale;
    `ratio` etc. are the multiples of T); `dropped`: pairs without a shift (steps_shift's None)."""
    lk, rl = arm_series(results, metrics, leaky, key), arm_series(results, metrics, relu, key)
    axes = [a for a in results.axes if a != ACT]
    shifts, dropped = [], 0
    for pair in sorted(lk.keys() & rl.keys()):
        rows = [r for r in results.completed() if tuple(str(r.get(a)) for a in axes) == pair
                and str(r.get(ACT)) in (leaky, relu)]
        shift = steps_shift(lk[pair], rl[pair], run_length(rows, [*lk[pair], *rl[pair]]))
        if shift is None:
            dropped += 1
        else:
            shifts.append(shift)
    x = np.asarray(shifts, float)
    lo, hi = t_interval(x)
    mean = float(x.mean()) if x.size else math.nan
    return {"metric": key, "fit_from": FIT_FROM, "pairs": shifts, "n": len(shifts), "dropped": dropped,
            "mean": mean, "ci_low": lo, "ci_high": hi,
            "ratio": _exp(mean), "ratio_low": _exp(lo), "ratio_high": _exp(hi)}


def _exp(x: float) -> float:
    return math.exp(x) if is_finite(x) else math.nan


def _times(x: float) -> str:
    return "–" if not is_finite(x) else f"x{x:.3g}"


def steps_to_quality_text(fcd: dict, kid: dict | None = None) -> str:
    """One sentence for the report's notes."""
    head = f"steps to quality (power laws per arm from step {fcd['fit_from']}, {fcd['n']} pairs"
    head += f", {fcd['dropped']} without a fit" if fcd["dropped"] else ""
    if fcd["n"] < 2:
        return head + "): fewer than 2 pairs, no estimate."
    kid_part = ""
    if kid is not None and kid["n"] >= 2:
        kid_part = f"; in KID {_times(kid['ratio'])} [{_times(kid['ratio_low'])}, {_times(kid['ratio_high'])}]"
    return (f"{head}): ReLU reaches the FCD LeakyReLU has at the end of training after {_times(fcd['ratio'])} "
            f"[{_times(fcd['ratio_low'])}, {_times(fcd['ratio_high'])}] of the steps (> 1: LeakyReLU is ahead){kid_part}.")
