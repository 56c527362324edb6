"""Claims 4-8, the conditions (width, depth, compute, slope, normalization): each one primary test on a study's
results (rules: gan/analysis/claims.py's docstring and docs/claims.md). Claim 4 is a non-inferiority test with a ReLU
control, 5 and 8 interactions (a ratio of ratios), 6 reads only the side-by-side timing, 7 Page's trend test."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
from scipy import stats as sps

from gan.analysis.arms import RELU, slope
from gan.analysis.claim import CLAIMS, ClaimResult, not_tested, paired
from gan.config.schema import D_EXTRA_LAYERS, D_NORM, DATA_RANGE, LR_D as LR_D, NDF
from gan.study.results import ACT, Results, is_finite
from gan.analysis.stats import ALPHA, PairedTest, cell_means, interaction, paired_difference, paired_test

DEPTH, NORM, RANGE = D_EXTRA_LAYERS, D_NORM, DATA_RANGE
STEP_TIME = "step_time.json: log(leaky_ms / relu_ms) per round"
SLOPE_STEP = 0.1  # claim 7's effect is read per +0.1 of LeakyReLU slope


def claim4(results: Results, q: str, leaky: str | None, why: str | None, margin: float) -> ClaimResult:
    widths = [int(v) for v in sorted({v for v in results.levels(NDF) if is_finite(v)})]
    full = [n for n in widths if n % 2 == 0 and n // 2 in widths]
    why = why or (None if full else f"needs a {NDF} axis holding some ndf and ndf/2 (study has: "
                                    f"{', '.join(map(str, widths)) or 'no such axis'})")
    why = why or (None if results.has_metric(q) else f"no values in column {q}")
    if why:
        return not_tested(4, q, why)
    n = max(full)
    d = paired_difference(results, q, {ACT: leaky, NDF: n // 2}, {ACT: RELU, NDF: n})
    what = (f"{leaky}@ndf={n // 2} / relu@ndf={n} FCD ratio; non-inferiority: supported when the ratio is "
            f"significantly below 1 + margin, contradicted when significantly above it (t-test against the margin)")
    c = paired(4, results, q, d, margin, what, {ACT, NDF}, log=True)
    ctrl = paired_test(paired_difference(results, q, {ACT: RELU, NDF: n // 2}, {ACT: RELU, NDF: n}), margin)
    if ctrl.n < 2:
        return replace(c, p=margin_p(c.test), detail=c.detail + "; control relu@ndf/2 vs relu@ndf: not tested "
                       "(no pairs): whether halving hurts ReLU is unknown")
    p_ctrl = margin_p(ctrl)
    control = "non-inferior" if p_ctrl < ALPHA and ctrl.mean < margin else "not shown non-inferior"
    return replace(c, p=margin_p(c.test), control=control, detail=c.detail + (
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


def page_p(x: np.ndarray) -> tuple[float, bool]:
    """(two-sided p of Page's trend test, whether the values fall with the column order); x: (blocks, levels)."""
    p_up = sps.page_trend_test(x).pvalue  # values rising from the first column to the last
    p_down = sps.page_trend_test(x[:, ::-1]).pvalue
    return min(1.0, 2 * min(p_up, p_down)), p_down < p_up


def hi_lo(results: Results, axis: str) -> tuple[Any, Any]:
    """The two levels an interaction compares: (not batch, batch) for d_norm, (largest, smallest) for numbers."""
    levels = results.levels(axis)
    if axis == NORM:
        return next((v for v in levels if v != "batch"), None), "batch" if "batch" in levels else None
    if axis == RANGE:  # claim 9: with negative values ([-1, 1], DCGAN's default) against without ([0, 1])
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


def interaction_claim(number: int, results: Results, q: str, leaky: str | None, why: str | None, axis: str,
                       margin: float) -> ClaimResult:
    hi, lo = hi_lo(results, axis)
    need = {NORM: "batch and another value", RANGE: "[-1, 1] and [0, 1]"}.get(axis, "at least 2 values")
    why = why or (None if hi is not None and lo is not None and hi != lo else f"needs a {axis} axis with {need}")
    why = why or (None if results.has_metric(q) else f"no values in column {q}")
    if why:
        return not_tested(number, q, why)
    d = interaction(results, q, {ACT: leaky}, {ACT: RELU}, axis, hi, lo)
    what = (f"({leaky} / relu FCD ratio) at {axis.split('.')[-1]}={hi} divided by the ratio at {lo}, "
            "claimed < 1 (LeakyReLU's advantage larger there)")
    return paired(number, results, q, d, margin, what, {ACT, axis}, log=True)


def claim6(step_time: dict | None, margin: float) -> ClaimResult:
    if not step_time:
        return not_tested(6, STEP_TIME, "no step_time.json in the study dir: run `python benchmarks/"
                           "bench_act_step.py STUDY.yaml` (times ReLU and LeakyReLU D steps side by side)")
    relu_ms, leaky_ms = np.asarray(step_time["relu_ms"], float), np.asarray(step_time["leaky_ms"], float)
    d = np.log(leaky_ms) - np.log(relu_ms)  # (rounds,): one log ratio of medians per alternating round
    what = (f"{step_time.get('leaky', 'leaky_relu')} / relu {step_time.get('phase', 'D step')} time ratio, "
            f"claimed > 1: medians of {step_time.get('steps', '?')} steps per arm per round, arms alternating in one process "
            f"({step_time.get('machine', 'machine not recorded')}); n = rounds")
    test = paired_test(d, margin)
    return ClaimResult(6, CLAIMS[6], STEP_TIME, "", what, test, True, True, p=test.p, direction="greater")


def slope_per_step(x: np.ndarray, slopes: np.ndarray, step: float = SLOPE_STEP) -> np.ndarray:
    """Per-block least-squares slope of log FCD on the LeakyReLU slope, per +`step` of slope.

    x: (blocks, levels) log FCD, slopes: (levels,) with ReLU = 0 -> (blocks,): exp() of it is the FCD ratio per
    +step of slope (e.g. 1.05: FCD 5% higher for every +0.1)."""
    s = slopes - slopes.mean()
    return step * (x - x.mean(axis=1, keepdims=True)) @ s / float(s @ s)


def claim7(results: Results, q: str, acts: list[Any], margin: float) -> ClaimResult:
    arms = sorted((a for a in acts if slope(a) is not None), key=slope)
    if len({slope(a) for a in arms}) < 3 or not results.has_metric(q):
        why = f"no values in column {q}" if len(arms) >= 3 else \
            f"needs at least 3 of relu, leaky_relu:<slope> in {ACT} (study has: {', '.join(map(str, acts))})"
        return not_tested(7, q, why)
    cells = {a: cell_means(results, q, {ACT: a}, {ACT}) for a in arms}
    blocks = sorted(set.intersection(*(set(c) for c in cells.values())))
    if len(blocks) < 2:
        return not_tested(7, q, f"fewer than 2 blocks (seed x other axes) have every slope in {q}")
    x = np.array([[cells[a][k] for a in arms] for k in blocks])  # (blocks, slopes), log FCD, slope ascending
    p, falls = page_p(x)
    d = slope_per_step(x, np.array([slope(a) for a in arms], dtype=float))  # (blocks,)
    means = ", ".join(f"{slope(a):g}: {math.exp(m):.3g}" for a, m in zip(arms, x.mean(axis=0)))
    what = (f"Page's trend test over slopes {', '.join(f'{slope(a):g}' for a in arms)} ({len(blocks)} blocks that "
            f"have every slope): FCD {'falls' if falls else 'rises'} with the slope, two-sided p={p:.3g}; effect = "
            f"the per-seed least-squares slope of log FCD on the slope (ReLU = 0), as the FCD ratio per "
            f"+{SLOPE_STEP:g} of slope, t-interval over seeds; geometric-mean FCD on those seeds: {means}")
    c = paired(7, results, q, d, margin, what, {ACT}, direction="either", log=True)
    return replace(c, p=p)
