"""Statistics and claims (gan/analysis/stats.py, gan/analysis/claims/, gan/study/derived.py) on synthetic numbers with known answers,
and the decision rules' error rates simulated (benchmarks/bench_error_rates.py)."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

from gan.measure import metric_keys as mk
from gan.study import derived

from gan.analysis import stats
from gan.analysis.claims.evaluate import evaluate_claims
from gan.analysis.claims.registry import DEAD, DEAD_EVAL, HOYER, LOG_FCD
from gan.analysis.claims.result import ClaimResult
from gan.analysis.claims.rules import leaky_slope, margin_p, pick_leaky, slope
from gan.errors import UserError
from gan.study.results import ACT, load_results, make_results
from gan.analysis.stats import Estimate, PairedTest

PRIMARY = (HOYER, LOG_FCD, DEAD)
LEAKY = "leaky_relu:0.2"


def runs(value, acts=("relu", LEAKY), seeds=range(10), metrics=PRIMARY, **axes) -> list[dict]:
    """One row per (act, seed, *axes values); every metric = value(act, seed, **axis values)."""
    grid = [{}]
    for key, levels in axes.items():
        grid = [{**g, key.replace("__", "."): v} for g in grid for v in levels]
    rows = []
    for act in acts:
        for seed in seeds:
            for g in grid:
                v = value(act, seed, **{k.rsplit(".", 1)[-1]: x for k, x in g.items()})
                rows.append({"run": f"{act}-{seed}-{g}", "status": "completed", ACT: act, "train.seed": seed, **g,
                             **{m: v for m in metrics}})
    return rows


def claim(claims: list[ClaimResult], number: int) -> ClaimResult:
    return next(c for c in claims if c.number == number and c.primary)


def noise(seed: int, act: str, scale: float) -> float:
    """Run noise, fixed per (seed, arm)."""
    return scale * float(np.random.default_rng([seed, len(act), int(100 * (leaky_slope(act) or 0))]).normal())


def seed_level(seed: int) -> float:
    return [0.0, 0.7, -0.3, 1.2, 0.5, -0.8, 0.2, 0.9, -0.5, 0.1, 0.4, -0.2][seed % 12]  # shared by a pair's arms


##### estimates (descriptive group means)


def test_bootstrap_mean_small_samples_and_determinism():
    assert stats.bootstrap_mean([]).n == 0 and math.isnan(stats.bootstrap_mean([]).mean)
    one = stats.bootstrap_mean([3.0, math.nan, None])
    assert (one.mean, one.n) == (3.0, 1) and math.isnan(one.ci_low) and math.isnan(one.ci_high)
    assert stats.bootstrap_mean([2.0, 2.0, 2.0]) == Estimate(2.0, 2.0, 2.0, 3, (2.0, 2.0, 2.0))
    x = [1.0, 2.5, 0.3, 4.0, 2.2]
    a, b = stats.bootstrap_mean(x), stats.bootstrap_mean(x)
    assert a == b and a.mean == pytest.approx(np.mean(x)) and min(x) <= a.ci_low < a.mean < a.ci_high <= max(x)


def test_bootstrap_band_needs_two_runs_per_step():
    m = np.array([[1.0, 2.0, np.nan], [3.0, np.nan, np.nan]])
    mean, lo, hi = stats.bootstrap_band(m)
    assert mean[:2].tolist() == [2.0, 2.0] and math.isnan(mean[2])
    assert 1.0 <= lo[0] <= 2.0 <= hi[0] <= 3.0
    assert math.isnan(lo[1]) and math.isnan(hi[2])


##### paired tests: hand-computed values


def test_t_interval_sign_flip_tost_holm_known_values():
    lo, hi = stats.t_interval([1.0, 2.0, 3.0])
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, df=2) * sd 1 / sqrt(3)
    assert (lo, hi) == (pytest.approx(2 - half), pytest.approx(2 + half))
    assert stats.t_interval([5.0, 5.0]) == (5.0, 5.0) and math.isnan(stats.t_interval([1.0])[0])
    # exact sign-flip: all 5 differences positive -> 2 of 32 patterns are as extreme
    assert stats.sign_flip_p(np.arange(1.0, 6.0)) == pytest.approx(2 / 32)
    assert stats.sign_flip_p(np.ones(10)) == pytest.approx(2 / 1024)
    assert stats.sign_flip_p(np.zeros(6)) == 1.0
    # [1, 2, -3]: sums of the 8 sign patterns are 0, +-6, +-2, +-4 twice -> |sum| >= 0: all 8 -> p = 1
    assert stats.sign_flip_p(np.array([1.0, 2.0, -3.0])) == 1.0
    assert stats.min_sign_flip_pairs(0.05) == 6 and stats.min_sign_flip_pairs(0.05 / 8) == 9
    # TOST: inside a wide margin, not inside a narrow one
    d = np.array([0.01, -0.02, 0.015, 0.0, -0.005, 0.01])
    assert stats.tost_p(d, 0.1) < 0.01 and stats.tost_p(d, 0.001) > 0.5
    assert stats.tost_p(np.full(4, 0.05), 0.1) == 0.0 and stats.tost_p(np.full(4, 0.2), 0.1) == 1.0
    # Holm by hand: sorted 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 -> max-accumulated 0.06; NaN untouched
    adj = stats.holm([0.04, 0.01, math.nan, 0.03])
    assert adj[0] == pytest.approx(0.06) and adj[1] == pytest.approx(0.03) and math.isnan(adj[2])
    assert adj[3] == pytest.approx(0.06)


def test_pairs_needed_matches_t_test_power():
    from statsmodels.stats.power import TTestPower

    n = TTestPower().solve_power(effect_size=math.log(1.1) / 0.148, alpha=0.05, power=0.8)
    # a 10% FCD ratio at a paired log-SD of 0.148 needs 21 pairs at alpha 0.05 (docs/statistics.md)
    assert stats.pairs_needed(0.148, math.log(1.1)) == math.ceil(n) == 21
    assert stats.pairs_needed(0.0, 0.1, alpha=0.05 / 8) == 9  # no spread: the sign-flip floor
    assert stats.pairs_needed(0.001, 0.1) == 6
    assert stats.pairs_needed(math.nan, 0.1) is None


def test_decide_rules():
    def t(mean, half, p_equiv=0.9, sd=1.0):  # a PairedTest with 95% CI mean +- half, margin 0.1
        return PairedTest(mean, mean - half, mean + half, 10, sd, 0.0, p_equiv, 0.1)
    assert stats.decide(t(-1.0, 0.5), "less", 0.01) == "supported (beyond the margin)"  # CI [-1.5, -0.5]
    assert stats.decide(t(-0.3, 0.25), "less", 0.01) == "supported (size unclear)"  # CI [-0.55, -0.05] crosses -0.1
    assert stats.decide(t(1.0, 0.5), "less", 0.01) == "contradicted (beyond the margin)"
    assert stats.decide(t(0.3, 0.25), "less", 0.01) == "contradicted (size unclear)"
    assert stats.decide(t(1.0, 0.5), "greater", 0.01) == "supported (beyond the margin)"
    assert stats.decide(t(1.0, 0.5), "either", 0.01) == stats.decide(t(-1.0, 0.5), "either", 0.01) \
        == "supported (beyond the margin)"
    assert stats.decide(t(-0.01, 0.005, p_equiv=0.01), "less", 0.01) == "supported, below the margin"
    assert stats.decide(t(0.01, 0.05, p_equiv=0.01), "less", 0.2) == "equivalent"
    assert stats.decide(t(0.01, 0.3, p_equiv=0.2), "less", 0.2) == "inconclusive"
    assert stats.decide(t(-1.0, 0.5), "less", 0.06) == "inconclusive"  # the adjusted p decides
    assert stats.decide(PairedTest(0.0, math.nan, math.nan, 1, math.nan, math.nan, math.nan, 0.1), "less",
                        math.nan) == "inconclusive"
    assert stats.decide(t(0.0, 0.0, sd=0.0), "less", math.nan) == "no variation"


def test_every_difference_equal_runs_no_test():
    zero = stats.paired_test(np.zeros(24), 0.002)
    assert zero.sd == 0 and math.isnan(zero.p) and math.isnan(zero.p_equiv) and zero.n == 24
    assert stats.decide(zero, "less", math.nan) == "no variation"
    shifted = stats.paired_test(np.full(6, 0.05), 0.1)  # a constant shift is no variation either: no test
    assert math.isnan(shifted.p) and stats.decide(shifted, "less", math.nan) == "no variation"


def test_a_study_where_every_run_has_zero_dead_units_says_no_variation():
    rows = runs(lambda act, seed: seed_level(seed) + noise(seed, act, 0.01) + 0.5 * (act == "relu"),
                metrics=(LOG_FCD, DEAD))
    for r in rows:
        r[DEAD] = 0.0
    claims = evaluate_claims(make_results(rows))
    c3 = claim(claims, 3)
    assert c3.verdict == "no variation (every run: 0)" and math.isnan(c3.p) and math.isnan(c3.p_adjusted)
    assert claim(claims, 2).p_adjusted == pytest.approx(claim(claims, 2).p)  # claim 3 left the Holm family


##### arms


def test_activation_parsing_uses_the_registry():
    assert pick_leaky(["relu", "leaky_relu:0.01", LEAKY, "leaky_relu:0.3"]) == LEAKY
    assert pick_leaky(["relu", "leaky_relu:0.01", "leaky_relu:0.25"]) == "leaky_relu:0.25"
    assert pick_leaky(["relu", "leaky_relu"]) == "leaky_relu" and pick_leaky(["relu", "elu"]) is None
    # the old regex took these as LeakyReLU arms; the registry rejects them
    assert leaky_slope("leaky_relu:1.5") is None and leaky_slope("leaky_relu:nan") is None
    assert leaky_slope("leaky_relu:abc") is None and leaky_slope(" leaky_relu:0.1 ") == 0.1
    assert slope("relu") == 0.0 and slope("elu") is None and slope("leaky_relu") == 0.2


def test_a_bare_leaky_relu_arm_has_the_slope_the_registry_builds(monkeypatch):
    # the claims once kept their own DEFAULT_SLOPE = 0.2: change the registry's default and the claims named a
    # slope the model never used
    from gan.analysis.claims import rules
    from gan.config import activations
    from gan.nets.activations import activation_factory
    monkeypatch.setattr(activations, "DEFAULT_LEAKY_SLOPE", 0.3)
    built = activation_factory("leaky_relu")().negative_slope
    assert built == 0.3 and leaky_slope("leaky_relu") == built and slope("leaky_relu") == built
    assert pick_leaky(["relu", "leaky_relu:0.2", "leaky_relu:0.3"]) == "leaky_relu:0.3"  # the registry's default arm
    assert not hasattr(rules, "DEFAULT_SLOPE")


##### claims 1-3: known answers


def test_identical_arms_with_small_spread_are_equivalent():
    data = runs(lambda act, seed: 0.3 + seed_level(seed) + noise(seed, act, 0.0004), seeds=range(25))
    claims = evaluate_claims(make_results(data))
    for number in (1, 2, 3):
        c = claim(claims, number)
        assert c.verdict == "equivalent" and c.n_pairs == 25, c
        assert c.needed is not None and c.needed <= 25


def test_clear_shift_is_supported_and_reversed_is_contradicted():
    shift = lambda sign: lambda act, seed: seed_level(seed) + noise(seed, act, 0.01) + sign * 0.5 * (act == "relu")  # noqa: E731
    good = evaluate_claims(make_results(runs(shift(+1))))  # every metric 0.5 higher under ReLU: claimed side
    for number in (1, 2, 3):
        c = claim(good, number)
        assert c.verdict == "supported (beyond the margin)" and c.n_pairs == 10 and c.ci_high < (1 if c.log else 0)
        assert c.p == pytest.approx(2 / 1024) and c.p_adjusted == pytest.approx(3 * 2 / 1024)  # Holm over 3
    assert claim(good, 2).effect == pytest.approx(math.exp(-0.5), rel=0.02)  # read as a ratio
    bad = evaluate_claims(make_results(runs(shift(-1))))
    assert {claim(bad, n).verdict for n in (1, 2, 3)} == {"contradicted (beyond the margin)"}


def test_significant_shift_inside_the_margin_is_below_the_margin():
    # Hoyer 0.003 lower under LeakyReLU, spread 0.0005: real, but less than the 0.01 margin
    data = runs(lambda act, seed: 0.3 + seed_level(seed) + noise(seed, act, 0.0005) - 0.003 * (act != "relu"),
                seeds=range(25))
    c = claim(evaluate_claims(make_results(data)), 1)
    assert c.verdict == "supported, below the margin" and c.effect == pytest.approx(-0.003, abs=5e-4)


def test_five_pairs_never_decide_and_failed_runs_are_left_out():
    data = runs(lambda act, seed: seed_level(seed) + (act == "relu"), seeds=range(7))
    for r in data:
        if r[ACT] == "relu" and r["train.seed"] >= 5:
            r["status"], r[LOG_FCD] = "diverged", float("nan")
    c = claim(evaluate_claims(make_results(data)), 2)
    assert c.n_pairs == 5 and c.p == pytest.approx(2 / 32) and c.verdict == "inconclusive"
    one = [r for r in data if r["train.seed"] == 0]
    c = claim(evaluate_claims(make_results(one)), 2)
    assert (c.n_pairs, c.verdict) == (1, "not tested") and "no test" in c.detail


def test_missing_axis_or_metric_is_not_tested():
    claims = evaluate_claims(make_results(runs(lambda act, seed: 1.0, acts=(LEAKY,))))
    assert {c.verdict for c in claims} == {"not tested"} and "relu" in claims[0].detail
    rows = runs(lambda act, seed: seed_level(seed))
    for r in rows:
        del r[HOYER]
    claims = evaluate_claims(make_results(rows))
    assert claim(claims, 1).verdict == "not tested" and HOYER in claim(claims, 1).detail
    assert claim(claims, 2).verdict != "not tested"
    assert [claim(claims, n).verdict for n in (4, 5, 6, 7, 8)] == ["not tested"] * 5
    assert math.isnan(claim(claims, 4).p_adjusted)


def test_holm_counts_only_tested_claims_and_dead_frac_eval_is_shown_beside():
    rows = runs(lambda act, seed: seed_level(seed) + noise(seed, act, 0.01) + 0.5 * (act == "relu"),
                metrics=(LOG_FCD, DEAD, DEAD_EVAL))
    claims = evaluate_claims(make_results(rows))
    assert claim(claims, 2).p_adjusted == pytest.approx(2 * claim(claims, 2).p)  # claims 2 and 3 only
    assert "dead_frac_eval" in claim(claims, 3).detail
    assert any(c.metric == DEAD_EVAL and not c.primary and c.verdict == "descriptive" for c in claims)


def test_margins_from_the_study_yaml():
    data = runs(lambda act, seed: 0.3 + seed_level(seed) + noise(seed, act, 0.002), seeds=range(25))
    assert claim(evaluate_claims(make_results(data)), 1).verdict == "equivalent"
    tight = make_results(data, study={"margins": {1: 0.0001}})
    assert claim(evaluate_claims(tight), 1).verdict == "inconclusive"
    for bad in ({10: 0.1}, {1: -0.1}, {"2": "ten"}, [0.1]):
        with pytest.raises(UserError, match="margins"):
            evaluate_claims(make_results(data, study={"margins": bad}))


##### claims 4-8


def _width_fcd(leaky_half: float, relu_half: float):
    """log FCD: ReLU@32 = 3.0, LeakyReLU@32 = 2.9, the ndf=16 arms as given; small per-run noise."""
    def f(act, seed, ndf):
        base = {("relu", 32): 3.0, ("relu", 16): relu_half, (LEAKY, 32): 2.9, (LEAKY, 16): leaky_half}[act, ndf]
        return base + seed_level(seed) + noise(seed * 7 + ndf, act, 0.01)
    return f


def test_claim4_non_inferiority_and_relu_half_width_control():
    hurt = make_results(runs(_width_fcd(3.0, 3.5), model__ndf=(16, 32)))  # halving hurts ReLU, not LeakyReLU
    c = claim(evaluate_claims(hurt), 4)
    assert c.verdict == "supported" and c.effect == pytest.approx(1.0, abs=0.02) and c.n_pairs == 10
    assert c.control == "not shown non-inferior" and "control relu@ndf=16 / relu@ndf=32: 1.6" in c.detail
    same = make_results(runs(_width_fcd(3.0, 3.0), model__ndf=(16, 32)))  # halving hurts neither: says nothing
    c = claim(evaluate_claims(same), 4)
    assert c.control == "non-inferior" and c.verdict == "uninformative: ReLU at ndf/2 is non-inferior too"
    worse = make_results(runs(_width_fcd(3.5, 3.5), model__ndf=(16, 32)))  # 1.65x worse: beyond the margin
    assert claim(evaluate_claims(worse), 4).verdict == "contradicted"
    # control absent: no ReLU run at ndf=16
    rows = [r for r in runs(_width_fcd(3.0, 3.0), model__ndf=(16, 32))
            if not (r[ACT] == "relu" and r["model.ndf"] == 16)]
    c = claim(evaluate_claims(make_results(rows)), 4)
    assert c.control is None and c.verdict == "supported" and "control relu@ndf/2 vs relu@ndf: not tested" in c.detail
    assert margin_p(PairedTest(0.0, 0, 0, 5, 0.0, 1.0, 0.0, 0.1)) == 0.0


def test_claim5_depth_interaction_known_answer():
    # log FCD: the LeakyReLU - ReLU gap is -0.1 at depth 0 and -0.5 at depth 2 -> effect exp(-0.4)
    data = runs(lambda act, seed, d_extra_layers: seed_level(seed) + noise(seed + 20 * d_extra_layers, act, 0.01)
                - (0.1 + 0.2 * d_extra_layers) * (act != "relu"), model__d_extra_layers=(0, 1, 2))
    c = claim(evaluate_claims(make_results(data)), 5)
    assert c.verdict == "supported (beyond the margin)" and c.effect == pytest.approx(math.exp(-0.4), rel=0.02)
    assert "d_extra_layers=2 divided by the ratio at 0" in c.detail


def test_claim6_reads_only_the_side_by_side_timing():
    data = make_results(runs(lambda act, seed: 1.0))
    assert claim(evaluate_claims(data), 6).verdict == "not tested"
    rng = np.random.default_rng(0)
    relu = 20 + rng.normal(0, 0.5, 12)
    timing = {"relu_ms": relu.tolist(), "leaky_ms": (relu * 1.10 * np.exp(rng.normal(0, 0.005, 12))).tolist(),
              "steps": 20, "leaky": LEAKY}
    c = claim(evaluate_claims(data, timing), 6)
    assert c.verdict == "supported (beyond the margin)" and c.effect == pytest.approx(1.10, rel=0.01) and c.n_pairs == 12
    same = {**timing, "leaky_ms": (relu * np.exp(rng.normal(0, 0.002, 12))).tolist()}
    assert claim(evaluate_claims(data, same), 6).verdict == "equivalent"  # within +-3%


def test_time_arms_alternates_the_arms_and_keeps_one_median_per_round():
    from gan.train.step_time import time_arms

    calls, clock = [], iter(range(10**6))  # a fake clock: each call advances 1 s, so a step "takes" 1000 ms

    def fake_clock():
        return float(next(clock))

    slow = {"relu": lambda: calls.append("r"), LEAKY: lambda: (calls.append("l"), next(clock))}  # leaky: 2 ticks
    ms = time_arms(slow, rounds=3, steps_per_round=2, warmup=1, clock=fake_clock)
    # order flips every round; each arm's warm-up step runs right before its timed ones
    assert "".join(calls) == "rrr" "lll" "lll" "rrr" "rrr" "lll"
    assert ms == {"relu": [1000.0] * 3, LEAKY: [2000.0] * 3}


def test_step_time_file_round_trips_through_read_step_time_and_claim6(tmp_path):
    from gan.config.load import load_config
    from gan.files.layout import STEP_TIME_FILE
    from gan.study.read import read_step_time
    from gan.train.step_time import STEP_TIME_FILE as WRITTEN, make_step, record, time_arms, write_step_time

    from conftest import REPO

    cfg = load_config(REPO / "configs" / "fake.yaml", ["model.ngf=8", "model.ndf=8", "train.batch_size=4"])
    steps = {"relu": make_step(cfg, "relu", "d"), LEAKY: make_step(cfg, LEAKY, "full")}
    ms = time_arms(steps, rounds=3, steps_per_round=2, warmup=1)
    assert WRITTEN == STEP_TIME_FILE and all(len(v) == 3 and min(v) > 0 for v in ms.values())
    data = record(cfg, ms, "relu", LEAKY, steps=2, warmup=1, threads=1)
    write_step_time(tmp_path, data)
    back = read_step_time(tmp_path)
    assert back["relu_ms"] == ms["relu"] and back["leaky_ms"] == ms[LEAKY] and back["rounds"] == 3
    assert back["model"]["ndf"] == 8 and back["model"]["batch"] == 4 and back["threads"] == 1 and back["cpu"]
    c = claim(evaluate_claims(make_results(runs(lambda act, seed: 1.0)), back), 6)
    assert c.n_pairs == 3 and back["machine"] in c.detail
    assert c.effect == pytest.approx(math.exp(np.mean(np.log(np.array(ms[LEAKY]) / np.array(ms["relu"])))))


def test_claim7_page_trend_and_least_squares_slope_per_tenth():
    acts = ("relu", "leaky_relu:0.01", "leaky_relu:0.1", LEAKY)
    falls = runs(lambda act, seed: seed_level(seed) + noise(seed, act, 0.02) - slope(act), acts=acts)
    c = claim(evaluate_claims(make_results(falls)), 7)
    assert c.verdict.startswith("supported") and "FCD falls with the slope" in c.detail and "Page" in c.detail
    assert c.effect == pytest.approx(math.exp(-0.1), rel=0.01)  # log FCD falls by 1 per unit slope: 0.1 per +0.1
    assert c.direction == "either" and c.n_pairs == 10
    rises = runs(lambda act, seed: seed_level(seed) + noise(seed, act, 0.02) + 3 * slope(act), acts=acts)
    up = claim(evaluate_claims(make_results(rises)), 7)
    assert up.verdict == "supported (beyond the margin)" and up.effect == pytest.approx(math.exp(0.3), rel=0.02)
    flat = runs(lambda act, seed: seed_level(seed) + noise(seed, act, 0.003), acts=acts, seeds=range(25))
    assert claim(evaluate_claims(make_results(flat)), 7).verdict == "equivalent"
    two = runs(lambda act, seed: 1.0)
    assert claim(evaluate_claims(make_results(two)), 7).verdict == "not tested"


def test_slope_per_step_is_the_least_squares_fit():
    from gan.analysis.claims.rules import slope_per_step
    slopes = np.array([0.0, 0.01, 0.1, 0.2, 0.3])
    x = np.vstack([1.0 + 2.0 * slopes, 5.0 - 0.5 * slopes + np.array([0.01, -0.01, 0.0, 0.01, -0.01])])
    fit = [np.polyfit(slopes, row, 1)[0] * 0.1 for row in x]
    assert slope_per_step(x, slopes) == pytest.approx(fit) and slope_per_step(x, slopes)[0] == pytest.approx(0.2)


def test_claim8_norm_interaction_and_dead_frac_beside():
    # log FCD gap LeakyReLU - ReLU: -0.05 with BatchNorm, -0.45 without -> exp(-0.4); dead frac likewise
    def f(act, seed, d_norm):
        return seed_level(seed) + noise(seed + (d_norm == "none"), act, 0.01) - (
            0.05 if d_norm == "batch" else 0.45) * (act != "relu")
    claims = evaluate_claims(make_results(runs(f, model__d_norm=("batch", "none"))))
    c = claim(claims, 8)
    assert c.verdict == "supported (beyond the margin)" and c.effect == pytest.approx(math.exp(-0.4), rel=0.02)
    dead = next(x for x in claims if x.number == 8 and not x.primary and x.metric == DEAD)
    assert dead.effect == pytest.approx(-0.4, abs=0.02) and dead.verdict == "descriptive"


##### derived per-run columns (results.csv)


def test_derived_columns_tail_and_second_half():
    rows = [{"step": s} for s in range(0, 101, 10)]
    for r, fcd in zip(rows[::2], [50.0, 30.0, 20.0, 8.0, 4.0, 2.0]):  # evals at 0, 20, ..., 100
        r["quality/fcd"] = fcd
    for r in rows:
        r["probe/input_grad/hoyer"] = r["step"] / 100
    rows[-1]["quality/fcd"] = float("nan")  # a NaN eval is skipped: the last 3 finite are 20, 8, 4
    out = derived.derived_columns(rows)
    assert out["tail3/log/quality/fcd"] == pytest.approx(np.mean(np.log([20.0, 8.0, 4.0])))
    assert out["tail3/n_evals"] == 3
    assert out["half2/probe/input_grad/hoyer"] == pytest.approx(np.mean([0.6, 0.7, 0.8, 0.9, 1.0]))  # step > 50
    assert "half2/probe/D/dead_frac" not in out and "half2/D/saturated" not in out


def test_saturated_share_counts_second_half_rows_with_both_probabilities():
    # last step 100: the second half is steps 60..100; (real, fake) by step, hand-labelled saturated or not
    pairs = {0: (0.99, 0.01), 40: (0.95, 0.05),  # first half: saturated, but not counted
             60: (0.95, 0.05), 70: (0.91, 0.12), 80: (0.85, 0.02), 90: (0.97, 0.09), 100: (0.90, 0.01)}
    rows = [{"step": s, "D/real_prob": r, "D/fake_prob": f} for s, (r, f) in pairs.items()]
    rows.append({"step": 95, "D/real_prob": 0.99})  # no fake_prob: not counted
    # saturated at 60 and 90; not at 70 (fake 0.12), 80 (real 0.85), 100 (real 0.90 is not > 0.9)
    assert derived.saturated_share(rows) == pytest.approx(2 / 5)
    assert derived.derived_columns(rows)["half2/D/saturated"] == pytest.approx(2 / 5)
    assert derived.saturated_share([{"step": 10, "loss/D": 1.0}]) is None


def test_rule_window_share_reads_steps_1001_to_2000_only():
    """Claim 11's S of one run: rows 1000 < step <= 2000 holding both probabilities; hand-labelled."""
    pairs = {950: (0.99, 0.01), 1000: (0.99, 0.01),  # the start-up transient: saturated, but not counted
             1050: (0.95, 0.05), 1100: (0.80, 0.05), 1500: (0.93, 0.02), 1950: (0.91, 0.10), 2000: (0.99, 0.09),
             2050: (0.99, 0.01)}  # past the window: not counted
    rows = [{"step": s, "D/real_prob": r, "D/fake_prob": f} for s, (r, f) in pairs.items()]
    rows.append({"step": 1200, "D/real_prob": 0.99, "D/fake_prob": math.nan})  # a diverged row: not counted
    # in the window: 1050 yes, 1100 no (real 0.80), 1500 yes, 1950 no (fake 0.10 is not < 0.1), 2000 yes -> 3 / 5
    assert derived.rule_window_share(rows) == pytest.approx(3 / 5)
    assert derived.derived_columns(rows)["w1001_2000/D/saturated"] == pytest.approx(3 / 5)
    assert derived.window_saturated_share(rows, 1000, 2000) == (pytest.approx(3 / 5), 5)
    short = [r for r in rows if r["step"] <= 1950]  # a run that never reached step 2000: no S at all
    assert derived.rule_window_share(short) is None and "w1001_2000/D/saturated" not in derived.derived_columns(short)


