"""Steps to quality (issue 40 item 7): per pair, the steps ReLU needs to reach the quality LeakyReLU has at the end,
as a multiple of the run's length, from power laws fitted per arm; hand-built power laws, then the committed studies."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from gan.analysis.effect_curve import steps_shift, steps_to_quality, steps_to_quality_text
from gan.study.results import make_results

REPO = Path(__file__).resolve().parents[2]


def _law(c: float, b: float, steps=range(500, 4001, 500)) -> dict[int, float]:
    """c * step^b at every evaluation, with a start-up value at 500 that no power law follows (it must not count)."""
    return {s: (1e4 if s < 1000 else c * s ** b) for s in steps}


def test_the_shift_of_exact_power_laws_by_hand():
    # equal exponents: LeakyReLU 90 / s, ReLU 100 / s. At T = 4000 LeakyReLU is at 90 / 4000; ReLU gets there at
    # t* = 4000 * 100 / 90, so t* / T = 10 / 9: LeakyReLU is ahead by 11%
    assert steps_shift(_law(90, -1), _law(100, -1), 4000) == pytest.approx(math.log(10 / 9))
    # LeakyReLU 200 s^-0.6, ReLU 100 s^-0.5: log t* = (log 200 - 0.6 log T - log 100) / -0.5, so
    # t* / T = T^1.2 / 4 / T = T^0.2 / 4 = 1.3133 at T = 4000
    assert math.exp(steps_shift(_law(200, -0.6), _law(100, -0.5), 4000)) == pytest.approx(4000 ** 0.2 / 4)
    assert steps_shift(_law(90, -1), _law(100, 0.1), 4000) is None  # ReLU never improves: no t*
    # LeakyReLU evaluated at 1000, 1500 and 2000 only: 3 points fit its law, extrapolated to T
    assert steps_shift(_law(90, -1, range(500, 2001, 500)), _law(100, -1), 4000) == pytest.approx(math.log(10 / 9))
    assert steps_shift(_law(90, -1, (500, 1000, 1500)), _law(100, -1), 4000) is None  # 2 evaluations from 1000


def test_steps_to_quality_over_pairs_is_the_mean_log_shift_with_its_t_interval():
    rows, metrics = [], {}
    ratios = {0: 10 / 9, 1: 1.0, 2: 1.25}  # ReLU at c = 100 / s, LeakyReLU at 100 / r / s: t* / T = r
    for seed, r in ratios.items():
        for act, c in (("relu", 100.0), ("leaky_relu:0.2", 100.0 / r)):
            name = f"{act}-{seed}"
            rows.append({"run": name, "status": "completed", "model.d_act": act, "train.seed": seed,
                         "train.steps": 4000})
            metrics[name] = [{"step": s, "quality/fcd": v} for s, v in _law(c, -1).items()]
    res = make_results(rows, {"axes": {"model.d_act": [], "train.seed": []}})
    out = steps_to_quality(res, metrics, "leaky_relu:0.2")
    d = [math.log(10 / 9), 0.0, math.log(1.25)]
    mean = sum(d) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / 2)
    half = 4.302653 * sd / math.sqrt(3)  # t(0.975, 2 df)
    assert out["pairs"] == pytest.approx(d) and out["n"] == 3 and out["dropped"] == 0
    assert (out["mean"], out["ci_low"], out["ci_high"]) == pytest.approx((mean, mean - half, mean + half), rel=1e-6)
    assert out["ratio"] == pytest.approx(math.exp(mean))
    text = f"after x{math.exp(mean):.3g} [x{math.exp(mean - half):.3g}, x{math.exp(mean + half):.3g}] of the steps"
    assert text == "after x1.12 [x0.846, x1.47] of the steps" and text in steps_to_quality_text(out)


@pytest.mark.parametrize("study, fcd, kid", [
    ("fashion_mnist", (0.909, 0.884, 0.934), (0.860, 0.829, 0.892)),
    ("mnist5k", (1.099, 1.046, 1.155), (1.025, 0.942, 1.115))])
def test_the_committed_answer_studies(study, fcd, kid):
    """Recomputed independently (numpy.polyfit on each arm's evaluations from step 1000 to 4000 in the committed
    metrics.jsonl.gz of the baseline grid, 24 seeds)."""
    from gan.analysis.claims.rules import baseline_results
    from gan.study.read import load_study_results

    s = load_study_results(REPO / "results" / "answer" / study)
    base, _ = baseline_results(s.results)
    for key, want in (("quality/fcd", fcd), ("quality/kid", kid)):
        got = steps_to_quality(base, s.metrics, "leaky_relu:0.2", key)
        assert got["n"] == 24 and got["dropped"] == 0
        assert [got["ratio"], got["ratio_low"], got["ratio_high"]] == pytest.approx(list(want), abs=0.0006)
