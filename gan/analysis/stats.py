"""Study statistics: paired effects with t-intervals, exact sign-flip p-values, TOST, Holm, power; group CIs.

Rules (gan/analysis/claims/ applies them to the claims; the report and README print them in plain words):
- Only runs with status "completed" and a finite metric value enter a statistic.
- Runs are paired by every axis of the study except the ones being compared (train.seed, data.name, ...);
  replicate runs in one cell are averaged first. A claim's effect is computed per pair (a difference, a log
  ratio, or a difference of differences), giving n paired values d.
- 95% CI of the mean of d: the t-interval. It is exact for normal d and, on the log scale of a log-normal
  metric like FCD, covers 95% at n = 5 already; the bootstrap's percentile interval covers only ~91% at n = 5,
  so it is used only for descriptive group means (`bootstrap_mean`, expanded to the t width) and curves.
- p-value of "the effect is 0": a two-sided sign-flip permutation test (scipy.stats.permutation_test):
  exact over all 2^n sign patterns up to EXACT_MAX_PAIRS (16) pairs, 9999 random patterns (+1 correction)
  beyond. It assumes only that d is symmetric under the null (true when the two arms are exchangeable), not
  normality. Its smallest possible p is 2 / 2^n: 6.3% at n = 5, so five pairs can never decide a claim.
- Equivalence: two one-sided t-tests (TOST, statsmodels) against +-margin; p_equiv < alpha is the same as the
  90% t-interval lying inside (-margin, +margin).
- No variation: when every paired difference is exactly equal (e.g. no unit dead in any run) no test runs:
  p and p_equiv are NaN, the claim leaves the Holm family and reads "no variation (every run: X)".
- Holm's step-down correction (statsmodels, method="holm") over the primary p-values of the claims a study
  tests; outcomes use the adjusted p (`decide`).
- Pairs needed: a paired t-test's sample size for 80% power against an effect of one margin, at the
  Bonferroni level alpha / m (Holm's first step), from the study's SD of d (statsmodels TTestPower), and at
  least enough pairs for the sign-flip test to reach that level at all.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower
from statsmodels.stats.weightstats import ttost_paired

from gan.study.results import ACT, Results, Selector, group_rows, is_finite, matches


CONFIDENCE = 0.95
N_RESAMPLES = 9999
BOOT_SEED = 0
ALPHA = 0.05  # family-wise error rate of a study's primary tests (Holm)
POWER = 0.8
EXACT_MAX_PAIRS = 16  # sign-flip test by full enumeration up to here (2^16 = 65536 patterns)



@dataclass(frozen=True)
class Estimate:
    """A mean with its 95% bootstrap CI over n values (kept for plots and tests)."""

    mean: float
    ci_low: float
    ci_high: float
    n: int
    values: tuple[float, ...] = ()

    def as_dict(self) -> dict[str, float]:
        """mean, ci_low, ci_high and n as analysis.json holds an estimate (the values are left out)."""
        return {"mean": self.mean, "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n}


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


def cell_means(results: Results, metric: str, sel: Selector, exclude: set[str]) -> dict[tuple, float]:
    """Mean of `metric` per pairing key (values of the axes not in `exclude`) over runs matching `sel`."""
    cells: dict[tuple, list[float]] = {}
    keys = [a for a in results.axes if a not in exclude]
    for r in results.completed():
        if matches(r, sel) and is_finite(r.get(metric)):
            cells.setdefault(tuple(str(r.get(a)) for a in keys), []).append(float(r[metric]))
    return {k: float(np.mean(v)) for k, v in cells.items()}


def contrast(results: Results, metric: str, terms: Sequence[tuple[float, Selector]], log: bool = False) -> np.ndarray:
    """Per-pair values of sum(coef * metric[selector]) (log metric when `log`) over pairing keys in every term.

    Returns d: (n,), one value per pairing key (the values of the axes no selector names), in sorted key order.
    """
    exclude = {c for _, sel in terms for c in sel}
    cells = [cell_means(results, metric, sel, exclude) for _, sel in terms]
    keys = sorted(set.intersection(*(set(c) for c in cells))) if cells else []
    if log:
        keys = [k for k in keys if all(c[k] > 0 for c in cells)]
    f = math.log if log else (lambda v: v)
    return np.array([sum(coef * f(c[k]) for (coef, _), c in zip(terms, cells)) for k in keys], dtype=float)


def paired_difference(results: Results, metric: str, a: Selector, b: Selector, log: bool = False) -> np.ndarray:
    """Per-pair metric[a] - metric[b] (log ratio when `log`), paired by every other axis."""
    return contrast(results, metric, [(1.0, a), (-1.0, b)], log=log)


def interaction(results: Results, metric: str, a: Selector, b: Selector, axis: str, hi: Any, lo: Any,
                log: bool = False) -> np.ndarray:
    """Per-pair (metric[a] - metric[b]) at axis=hi minus the same at axis=lo, paired by every other axis."""
    return contrast(results, metric, [(1.0, {**a, axis: hi}), (-1.0, {**b, axis: hi}),
                                      (-1.0, {**a, axis: lo}), (1.0, {**b, axis: lo})], log=log)


##### paired tests


@dataclass(frozen=True)
class PairedTest:
    """The mean of n paired values d with its 95% t-interval, sign-flip p (two-sided) and TOST p at +-margin."""

    mean: float
    ci_low: float
    ci_high: float
    n: int
    sd: float  # SD of d (ddof=1): what power and pairs-needed come from
    p: float  # H0: mean 0 (sign-flip permutation, two-sided)
    p_equiv: float  # H0: |mean| >= margin (TOST); < alpha means the 90% t-interval lies inside +-margin
    margin: float


def t_interval(d: np.ndarray, level: float = CONFIDENCE) -> tuple[float, float]:
    """The t-interval of the mean of d (a zero-width interval when every value is equal; NaN for n < 2)."""
    d = np.asarray(d, dtype=float)
    if d.size < 2:
        return math.nan, math.nan
    half = sps.t.ppf(0.5 + level / 2, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size)
    return float(d.mean() - half), float(d.mean() + half)


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def sign_flip_p(d: np.ndarray, seed: int = BOOT_SEED) -> np.ndarray | float:
    """Two-sided sign-flip permutation p of mean(d) = 0 along the last axis (d: (n,) or (batch, n)).

    Exact (all 2^n sign patterns) up to EXACT_MAX_PAIRS pairs; N_RESAMPLES random patterns beyond.
    """
    d = np.asarray(d, dtype=float)
    n = d.shape[-1]
    exact = n <= EXACT_MAX_PAIRS
    res = sps.permutation_test((d,), _mean, vectorized=True, permutation_type="samples", axis=-1,
                               n_resamples=np.inf if exact else N_RESAMPLES, alternative="two-sided",
                               rng=None if exact else np.random.default_rng(seed))
    return float(res.pvalue) if d.ndim == 1 else np.asarray(res.pvalue)


def tost_p(d: np.ndarray, margin: float) -> float:
    """TOST p of |mean(d)| >= margin (statsmodels ttost_paired of d against zeros); NaN for n < 2."""
    d = np.asarray(d, dtype=float)
    if d.size < 2 or not margin > 0:
        return math.nan
    if np.all(d == d[0]):  # no spread: the t statistic is infinite, the answer certain
        return 0.0 if abs(d[0]) < margin else 1.0
    return float(ttost_paired(d, np.zeros_like(d), -margin, margin)[0])


def paired_test(d: Sequence[float], margin: float) -> PairedTest:
    """All of a claim's numbers from its paired values d (NaNs dropped)."""
    d = np.asarray([v for v in d if is_finite(v)], dtype=float)
    if d.size == 0:
        return PairedTest(math.nan, math.nan, math.nan, 0, math.nan, math.nan, math.nan, margin)
    lo, hi = t_interval(d)
    sd = float(d.std(ddof=1)) if d.size > 1 else math.nan
    if d.size > 1 and np.all(d == d[0]):  # every pair differs by exactly the same amount: no test (NO_VARIATION)
        return PairedTest(float(d[0]), float(d[0]), float(d[0]), int(d.size), 0.0, math.nan, math.nan, margin)
    p = sign_flip_p(d) if d.size > 1 else math.nan
    return PairedTest(float(d.mean()), lo, hi, int(d.size), sd, p, tost_p(d, margin), margin)