def test_one_saturation_test_for_every_reader():
    """metric_keys.is_saturated is the definition; the probe reads the same thresholds (0.9 / 0.1, strict)."""
    import torch

    from gan.measure.overfit import overfit_metrics

    assert mk.is_saturated(0.91, 0.09) and not mk.is_saturated(0.9, 0.05) and not mk.is_saturated(0.95, 0.1)
    logit = lambda p: torch.full((8,), math.log(p / (1 - p)), dtype=torch.float64)  # noqa: E731
    assert float(overfit_metrics(logit(0.91), logit(0.91), logit(0.09))[mk.OVERFIT_SATURATED]) == 1.0
    assert float(overfit_metrics(logit(0.89), logit(0.89), logit(0.09))[mk.OVERFIT_SATURATED]) == 0.0
    assert mk.SATURATED_TEXT == "D(x) > 0.9 and D(G(z)) < 0.1"


def test_collect_results_writes_the_derived_columns(tmp_path):
    from gan.study.spec import PlannedRun, StudySpec
    from gan.study.collect import collect_results

    run_dir = tmp_path / "runs" / "a"
    run_dir.mkdir(parents=True)
    rows = [{"step": s, "quality/fcd": f, "probe/D/dead_frac": s / 10} for s, f in ((2, 9.0), (4, 4.0), (6, 2.0),
                                                                                    (8, 1.0))]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run_dir / "summary.json").write_text(json.dumps({"status": "completed", "step": 8, "final": {}, "mean": {}}))
    spec = StudySpec("t", None, {}, {"train.seed": [0]})
    path = collect_results(tmp_path, spec, [PlannedRun("a", {"train.seed": 0}, "a")])
    row = next(csv.DictReader(path.open()))
    assert float(row["tail3/log/quality/fcd"]) == pytest.approx(np.mean(np.log([4.0, 2.0, 1.0])))
    assert float(row["half2/probe/D/dead_frac"]) == pytest.approx(np.mean([0.6, 0.8]))


