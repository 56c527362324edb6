"""The rules that test the claims: which runs they compare (the arms, the baseline runs) and one function per rule
(gan/analysis/claims/registry.py's `rule` of each claim names it; RULES runs a study's). Each returns a ClaimResult
before the Holm family decides it (gan/analysis/claims/evaluate.py); the statistics are gan/analysis/stats.py's.

- PAIRED (claims 1-3): LeakyReLU minus ReLU per seed pair on the baseline runs; the claim's `how` words its detail.
- NONINFERIORITY (claim 4): LeakyReLU at ndf/2 against ReLU at ndf, a t-test against the margin, with a ReLU control.
- INTERACTION (5, 8, 9): the LeakyReLU / ReLU ratio at one level of the claim's axis divided by the ratio at another.
- TIMING (6): only the side-by-side timing in step_time.json (benchmarks/bench_act_step.py).
- TREND (7): Page's trend test over the LeakyReLU slopes.
- CONTRAST (10, `gan answer`): Welch's t between two studies' per-seed log ratios (welch_test); claim 12 uses it too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import numpy as np
from scipy import stats as sps
from statsmodels.stats.weightstats import ttost_ind

from gan.analysis.claims.registry import (ARMS, INTERACTION, NONINFERIORITY, PAIRED, TIMING, TREND, Claim, Descriptive,
                                          analysis_margin, claim)
from gan.analysis.claims.result import ClaimResult, not_tested, paired
from gan.analysis.stats import ALPHA, PairedTest, cell_means, interaction, paired_difference, paired_test
from gan.config import activations
from gan.config.activations import parse_activation
from gan.config.schema import D_NORM, DATA_RANGE, NDF
from gan.errors import UserError
from gan.study.results import ACT, Results, is_finite, matches

RELU = "relu"
SLOPE_STEP = 0.1  # claim 7's effect is read per +0.1 of LeakyReLU slope


##### the arms: ReLU and a LeakyReLU slope, parsed from `model.d_act` by the activation registry


def leaky_slope(act: Any) -> float | None:
    """'leaky_relu:0.1' -> 0.1, 'leaky_relu' -> the registry's default slope, anything else -> None."""
    try:
        name, arg = parse_activation(str(act))
    except UserError:
        return None
    # the default is read from the registry at call time: a bare `leaky_relu` arm is the slope the model used
    return (activations.DEFAULT_LEAKY_SLOPE if arg is None else arg) if name == "leaky_relu" else None


def slope(act: Any) -> float | None:
    """Claim 7's x: 0 for relu, the slope for leaky_relu, None otherwise."""
    try:
        return 0.0 if parse_activation(str(act))[0] == RELU else leaky_slope(act)
    except UserError:
        return None


def pick_leaky(acts: Sequence[Any]) -> str | None:
    """The LeakyReLU arm the claims compare with ReLU: slope 0.2, else the slope closest to 0.2."""
    leaky = [a for a in acts if leaky_slope(a) is not None]
    target = activations.DEFAULT_LEAKY_SLOPE  # DCGAN's 0.2
    return min(leaky, key=lambda a: (abs(leaky_slope(a) - target), leaky_slope(a)), default=None)


def baseline_results(results: Results) -> tuple[Results, str]:
    """The runs claims 1-3 compare: in a `grids:` study, those of the first grid (the baseline cell: results.csv's
    `grids` column names the grids holding each run); otherwise every run. Returns (runs, a note for the detail).

    Pooling a d_norm=none or ndf/2 grid into claim 2 would answer "LeakyReLU averaged over conditions", not
    "LeakyReLU at the default"; the conditions have their own claims (4, 5, 7, 8).
    """
    grids = results.study.get("grids") if isinstance(results.study, dict) else None
    if not grids or not any(r.get("grids") for r in results.rows):
        return results, ""
    first = grids[0].get("name") if isinstance(grids[0], dict) else None
    first = str(first) if first is not None else "grid1"  # gan.study.runner.grid_label
    rows = [r for r in results.rows if first in str(r.get("grids") or "").split(";")]
    return replace(results, rows=rows), f"; runs of the first grid ('{first}') only"


