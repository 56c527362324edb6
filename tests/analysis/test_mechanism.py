"""The mechanism section (gan/analysis/mechanism.py): per-arm means and paired differences per condition, on
hand-built rows whose values are known."""

from __future__ import annotations

import pytest

from gan.analysis.mechanism import mechanism
from gan.measure import metric_keys as mk
from gan.study.results import ACT, make_results

SAT, NORM_ = mk.half2(mk.D_SATURATED), mk.mean(mk.IG_NORM)
LEAKY = "leaky_relu:0.2"


def rows(norms=("batch",)) -> list[dict]:
    """4 seeds x 2 arms x norms. ReLU saturates in 0.5 of steps (+0.1 per seed), LeakyReLU in 0.2 (+0.1 per
    seed), so every paired difference is -0.3; gradient norm 4 (ReLU) vs 3 (LeakyReLU), without normalization
    both +10. No saturation column without normalization: that measure is left out there."""
    out = []
    for norm in norms:
        for act in ("relu", LEAKY):
            for seed in range(4):
                r = {"run": f"{act}-{seed}-{norm}", "status": "completed", ACT: act, "train.seed": seed,
                     "model.d_norm": norm, NORM_: (4.0 if act == "relu" else 3.0) + (10 if norm == "none" else 0)}
                if norm == "batch":
                    r[SAT] = (0.5 if act == "relu" else 0.2) + 0.1 * seed
                out.append(r)
    return out


def test_per_arm_means_and_the_paired_difference_are_the_hand_computed_ones():
    m = mechanism(make_results(rows(), {"axes": {"train.seed": [0, 1, 2, 3], ACT: ["relu", LEAKY]}}))
    assert m["leaky"] == LEAKY
    [base] = m["conditions"]
    assert base["condition"] == "baseline" and base["runs"] == 8
    by_key = {r["key"]: r for r in base["rows"]}
    assert list(by_key) == [SAT, NORM_]  # the MEASURES order; measures without values are left out
    sat = by_key[SAT]
    assert sat["relu"]["mean"] == pytest.approx(0.65) and sat["leaky"]["mean"] == pytest.approx(0.35)
    # every paired difference is exactly -0.3: a zero-width interval at -0.3 over 4 pairs
    assert sat["difference"] == pytest.approx({"mean": -0.3, "ci_low": -0.3, "ci_high": -0.3, "n": 4})
    assert sat["relu"]["ci_low"] < 0.65 < sat["relu"]["ci_high"]


def test_every_non_baseline_level_of_a_condition_axis_is_its_own_condition():
    study = {"axes": {"train.seed": [0, 1, 2, 3]},
             "grids": [{"name": "baseline"}, {"name": "norm"}]}
    data = rows(("batch", "none"))
    for r in data:  # the baseline grid holds the BatchNorm runs; the norm grid both
        r["grids"] = "baseline;norm" if r["model.d_norm"] == "batch" else "norm"
    m = mechanism(make_results(data, study))
    assert [c["condition"] for c in m["conditions"]] == ["baseline", "model.d_norm=none"]
    none = m["conditions"][1]
    assert none["runs"] == 8 and [r["key"] for r in none["rows"]] == [NORM_]
    assert none["rows"][0]["relu"]["mean"] == 14.0 and none["rows"][0]["leaky"]["mean"] == 13.0
    assert none["rows"][0]["difference"]["mean"] == pytest.approx(-1.0)


def test_no_relu_or_no_leaky_arm_gives_no_section():
    only_relu = [r for r in rows() if r[ACT] == "relu"]
    assert mechanism(make_results(only_relu)) is None