def test_collect_results_writes_the_median_step_time_and_loading_adds_nothing(tmp_path):
    """median/perf/step_ms is a results.csv column written when results are collected, not when they are read."""
    from gan.study.spec import PlannedRun, StudySpec
    from gan.study.collect import collect_results
    from gan.study.read import load_study_results

    run_dir = tmp_path / "runs" / "a"
    run_dir.mkdir(parents=True)
    rows = [{"step": s, "perf/step_ms": ms} for s, ms in ((1, 500.0), (2, 20.0), (3, 22.0), (4, 21.0))]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run_dir / "summary.json").write_text(json.dumps({"status": "completed", "step": 4, "final": {}, "mean": {}}))
    spec = StudySpec("t", None, {}, {"train.seed": [0]})
    path = collect_results(tmp_path, spec, [PlannedRun("a", {"train.seed": 0}, "a")])
    assert float(next(csv.DictReader(path.open()))["median/perf/step_ms"]) == pytest.approx(21.5)
    assert derived.median_step_ms([{"perf/step_ms": 3.0}]) is None  # no step: not a logged row
    rewritten = path.read_text().replace("median/perf/step_ms", "other")
    path.write_text(rewritten)
    study = load_study_results(tmp_path)
    assert "median/perf/step_ms" not in study.results.rows[0]  # reading a study computes nothing
    assert study.metrics["a"][0]["perf/step_ms"] == 500.0