@dataclass(frozen=True)
class Arms:
    """What every rule of one study compares: its runs, the baseline runs, the two arms and the margins."""

    results: Results  # every run
    base: Results  # the baseline runs (baseline_results)
    where: str  # the note saying so, for the details
    acts: list[Any]  # the study's model.d_act levels
    leaky: str | None
    missing: str | None  # why the study lacks a relu and a leaky_relu arm (None: it has both)
    step_time: dict | None  # the study's step_time.json (claim 6's only data)
    margins: dict[int, float]  # the study's margins, in the claims' units

    def margin(self, c: Claim) -> float:
        return analysis_margin(c.number, self.margins[c.number])

    def ref_mean(self, metric: str) -> float:
        vals = [r[metric] for r in self.base.completed() if matches(r, {ACT: RELU}) and is_finite(r.get(metric))]
        return float(np.mean(vals)) if vals else math.nan


def arms_of(results: Results, step_time: dict | None, margins: dict[int, float]) -> Arms:
    acts = results.levels(ACT)
    leaky = pick_leaky(acts)
    missing = None if RELU in acts and leaky else (
        f"needs {ACT} values relu and leaky_relu[:slope] (study has: {', '.join(map(str, acts)) or 'none'})")
    base, where = baseline_results(results)
    return Arms(results, base, where, acts, leaky, missing, step_time, margins)


##### the rules of a study's claims: (arms, claim, the column it reads) -> ClaimResult, undecided


def paired_rule(s: Arms, c: Claim, metric: str) -> ClaimResult:
    why = s.missing or (None if s.base.has_metric(metric) else f"no values in column {metric}")
    if why:
        return not_tested(c.number, metric, why)
    lk, relu = {ACT: s.leaky}, {ACT: RELU}
    out = paired(c.number, s.base, metric, paired_difference(s.base, metric, lk, relu), s.margin(c),
                 c.how.format(leaky=s.leaky) + s.where, {ACT}, c.direction, log=c.log, baseline=s.ref_mean(metric))
    if c.beside and metric == c.metric and s.base.has_metric(c.beside[0]):  # a second view, no verdict
        ev = paired_test(paired_difference(s.base, c.beside[0], lk, relu), s.margin(c))
        out = replace(out, detail=out.detail + f"; beside it, {c.beside[1]}: {ev.mean:.3g} [{ev.ci_low:.3g}, "
                                               f"{ev.ci_high:.3g}] over {ev.n} pairs")
    return out


