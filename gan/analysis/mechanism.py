"""The mechanism as measured: what an over-strong D looks like and what LeakyReLU does to it, per condition.

Descriptive only (no p-value, no Holm, no verdict): the claims decide; this says what moved with them. For each
condition (the baseline cell, then every other level of a condition axis the study varies: D's normalization,
width, depth, the data range), each mechanism measure (MEASURES) gets its mean [95% bootstrap CI] per arm (ReLU,
the compared LeakyReLU) and the paired LeakyReLU - ReLU difference [95% t-interval], paired by seed as the
claims are.

    mechanism(results)  # -> {"leaky": ..., "conditions": [{"condition", "runs", "rows": [...]}, ...]}
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from gan.analysis.claims.rules import RELU, baseline_results, pick_leaky
from gan.config.schema import D_EXTRA_LAYERS as DEPTH, D_NORM as NORM, DATA_RANGE as RANGE, NDF
from gan.analysis.stats import bootstrap_mean, paired_difference, t_interval
from gan.measure import metric_keys as mk
from gan.study.results import ACT, Results, is_finite, matches

# (results.csv column, what it says in a table); the order is the story: saturation and over-fitting (is D
# over-strong?), then the gradient G receives, then D's own zeros and dead units
MEASURES = (
    (mk.half2(mk.D_SATURATED), f"D saturated: share of 2nd-half training steps with {mk.SATURATED_TEXT}"),
    (mk.mean(mk.OVERFIT_R_T), "r_t = E[sign D(x_train)] (1: every training image called real)"),
    (mk.mean(mk.OVERFIT_R_V), "r_v: held-out reals between training reals (0) and fakes (1) on D's logits"),
    (mk.half2(mk.OVERFIT_HELDOUT_GAP), "held-out minus training real loss of D, 2nd half (> 0: memorises)"),
    (mk.mean(mk.IG_NORM), "size of the gradient G receives, |dL_G/dx| per sample"),
    (mk.mean(mk.IG_HOYER), "sparsity of the gradient G receives (Hoyer; dense Gaussian 0.20)"),
    (mk.mean(mk.D_GRAD_ZERO_FRAC), "share of D's pre-activation gradients that are exactly 0"),
    (mk.half2(mk.D_DEAD_FRAC), "share of D's units dead (never active on a probe batch), 2nd half"),
)
CONDITION_AXES = (NORM, NDF, DEPTH, RANGE)


def _values(results: Results, key: str, sel: dict) -> list[float]:
    return [float(r[key]) for r in results.completed() if matches(r, sel) and is_finite(r.get(key))]


def _condition(results: Results, name: str, leaky: str) -> dict[str, Any]:
    """The mechanism rows of one condition: `results` holds only its runs."""
    rows = []
    for key, what in MEASURES:
        relu, lk = _values(results, key, {ACT: RELU}), _values(results, key, {ACT: leaky})
        if not relu or not lk:
            continue
        d = paired_difference(results, key, {ACT: leaky}, {ACT: RELU})  # (pairs,), finite values only
        low, high = t_interval(d)
        rows.append({"key": key, "what": what, "relu": bootstrap_mean(relu).as_dict(),
                     "leaky": bootstrap_mean(lk).as_dict(),
                     "difference": {"mean": float(d.mean()) if d.size else math.nan, "ci_low": low, "ci_high": high,
                                    "n": int(d.size)}})
    return {"condition": name, "runs": len(results.completed()), "rows": rows}


def mechanism(results: Results) -> dict[str, Any] | None:
    """The mechanism section of analysis.json (module docstring); None without a ReLU and a LeakyReLU arm."""
    acts = results.levels(ACT)
    leaky = pick_leaky(acts)
    if RELU not in acts or leaky is None:
        return None
    base, _ = baseline_results(results)
    conditions = [_condition(base, "baseline", leaky)]
    for axis in (a for a in CONDITION_AXES if a in results.axes):
        at_baseline = {str(v) for v in base.levels(axis)}
        for level in results.levels(axis):
            if str(level) not in at_baseline:
                runs = replace(results, rows=[r for r in results.rows if str(r.get(axis)) == str(level)])
                conditions.append(_condition(runs, f"{axis}={level}", leaky))
    return {"leaky": leaky, "conditions": [c for c in conditions if c["rows"]]}
