"""The eight claims of DESIGN.md tested on a study's results: one ClaimResult per (claim, metric).

Rules (the report prints them under the claims table; CIs, pairing and verdicts are gan/stats.py's):
- An arm is a value of `model.d_act`. Claims 1-3 and 6 compare "relu" with one LeakyReLU arm: slope 0.2
  when the study has it, else the slope closest to 0.2. Effects are LeakyReLU minus ReLU.
- Runs are paired by every axis of the study except the ones being compared (train.seed, data.name, ...).
- Verdict: `stats.verdict` on the paired effect in the claimed direction; "not tested" when the study lacks
  the axis values or the metric column. Claims 4 and 7 use the special rules written in their `detail`.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy import stats as sps

from gan.stats import (ACT, MIN_PAIRS, Estimate, Results, bootstrap_mean, cell_means, interaction, is_finite,
                       matches, paired_difference, verdict)

NDF, DEPTH, NORM, LR_D = "model.ndf", "model.d_extra_layers", "model.d_norm", "train.lr_d"
RELU = "relu"
DEFAULT_SLOPE = 0.2
ALPHA = 0.05  # Friedman test level for claim 7
EQUIV_MARGIN_REL = 0.10  # claim 4: leaky@ndf/2 may be at most 10% of relu@ndf's mean FCD worse
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


@dataclass(frozen=True)
class ClaimResult:
    """One claim tested on one metric: the effect, its 95% CI, the number of pairs and the verdict."""

    number: int
    text: str
    metric: str
    effect: float
    ci_low: float
    ci_high: float
    n_pairs: int
    verdict: str  # supported | contradicted | inconclusive | not tested
    detail: str


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
    ref = bootstrap_mean([r.get(q) for r in results.completed() if matches(r, {ACT: RELU, NDF: n})]).mean
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
    cells = {a: cell_means(results, q, {ACT: a}, {ACT}) for a in leaky}
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
