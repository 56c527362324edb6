"""One claim's result (ClaimResult): how a rule of gan/analysis/claims/rules.py reports it, how analysis.json holds it,
and its numbers as short text for the analysis' notes and every renderer (report, answer)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from gan.analysis.claims.registry import claim
from gan.analysis.stats import PairedTest, paired_test
from gan.study.results import Results, is_finite


@dataclass(frozen=True)
class ClaimResult:
    """One claim on one metric. Primary rows carry p, Holm p and an outcome; descriptive rows only the CI."""

    number: int
    text: str
    metric: str
    verdict: str  # supported | contradicted [, below the margin] | equivalent | inconclusive | not tested | ...
    detail: str
    test: PairedTest | None = None
    primary: bool = True
    log: bool = False  # effect is on the log scale: read exp(effect) as a ratio
    baseline: float = math.nan  # the reference arm's mean (linear scale), for "% of baseline"
    p: float = math.nan  # raw primary p
    p_adjusted: float = math.nan  # Holm
    needed: int | None = None  # pairs for 80% power at the margin (Holm's first-step level)
    direction: str = "less"
    control: str | None = None  # claim 4: "non-inferior" | "not shown non-inferior" | None (no control pairs)
    kid: PairedTest | None = None  # quality claims: the same contrast on tail3/log/quality/kid (descriptive)
    constant: str = ""  # when every paired difference is equal: "every run: 0" (or "every pair: +0.1"), for the label

    @property
    def n_pairs(self) -> int:
        return self.test.n if self.test else 0

    @property
    def effect(self) -> float:
        return self._show(self.test.mean) if self.test else math.nan

    @property
    def ci_low(self) -> float:
        return self._show(self.test.ci_low) if self.test else math.nan

    @property
    def ci_high(self) -> float:
        return self._show(self.test.ci_high) if self.test else math.nan

    def _show(self, x: float) -> float:
        return math.exp(x) if self.log and math.isfinite(x) else x

    def percent(self, x: float) -> float:
        """An analysis-scale effect as a % of the baseline (log scale: (ratio - 1) x 100)."""
        if self.log:
            return 100 * math.expm1(x)
        return 100 * x / self.baseline if is_finite(self.baseline) and self.baseline else math.nan


def not_tested(number: int, metric: str, why: str, primary: bool = True) -> ClaimResult:
    return ClaimResult(number, claim(number).text, metric, "not tested", why, primary=primary)


def pairing(results: Results, exclude: set[str]) -> str:
    keys = [a for a in results.axes if a not in exclude]
    return "paired by " + ", ".join(keys) if keys else "nothing to pair by"


def paired(number: int, results: Results, metric: str, d: np.ndarray, margin: float, what: str,
           exclude: set[str], direction: str = "less", primary: bool = True, log: bool = False,
           baseline: float = math.nan) -> ClaimResult:
    """Claim `number` on the paired values d (its text from the registry); the verdict is left to the family."""
    test = paired_test(d, margin)
    detail = f"{what}; {pairing(results, exclude)}"
    if test.n < 2:
        detail += f"; {test.n} complete pair(s): no test"
    constant = ""
    if test.n >= 2 and test.sd == 0:  # no test runs; say what every run measured, or what every pair differed by
        values = {float(r[metric]) for r in results.completed() if is_finite(r.get(metric))}
        constant = f"every run: {values.pop():.3g}" if len(values) == 1 else f"every pair: {test.mean:+.3g}"
        detail += f"; no variation: {constant}, so no test ran"
    return ClaimResult(number, claim(number).text, metric, "", detail, test, primary, log, baseline,
                       p=test.p if primary else math.nan, direction=direction, constant=constant)


##### as analysis.json holds it


def test_to_dict(t: PairedTest | None) -> dict | None:
    return None if t is None else dataclasses.asdict(t)


def test_from_dict(d: dict | None) -> PairedTest | None:
    return None if d is None else PairedTest(**{k: (math.nan if v is None else v) for k, v in d.items()})


def claim_to_dict(c: ClaimResult, pairs: Sequence[float] = (), kid_pairs: Sequence[float] = ()) -> dict:
    """A ClaimResult as analysis.json holds it; `pairs` (and `kid_pairs`): the per-pair values d its test ran on,
    so a reader can recompute it (gan answer compares two studies' headline-claim pairs)."""
    out = {f.name: getattr(c, f.name) for f in dataclasses.fields(c) if f.name not in ("test", "kid")}
    out.update(test=test_to_dict(c.test), kid=test_to_dict(c.kid), pairs=[float(x) for x in pairs],
               kid_pairs=[float(x) for x in kid_pairs])
    return out


def claim_from_dict(d: dict) -> ClaimResult:
    """Inverse of claim_to_dict (the pairs are not part of a ClaimResult: read them from the dict)."""
    names = {f.name for f in dataclasses.fields(ClaimResult)}
    kw = {k: (math.nan if v is None and k in ("baseline", "p", "p_adjusted") else v) for k, v in d.items() if k in names}
    kw["test"], kw["kid"] = test_from_dict(d.get("test")), test_from_dict(d.get("kid"))
    return ClaimResult(**kw)


##### as text


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
