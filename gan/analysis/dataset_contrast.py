"""Is the LeakyReLU / ReLU effect different between two studies (datasets)? A claim of its own in `gan answer`.

For two studies A and B, each with its baseline pair (claim 2's runs), the per-seed log ratios
d_A = log FCD_leaky - log FCD_relu (n_A seeds) and d_B (n_B seeds) are independent samples (different data,
different runs), so the two means are compared by Welch's t-test (two-sided, unequal variances; scipy), its 95%
interval read back as a ratio of ratios exp(mean d_A - mean d_B); equivalence by Welch TOST (statsmodels
ttost_ind, usevar="unequal") against the claim-2 margin on the log scale. The outcome follows the four-outcome
rule with direction "either" (any difference supports "the effect differs"), after one Holm correction over
every primary p-value of the answer table (gan/report/answer.py).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps
from statsmodels.stats.weightstats import ttost_ind

from gan.analysis.claim import ClaimResult
from gan.analysis.stats import PairedTest

CONTRAST_NUMBER = 10
CONTRAST_TEXT = "The LeakyReLU / ReLU FCD ratio differs between datasets"


def welch_test(a: np.ndarray, b: np.ndarray, margin: float) -> PairedTest:
    """mean(a) - mean(b) with Welch's 95% interval, two-sided p and TOST p at +-margin; n = len(a) + len(b).
    (A PairedTest by shape: sd is the standard error of the difference times sqrt(n), for power only.)"""
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
                     margin: float) -> ClaimResult:
    """The contrast row of `gan answer`: A's per-seed log ratios against B's (verdict left to the Holm family)."""
    test = welch_test(d_a, d_b, margin)
    detail = (f"({label_a} leaky / relu FCD ratio) / ({label_b} ratio): Welch's t on the per-seed log ratios "
              f"({len(d_a)} and {len(d_b)} seeds), two-sided; TOST at ±{100 * math.expm1(margin):.3g}%")
    constant = f"every pair: {test.mean:+.3g}" if test.sd == 0 else ""
    return ClaimResult(CONTRAST_NUMBER, CONTRAST_TEXT, metric, "", detail, test,
                       primary=True, log=True, p=test.p, direction="either", constant=constant)