def holm(pvalues: Sequence[float], alpha: float = ALPHA) -> list[float]:
    """Holm-adjusted p-values (statsmodels multipletests, method='holm'); NaN stays NaN and is not counted."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, math.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], alpha=alpha, method="holm")[1]
    return out.tolist()


def min_sign_flip_pairs(alpha: float) -> int:
    """Fewest pairs whose exact sign-flip test can give p < alpha (smallest p is 2 / 2^n)."""
    return int(math.floor(math.log2(2 / alpha))) + 1


def pairs_needed(sd: float, margin: float, alpha: float = ALPHA, power: float = POWER,
                 alternative: str = "two-sided") -> int | None:
    """Pairs for `power` against a true effect of one margin at level alpha (paired t-test; TTestPower)."""
    if not (math.isfinite(sd) and margin > 0):
        return None
    floor = min_sign_flip_pairs(alpha)
    if sd == 0:
        return floor
    analysis = TTestPower()
    if analysis.power(effect_size=margin / sd, nobs=floor, alpha=alpha, alternative=alternative) >= power:
        return floor  # a large effect: the root finder would look below 2 pairs and fail
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' ConvergenceWarning: NaN comes back and is handled
        n = float(np.squeeze(analysis.solve_power(effect_size=margin / sd, alpha=alpha, power=power,
                                                  alternative=alternative)))
    return max(floor, int(math.ceil(n))) if math.isfinite(n) else None


NO_VARIATION = "no variation"  # every paired difference exactly equal: no p-value, no equivalence claim
BEYOND, SIZE_UNCLEAR, BELOW = " (beyond the margin)", " (size unclear)", ", below the margin"


def decide(test: PairedTest, direction: str, p_adjusted: float, alpha: float = ALPHA) -> str:
    """supported | contradicted, graded | equivalent | inconclusive | no variation; direction less | greater | either.

    no variation: n >= 2 and every paired difference is exactly equal (no test ran; the claim's result names the value).
    supported / contradicted: Holm-adjusted p < alpha, the effect on / against the claimed side of 0 ("either":
    any side supports), graded by where the CI lies against the margin: " (beyond the margin)" when the 95% CI
    lies wholly beyond it on the effect's side, ", below the margin" when TOST puts the effect inside +-margin
    (the 90% CI within it), " (size unclear)" otherwise (real, but the CI crosses the margin).
    equivalent: not different from 0, and TOST puts it inside +-margin. inconclusive: neither.
    """
    if test.n >= 2 and test.sd == 0:
        return NO_VARIATION
    inside = math.isfinite(test.p_equiv) and test.p_equiv < alpha
    if math.isfinite(p_adjusted) and p_adjusted < alpha and test.mean != 0:
        claimed = direction == "either" or (test.mean < 0 if direction == "less" else test.mean > 0)
        beyond = test.ci_high < -test.margin if test.mean < 0 else test.ci_low > test.margin
        grade = BELOW if inside else BEYOND if beyond else SIZE_UNCLEAR
        return ("supported" if claimed else "contradicted") + grade
    return "equivalent" if inside else "inconclusive"
