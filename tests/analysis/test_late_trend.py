"""The late trend (docs/claims.md, "The late trend"): per pair, the least-squares slope of the paired log ratio over
the last 40% of the steps; hand-built series with known slopes, then the committed 10000-step horizon studies."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from gan.analysis.effect_curve import (LEVEL, LEVEL_MARGIN, STILL_MOVING, UNDECIDED, late_trend, late_trend_text,
                                       late_trends)
from gan.study.results import make_results

REPO = Path(__file__).resolve().parents[2]
STUDY = {"axes": {"model.d_act": ["relu", "leaky_relu:0.2"], "train.seed": []}}


def _study(slopes: list[float], steps: int = 1000, every: int = 100):
    """One pair per slope: ReLU FCD 10 * exp(-step / 1000) (any shape: it cancels), LeakyReLU that times
    exp(0.05 + slope * step / 1000) in the last 40% of the steps, and a wild ratio of 3 before them (outside the
    window, it must not count)."""
    rows, metrics = [], {}
    for seed, b in enumerate(slopes):
        for act in ("relu", "leaky_relu:0.2"):
            name = f"{act}-s{seed}"
            rows.append({"run": name, "status": "completed", "model.d_act": act, "train.seed": seed,
                         "train.steps": steps})
            series = []
            for s in range(0, steps + 1, every):
                relu = 10.0 * math.exp(-s / 1000)
                ratio = math.exp(0.05 + b * s / 1000) if 5 * s >= 3 * steps else 3.0
                series.append({"step": s, "quality/fcd": relu * (ratio if act != "relu" else 1.0),
                               "quality/kid": 0.1 * (ratio if act != "relu" else 1.0)})
            metrics[name] = series
    return make_results(rows, STUDY), metrics


def test_the_late_trend_is_the_mean_per_pair_slope_over_the_last_40_percent_with_its_t_interval():
    res, metrics = _study([0.1, 0.2, 0.3])
    (t,) = late_trends(res, metrics, "leaky_relu:0.2")
    assert (t.first_step, t.last_step, t.evaluations, t.total_steps) == (600, 1000, 5, 1000)  # 600 = 0.6 T counts
    assert t.slopes == pytest.approx((0.1, 0.2, 0.3))  # the ratio of 3 before step 600 is left out
    # by hand: mean 0.2, SD 0.1, t(0.975, 2 df) = 4.302653; one-sample t = 0.2 / (0.1 / sqrt 3) = sqrt 12, and
    # with 2 df the two-sided p is 1 - t / sqrt(t^2 + 2) = 1 - sqrt(12 / 14)
    half = 4.302653 * 0.1 / math.sqrt(3)
    assert (t.mean, t.ci_low, t.ci_high) == pytest.approx((0.2, 0.2 - half, 0.2 + half), rel=1e-6)
    assert t.p == pytest.approx(1 - math.sqrt(12 / 14), rel=1e-6)
    assert t.reading == UNDECIDED  # the CI [-0.048, 0.448] includes 0 and is far wider than +-1%
    (k,) = late_trends(res, metrics, "leaky_relu:0.2", key="quality/kid")
    assert k.slopes == pytest.approx((0.1, 0.2, 0.3))  # the same ratio on KID


def test_the_three_readings():
    res, metrics = _study([0.10, 0.11, 0.12])
    (moving,) = late_trends(res, metrics, "leaky_relu:0.2")
    assert moving.reading == STILL_MOVING and moving.ci_low > 0
    assert "still moving (its 95% CI excludes 0: the ratio is still rising, and the verdict at 1000 steps holds at " \
           "that length only)" in late_trend_text(moving)
    # slopes 0.002, -0.002, 0.001, -0.001, 0: mean 0, SD sqrt(2.5e-6); the 90% CI, +-t(0.95, 4) SD / sqrt 5 =
    # +-2.131847 * 0.0015811 / 2.236 = +-0.0015, lies inside +-log(1.01) = +-0.00995
    res, metrics = _study([0.002, -0.002, 0.001, -0.001, 0.0])
    (level,) = late_trends(res, metrics, "leaky_relu:0.2")
    assert level.reading == LEVEL and level.p_equiv < 0.05 and LEVEL_MARGIN == pytest.approx(0.00995, abs=1e-5)
    assert late_trend_text(level).startswith("late trend: over the last 40% of the steps (600-1000, 5 evaluations, "
                                             "5 pairs), the LeakyReLU / ReLU FCD ratio moves ")
    assert "per 1000 steps [-0.20%, +0.20%], p = 1: level (its 90% CI lies inside ±1%" in late_trend_text(level)


def test_a_pair_needs_three_evaluations_in_the_window():
    pairs = {("0",): {600: 0.0, 1000: 1.0}, ("1",): {600: 0.0, 800: 0.1, 1000: 0.2}, ("2",): {700: 0.0, 800: 0.2,
                                                                                            900: 0.4}}
    t = late_trend(pairs, 1000)
    assert t.slopes == pytest.approx((0.5, 2.0)) and t.n == 2 and t.evaluations == 5  # pair 0 has only 2 points
    assert late_trend({("0",): {600: 0.0, 700: 0.1, 800: 0.2}}, 1000).reading == "too few pairs"


@pytest.mark.parametrize("study, fcd, p, reading, kid", [
    ("horizon_fashion_mnist", (-4.36, -6.90, -1.75), 0.0058, STILL_MOVING, (-7.22, -18.66, 5.83)),
    ("horizon_mnist5k", (1.18, -2.75, 5.27), 0.51, UNDECIDED, (-3.72, -15.37, 9.53))])
def test_the_committed_10000_step_horizon_studies(study, fcd, p, reading, kid):
    """Numbers recomputed independently from the committed metrics.jsonl.gz (per-seed numpy.polyfit over the
    evaluations at steps 6000-10000, the last 40%): the reader reads the gzipped rows a fresh clone has."""
    from gan.study.read import load_study_results

    s = load_study_results(REPO / "results" / "decide" / study)
    (t,) = late_trends(s.results, s.metrics, "leaky_relu:0.2")
    (k,) = late_trends(s.results, s.metrics, "leaky_relu:0.2", key="quality/kid")
    pct = lambda x: 100 * math.expm1(x)  # noqa: E731
    assert (t.first_step, t.last_step, t.evaluations, t.n) == (6000, 10000, 9, 8)
    assert [pct(t.mean), pct(t.ci_low), pct(t.ci_high)] == pytest.approx(list(fcd), abs=0.006)
    assert t.p == pytest.approx(p, abs=0.006) and t.reading == reading
    assert [pct(k.mean), pct(k.ci_low), pct(k.ci_high)] == pytest.approx(list(kid), abs=0.006)
    assert np.all(np.isfinite(t.slopes))