##### error rates of the rules (simulation; benchmarks/bench_error_rates.py prints the same numbers)


def _bench():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_error_rates.py"
    spec = importlib.util.spec_from_file_location("_bench_error_rates", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_simulated_error_rates_hold():
    bench = _bench()
    studies = 400
    se = math.sqrt(0.05 * 0.95 / studies)  # 0.011
    r = bench.null_study_rates(studies, n=10, seed=0)
    print(f"\nnull ({studies} studies, 10 pairs): per claim {r['per_claim']}, family-wise {r['family_wise']:.3f}")
    assert all(v <= 0.05 + 2 * se for v in r["per_claim"].values()), r
    assert r["family_wise"] <= 0.05 + 2 * se, r
    eq = {k: bench.equivalent_rate(studies, n=25, seed=1, times_margin=k) for k in (0.0, 1.0, 1.5)}
    cov = {n: bench.coverage(n) for n in (5, 10, 25)}
    print(f"'equivalent' at 0 / 1 / 1.5 margins: {eq}; t-interval coverage {cov}")
    assert eq[1.5] <= 0.05 and eq[1.0] <= 0.05 + 2 * se
    assert eq[0.0] >= 0.5  # not vacuous: with this spread a true null is usually shown equivalent
    assert all(v >= 0.93 for v in cov.values()), cov


##### loading


def test_bookkeeping_columns_are_not_axes():
    rows = runs(lambda act, seed: seed_level(seed) + (act == "relu"))
    for i, r in enumerate(rows):
        r |= {"step": 100 + i, "wall_time_s": 1.5 * i, "run_dir": f"runs/{i}"}
    res = make_results(rows)
    assert res.axes == [ACT, "train.seed"]
    assert stats.paired_difference(res, LOG_FCD, {ACT: LEAKY}, {ACT: "relu"}) == pytest.approx([-1.0] * 10)


def test_load_results_parses_csv(tmp_path):
    rows = runs(lambda act, seed, d_norm: 1.0, model__d_norm=("batch", "none"))
    rows[0]["train.lr_d"] = None
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with (tmp_path / "results.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        w.writerows(rows)
    (tmp_path / "study.yaml").write_text("name: t\naxes:\n  model.d_act: [relu, leaky_relu:0.2]\n")
    res = load_results(tmp_path)
    assert res.name == "t" and res.axes[0] == ACT and set(res.axes) == {ACT, "train.seed", "model.d_norm"}
    assert res.levels("model.d_norm") == ["batch", "none"] and res.rows[0]["train.lr_d"] is None
    assert res.rows[0]["train.seed"] == 0 and res.rows[0][LOG_FCD] == 1.0
    with pytest.raises(UserError, match="results.csv"):
        load_results(tmp_path / "nope")


def test_the_reports_rules_quote_the_simulated_error_rates():
    from gan.analysis.claims.evaluate import SIMULATED_ERROR_RATES
    from gan.analysis.claims.registry import MARGINS
    from gan.report.study_report import rules

    text = rules(MARGINS)
    assert text[-1] == SIMULATED_ERROR_RATES and "5.2%" in text[-1] and "rules out" in text[-1]


def test_claim9_range_interaction_reads_negative_values_against_unit_range():
    # LeakyReLU / ReLU log FCD gap: -0.3 with pixels in [-1, 1], 0 in [0, 1] -> the ratio of ratios exp(-0.3)
    def f(act, seed, range):
        return seed_level(seed) + noise(seed + 7 * (range == "[0.0, 1.0]"), act, 0.01) - (
            0.3 if range == "[-1.0, 1.0]" else 0.0) * (act != "relu")
    rows = runs(f, data__range=("[-1.0, 1.0]", "[0.0, 1.0]"), metrics=(LOG_FCD,))
    c = claim(evaluate_claims(make_results(rows)), 9)
    assert c.verdict == "supported (beyond the margin)" and c.effect == pytest.approx(math.exp(-0.3), rel=0.02)
    assert "range=[-1.0, 1.0] divided by the ratio at [0.0, 1.0]" in c.detail and c.n_pairs == 10
    plain = runs(lambda act, seed: seed_level(seed), metrics=(LOG_FCD,))
    assert claim(evaluate_claims(make_results(plain)), 9).verdict == "not tested"


def test_kid_sits_beside_every_quality_claim():
    from gan.analysis.claims.registry import LOG_KID
    rows = runs(lambda act, seed: seed_level(seed) + noise(seed, act, 0.01) + 0.2 * (act == "relu"),
                metrics=(LOG_FCD, LOG_KID))
    c2 = claim(evaluate_claims(make_results(rows)), 2)
    assert c2.kid is not None and c2.kid.n == 10 and math.exp(c2.kid.mean) == pytest.approx(math.exp(-0.2), rel=0.02)
    assert claim(evaluate_claims(make_results(runs(lambda a, s: 1.0, metrics=(LOG_FCD,)))), 2).kid is None