def noninferiority_rule(s: Arms, c: Claim, q: str) -> ClaimResult:
    results = s.results
    widths = [int(v) for v in sorted({v for v in results.levels(NDF) if is_finite(v)})]
    full = [n for n in widths if n % 2 == 0 and n // 2 in widths]
    why = s.missing or (None if full else f"needs a {NDF} axis holding some ndf and ndf/2 (study has: "
                                          f"{', '.join(map(str, widths)) or 'no such axis'})")
    why = why or (None if results.has_metric(q) else f"no values in column {q}")
    if why:
        return not_tested(c.number, q, why)
    n, margin = max(full), s.margin(c)
    d = paired_difference(results, q, {ACT: s.leaky, NDF: n // 2}, {ACT: RELU, NDF: n})
    what = (f"{s.leaky}@ndf={n // 2} / relu@ndf={n} FCD ratio; non-inferiority: supported when the ratio is "
            f"significantly below 1 + margin, contradicted when significantly above it (t-test against the margin)")
    out = paired(c.number, results, q, d, margin, what, {ACT, NDF}, c.direction, log=c.log)
    ctrl = paired_test(paired_difference(results, q, {ACT: RELU, NDF: n // 2}, {ACT: RELU, NDF: n}), margin)
    if ctrl.n < 2:
        return replace(out, p=margin_p(out.test), detail=out.detail + "; control relu@ndf/2 vs relu@ndf: not tested "
                       "(no pairs): whether halving hurts ReLU is unknown")
    p_ctrl = margin_p(ctrl)
    control = "non-inferior" if p_ctrl < ALPHA and ctrl.mean < margin else "not shown non-inferior"
    return replace(out, p=margin_p(out.test), control=control, detail=out.detail + (
        f"; control relu@ndf={n // 2} / relu@ndf={n}: {math.exp(ctrl.mean):.3g}x "
        f"[{math.exp(ctrl.ci_low):.3g}, {math.exp(ctrl.ci_high):.3g}] over {ctrl.n} pairs, {control} (p={p_ctrl:.3g})"))


def margin_p(test: PairedTest) -> float:
    """Two-sided t-test p of mean = +margin (claim 4: is the ratio on one side of 1 + margin)."""
    if test.n < 2:
        return math.nan
    if test.sd == 0:
        return 0.0 if test.mean != test.margin else 1.0
    t = (test.mean - test.margin) / (test.sd / math.sqrt(test.n))
    return float(2 * sps.t.sf(abs(t), test.n - 1))


def noninferiority_verdict(test: PairedTest, p_adj: float, control: str | None, alpha: float = ALPHA) -> str:
    """Claim 4: non-inferior / inferior by the (Holm) p of mean = margin; non-inferior while ReLU's own
    half-width control is non-inferior too: uninformative (halving hurts neither activation)."""
    if not (math.isfinite(p_adj) and p_adj < alpha):
        return "inconclusive"
    if test.mean > test.margin:
        return "contradicted"
    return "uninformative: ReLU at ndf/2 is non-inferior too" if control == "non-inferior" else "supported"


def hi_lo(results: Results, axis: str) -> tuple[Any, Any]:
    """The two levels an interaction compares: (not batch, batch) for d_norm, ([-1, 1], [0, 1]) for data.range,
    (largest, smallest) for numbers."""
    levels = results.levels(axis)
    if axis == D_NORM:
        return next((v for v in levels if v != "batch"), None), "batch" if "batch" in levels else None
    if axis == DATA_RANGE:  # with negative values ([-1, 1], DCGAN's default) against without ([0, 1])
        ranges = {_range(v): v for v in levels}
        return ranges.get((-1.0, 1.0)), ranges.get((0.0, 1.0))
    num = sorted(v for v in levels if is_finite(v))
    return (num[-1], num[0]) if len(num) >= 2 else (None, None)


def _range(value: Any) -> tuple[float, ...] | None:
    """A data.range value as results.csv holds it ("[-1.0, 1.0]", or a list) -> (-1.0, 1.0)."""
    try:
        items = value if isinstance(value, (list, tuple)) else str(value).strip("[]() ").split(",")
        return tuple(float(v) for v in items)
    except (TypeError, ValueError):
        return None


def interaction_rule(s: Arms, c: Claim, q: str) -> ClaimResult:
    axis, results = c.axis, s.results
    hi, lo = hi_lo(results, axis)
    need = {D_NORM: "batch and another value", DATA_RANGE: "[-1, 1] and [0, 1]"}.get(axis, "at least 2 values")
    why = s.missing or (None if hi is not None and lo is not None and hi != lo else f"needs a {axis} axis with {need}")
    why = why or (None if results.has_metric(q) else f"no values in column {q}")
    if why:
        return not_tested(c.number, q, why)
    d = interaction(results, q, {ACT: s.leaky}, {ACT: RELU}, axis, hi, lo)
    what = (f"({s.leaky} / relu FCD ratio) at {axis.split('.')[-1]}={hi} divided by the ratio at {lo}, "
            "claimed < 1 (LeakyReLU's advantage larger there)")
    return paired(c.number, results, q, d, s.margin(c), what, {ACT, axis}, c.direction, log=c.log)


def timing_rule(s: Arms, c: Claim, metric: str) -> ClaimResult:
    step_time = s.step_time
    if not step_time:
        return not_tested(c.number, metric, "no step_time.json in the study dir: run `python benchmarks/"
                          "bench_act_step.py STUDY.yaml` (times ReLU and LeakyReLU D steps side by side)")
    relu_ms, leaky_ms = np.asarray(step_time["relu_ms"], float), np.asarray(step_time["leaky_ms"], float)
    d = np.log(leaky_ms) - np.log(relu_ms)  # (rounds,): one log ratio of medians per alternating round
    what = (f"{step_time.get('leaky', 'leaky_relu')} / relu {step_time.get('phase', 'D step')} time ratio, "
            f"claimed > 1: medians of {step_time.get('steps', '?')} steps per arm per round, arms alternating in one process "
            f"({step_time.get('machine', 'machine not recorded')}); n = rounds")
    test = paired_test(d, s.margin(c))
    return ClaimResult(c.number, c.text, metric, "", what, test, True, c.log, p=test.p, direction=c.direction)


def page_p(x: np.ndarray) -> tuple[float, bool]:
    """(two-sided p of Page's trend test, whether the values fall with the column order); x: (blocks, levels)."""
    p_up = sps.page_trend_test(x).pvalue  # values rising from the first column to the last
    p_down = sps.page_trend_test(x[:, ::-1]).pvalue
    return min(1.0, 2 * min(p_up, p_down)), p_down < p_up


def slope_per_step(x: np.ndarray, slopes: np.ndarray, step: float = SLOPE_STEP) -> np.ndarray:
    """Per-block least-squares slope of log FCD on the LeakyReLU slope, per +`step` of slope.

    x: (blocks, levels) log FCD, slopes: (levels,) with ReLU = 0 -> (blocks,): exp() of it is the FCD ratio per
    +step of slope (e.g. 1.05: FCD 5% higher for every +0.1)."""
    s = slopes - slopes.mean()
    return step * (x - x.mean(axis=1, keepdims=True)) @ s / float(s @ s)


def trend_rule(s: Arms, c: Claim, q: str) -> ClaimResult:
    results, acts = s.results, s.acts
    arms = sorted((a for a in acts if slope(a) is not None), key=slope)
    if len({slope(a) for a in arms}) < 3 or not results.has_metric(q):
        why = f"no values in column {q}" if len(arms) >= 3 else \
            f"needs at least 3 of relu, leaky_relu:<slope> in {ACT} (study has: {', '.join(map(str, acts))})"
        return not_tested(c.number, q, why)
    cells = {a: cell_means(results, q, {ACT: a}, {ACT}) for a in arms}
    blocks = sorted(set.intersection(*(set(cell) for cell in cells.values())))
    if len(blocks) < 2:
        return not_tested(c.number, q, f"fewer than 2 blocks (seed x other axes) have every slope in {q}")
    x = np.array([[cells[a][k] for a in arms] for k in blocks])  # (blocks, slopes), log FCD, slope ascending
    p, falls = page_p(x)
    d = slope_per_step(x, np.array([slope(a) for a in arms], dtype=float))  # (blocks,)
    means = ", ".join(f"{slope(a):g}: {math.exp(m):.3g}" for a, m in zip(arms, x.mean(axis=0)))
    what = (f"Page's trend test over slopes {', '.join(f'{slope(a):g}' for a in arms)} ({len(blocks)} blocks that "
            f"have every slope): FCD {'falls' if falls else 'rises'} with the slope, two-sided p={p:.3g}; effect = "
            f"the per-seed least-squares slope of log FCD on the slope (ReLU = 0), as the FCD ratio per "
            f"+{SLOPE_STEP:g} of slope, t-interval over seeds; geometric-mean FCD on those seeds: {means}")
    out = paired(c.number, results, q, d, s.margin(c), what, {ACT}, c.direction, log=c.log)
    return replace(out, p=p)


RULES: dict[str, Callable[[Arms, Claim, str], ClaimResult]] = {
    PAIRED: paired_rule, NONINFERIORITY: noninferiority_rule, INTERACTION: interaction_rule, TIMING: timing_rule,
    TREND: trend_rule}


def descriptive_row(s: Arms, c: Claim, row: Descriptive) -> ClaimResult | None:
    """One descriptive row of claim c: effect and 95% CI, no p-value (None when the study cannot pair it). ARMS and
    EARLY rows compare the arms on the baseline runs, CONDITION rows the interaction with the row's axis on every
    run; an ARMS row carries the ReLU arm's mean as its baseline."""
    lk, relu, sign = {ACT: s.leaky}, {ACT: RELU}, "/" if row.log else "−"
    if row.axis is None:
        if s.missing or not s.base.has_metric(row.metric):
            return None
        d = paired_difference(s.base, row.metric, lk, relu, log=row.log_values)
        what = row.how.format(leaky=s.leaky) if row.how else f"{s.leaky} {sign} relu{row.note}"
        out = paired(c.number, s.base, row.metric, d, s.margin(c), what, {ACT}, primary=False, log=row.log,
                     baseline=s.ref_mean(row.metric) if row.kind == ARMS else math.nan)
    else:
        hi, lo = hi_lo(s.results, row.axis)
        if s.missing or hi is None or lo is None or not s.results.has_metric(row.metric):
            return None
        d = interaction(s.results, row.metric, lk, relu, row.axis, hi, lo, log=row.log_values)
        what = f"({s.leaky} {sign} relu) at {row.axis.split('.')[-1]}={hi} {sign} at {lo}"
        out = paired(c.number, s.results, row.metric, d, s.margin(c), what, {ACT, row.axis}, primary=False,
                     log=row.log)
    return replace(out, verdict="descriptive")


##### claim 10 (and 12): two studies' per-seed log ratios, compared by Welch's t


def welch_test(a: np.ndarray, b: np.ndarray, margin: float) -> PairedTest:
    """mean(a) - mean(b) with Welch's 95% interval, two-sided p and TOST p at +-margin; n = len(a) + len(b).
    (A PairedTest by shape: sd is the standard error of the difference times sqrt(n), for power only.)

    The two studies' seeds are independent samples (different data, different runs): Welch's t-test (two-sided,
    unequal variances; scipy), its interval read back as a ratio of ratios; equivalence by Welch TOST (statsmodels
    ttost_ind, usevar="unequal") against the margin on the log scale."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return PairedTest(math.nan, math.nan, math.nan, len(a) + len(b), math.nan, math.nan, math.nan, margin)
    res = sps.ttest_ind(a, b, equal_var=False)
    ci = res.confidence_interval(0.95)
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    if se == 0:  # both samples constant: no test (as gan.analysis.stats.paired_test does for equal differences)
        diff = float(a.mean() - b.mean())
        return PairedTest(diff, diff, diff, len(a) + len(b), 0.0, math.nan, math.nan, margin)
    p_equiv = float(ttost_ind(a, b, -margin, margin, usevar="unequal")[0])
    return PairedTest(float(a.mean() - b.mean()), float(ci.low), float(ci.high), len(a) + len(b),
                      se * math.sqrt(len(a) + len(b)), float(res.pvalue), p_equiv, margin)


def dataset_contrast(label_a: str, d_a: np.ndarray, label_b: str, d_b: np.ndarray, metric: str,
                     margin: float, number: int = 10) -> ClaimResult:
    """Claim 10's row of `gan answer`: A's per-seed log ratios against B's (verdict left to the Holm family)."""
    c = claim(number)
    test = welch_test(d_a, d_b, margin)
    detail = (f"({label_a} leaky / relu FCD ratio) / ({label_b} ratio): Welch's t on the per-seed log ratios "
              f"({len(d_a)} and {len(d_b)} seeds), two-sided; TOST at ±{100 * math.expm1(margin):.3g}%")
    constant = f"every pair: {test.mean:+.3g}" if test.sd == 0 else ""
    return ClaimResult(c.number, c.text, metric, "", detail, test, primary=True, log=c.log, p=test.p,
                       direction=c.direction, constant=constant)
