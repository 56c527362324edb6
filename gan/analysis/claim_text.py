"""A claim's numbers as short text, shared by the analysis (its notes) and every renderer (report, answer)."""

from __future__ import annotations

import math
from typing import Any

from gan.analysis.claim import ClaimResult
from gan.study.results import is_finite


def fmt(x: Any) -> str:
    return "–" if not is_finite(x) else f"{x:.3g}"


def _pct(x: float) -> str:
    return "–" if not is_finite(x) else f"{x:+.3g}%"


def rules_out(c: ClaimResult) -> str:
    """The effects beyond the 95% CI, as % of the baseline (ratios: % change): what the study rules out."""
    if not c.test or not is_finite(c.test.ci_low) or c.test.sd == 0:  # no variation: no test, nothing ruled out
        return "–"
    lo, hi = c.percent(c.test.ci_low), c.percent(c.test.ci_high)
    return f"< {_pct(lo)} or > {_pct(hi)}" if is_finite(lo) else f"< {fmt(c.test.ci_low)} or > {fmt(c.test.ci_high)}"


def kid_text(c: ClaimResult) -> str:
    """A quality claim's KID beside its FCD: the same contrast on tail3/log/quality/kid, ratio [95% CI]."""
    t = c.kid
    if t is None or not is_finite(t.ci_low):
        return "–"
    return f"{fmt(math.exp(t.mean))}x [{fmt(math.exp(t.ci_low))}, {fmt(math.exp(t.ci_high))}]"


def kid_disagrees(c: ClaimResult) -> str | None:
    """A sentence when FCD and KID disagree on a quality claim: in direction (the two CIs exclude 1 on opposite
    sides), or in decision (one CI excludes 1, the other does not); None when they agree or KID is missing."""
    if c.kid is None or c.test is None or not is_finite(c.kid.ci_low) or not is_finite(c.test.ci_low):
        return None
    side = lambda t: -1 if t.ci_high < 0 else 1 if t.ci_low > 0 else 0  # noqa: E731
    f, k = side(c.test), side(c.kid)
    if f == k:
        return None
    word = {-1: "below 1", 1: "above 1", 0: "includes 1"}
    how = "direction" if f and k else "decision"
    return (f"claim {c.number}: FCD and KID disagree in {how}: FCD {fmt(c.effect)}x [{fmt(c.ci_low)}, "
            f"{fmt(c.ci_high)}] ({word[f]}), KID {kid_text(c)} ({word[k]})")
