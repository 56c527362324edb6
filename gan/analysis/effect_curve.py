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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

from gan.measure import metric_keys as mk
from gan.study.results import ACT, SEED, Results, is_finite, label, make_results
from gan.analysis.stats import CONFIDENCE, PairedTest, paired_difference, paired_test, t_interval


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
