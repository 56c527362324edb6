"""Statistics and claims (gan/stats.py, gan/claims.py) on synthetic numbers with known answers."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from gan import stats
from gan.claims import FCD, ClaimResult, evaluate_claims, pick_leaky
from gan.errors import UserError
from gan.stats import ACT, Estimate, make_results

SEEDS = (0, 1, 2, 3, 4)
PAIRED = ("mean/probe/input_grad/hoyer", "mean/probe/input_grad/zero_frac", FCD, "final/quality/modes_covered",
          "mean/probe/D/dead_frac", "mean/probe/D/param_grad_zero_frac", "mean/probe/D/grad_zero_frac")


def runs(value, acts=("relu", "leaky_relu:0.2"), seeds=SEEDS, **axes) -> list[dict]:
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
                             **{m: v for m in PAIRED}, "final/perf/step_ms": 10.0 + seed})
    return rows


def by_metric(claims, number) -> dict[str, ClaimResult]:
    return {c.metric: c for c in claims if c.number == number}


def seed_noise(seed: int) -> float:
    return [0.0, 7.0, -3.0, 12.0, 5.0, -8.0, 2.0][seed]  # large run-to-run spread, identical in both arms of a pair


##### estimates


def test_bootstrap_mean_small_samples_and_determinism():
    assert stats.bootstrap_mean([]).n == 0 and math.isnan(stats.bootstrap_mean([]).mean)
    one = stats.bootstrap_mean([3.0, math.nan, None])
    assert (one.mean, one.n) == (3.0, 1) and math.isnan(one.ci_low) and math.isnan(one.ci_high)
    assert stats.bootstrap_mean([2.0, 2.0, 2.0]) == Estimate(2.0, 2.0, 2.0, 3, (2.0, 2.0, 2.0))
    x = [1.0, 2.5, 0.3, 4.0, 2.2]
    a, b = stats.bootstrap_mean(x), stats.bootstrap_mean(x)
    assert a == b
    assert a.mean == pytest.approx(np.mean(x)) and min(x) <= a.ci_low < a.mean < a.ci_high <= max(x)


def test_expanded_interval_keeps_noise_from_deciding():
    assert stats.expanded_level(5) == pytest.approx(0.998, abs=5e-4)
    assert 0.95 < stats.expanded_level(500) < 0.952
    rng = np.random.default_rng(0)
    x = rng.normal(size=8)
    res = stats.bootstrap_mean(x)
    t = stats.sps.t.ppf(0.975, 7) * x.std(ddof=1) / math.sqrt(8)  # the t interval's half width
    assert res.ci_high - res.ci_low == pytest.approx(2 * t, rel=0.15)
    # pure noise, 6 pairs: a plain percentile CI decides ~14% of the time, the expanded one ~6% (12 of 200 here)
    rng = np.random.default_rng(2)
    decided = [stats.verdict(stats.bootstrap_mean(rng.normal(size=6)), "less") for _ in range(200)]
    assert sum(v != "inconclusive" for v in decided) <= 20


def test_bootstrap_band_needs_two_runs_per_step():
    m = np.array([[1.0, 2.0, np.nan], [3.0, np.nan, np.nan]])
    mean, lo, hi = stats.bootstrap_band(m)
    assert mean[:2].tolist() == [2.0, 2.0] and math.isnan(mean[2])
    assert 1.0 <= lo[0] <= 2.0 <= hi[0] <= 3.0
    assert math.isnan(lo[1]) and math.isnan(hi[2])


def test_verdict_rules():
    e = lambda lo, hi: Estimate(0.0, lo, hi, stats.MIN_PAIRS)  # noqa: E731
    assert stats.verdict(e(-2, -1), "less") == "supported"
    assert stats.verdict(e(1, 2), "less") == "contradicted"
    assert stats.verdict(e(-1, 1), "less") == "inconclusive"
    assert stats.verdict(e(1, 2), "greater") == "supported"
    assert stats.verdict(e(0, 0), "greater") == "inconclusive"  # identical arms
    assert stats.verdict(e(1.1, 1.3), "greater", null=1.0) == "supported"
    assert stats.verdict(e(-2, -1), "two-sided") == "supported"
    assert stats.verdict(Estimate(1.0, math.nan, math.nan, 1), "less") == "inconclusive"
    assert stats.verdict(Estimate(-1.5, -2, -1, stats.MIN_PAIRS - 1), "less") == "inconclusive"  # too few pairs


def test_pick_leaky_prefers_default_slope():
    assert pick_leaky(["relu", "leaky_relu:0.01", "leaky_relu:0.2", "leaky_relu:0.3"]) == "leaky_relu:0.2"
    assert pick_leaky(["relu", "leaky_relu:0.01", "leaky_relu:0.25"]) == "leaky_relu:0.25"
    assert pick_leaky(["relu", "leaky_relu"]) == "leaky_relu"
    assert pick_leaky(["relu", "elu"]) is None


def test_bookkeeping_columns_are_not_axes():
    rows = runs(lambda act, seed: seed_noise(seed) + (act == "relu"))
    for i, r in enumerate(rows):
        r |= {"step": 100 + i, "wall_time_s": 1.5 * i, "run_dir": f"runs/{i}"}
    res = make_results(rows)
    assert res.axes == [ACT, "train.seed"]
    assert stats.paired_difference(res, FCD, {ACT: "leaky_relu:0.2"}, {ACT: "relu"}).n == len(SEEDS)


def test_pairing_by_seed_removes_seed_spread():
    rows = make_results(runs(lambda act, seed: seed_noise(seed) + (1.0 if act == "relu" else 0.0)))
    d = stats.paired_difference(rows, FCD, {ACT: "leaky_relu:0.2"}, {ACT: "relu"})
    assert (d.mean, d.ci_low, d.ci_high, d.n) == (-1.0, -1.0, -1.0, len(SEEDS))
    arms = stats.arm_summary(rows, FCD)
    assert arms["relu"].mean == pytest.approx(1 + np.mean([seed_noise(s) for s in SEEDS]))
    assert arms["relu"].ci_low < 0 < arms["leaky_relu:0.2"].ci_high  # unpaired, the seed spread hides the shift


##### claims 1-3


def test_identical_arms_are_inconclusive():
    claims = evaluate_claims(make_results(runs(lambda act, seed: seed_noise(seed))))
    for number in (1, 2, 3):
        for c in by_metric(claims, number).values():
            assert (c.verdict, c.effect, c.ci_low, c.ci_high, c.n_pairs) == ("inconclusive", 0.0, 0.0, 0.0, len(SEEDS))


def test_clear_shift_is_supported_and_reversed_is_contradicted():
    rng = np.random.default_rng(1)
    noise = {(a, s): rng.normal(0, 0.01) for a in ("relu", "leaky_relu:0.2") for s in SEEDS}
    # every metric is 1.0 higher under relu: lower-is-better claims hold, modes_covered goes the wrong way
    good = make_results(runs(lambda act, seed: (1.0 if act == "relu" else 0.0) + noise[act, seed]))
    c = {**by_metric(evaluate_claims(good), 1), **by_metric(evaluate_claims(good), 2),
         **by_metric(evaluate_claims(good), 3)}
    assert c[FCD].verdict == "supported" and c[FCD].effect == pytest.approx(-1.0, abs=0.05)
    assert c[FCD].ci_high < 0 and c[FCD].n_pairs == len(SEEDS)
    assert c["final/quality/modes_covered"].verdict == "contradicted"
    assert all(c[m].verdict == "supported" for m in PAIRED if m != "final/quality/modes_covered")
    bad = make_results(runs(lambda act, seed: (1.0 if act != "relu" else 0.0) + noise[act, seed]))
    assert by_metric(evaluate_claims(bad), 2)[FCD].verdict == "contradicted"


def test_missing_axis_or_metric_is_not_tested():
    only_leaky = make_results(runs(lambda act, seed: 1.0, acts=("leaky_relu:0.2",)))
    claims = evaluate_claims(only_leaky)
    assert {c.verdict for c in claims} == {"not tested"}
    assert "relu" in claims[0].detail
    rows = runs(lambda act, seed: seed_noise(seed))
    for r in rows:
        del r["mean/probe/input_grad/hoyer"]
    c = by_metric(evaluate_claims(make_results(rows)), 1)
    assert c["mean/probe/input_grad/hoyer"].verdict == "not tested"
    assert c["mean/probe/input_grad/zero_frac"].verdict == "inconclusive"
    # the axes the basic study lacks
    claims = evaluate_claims(make_results(rows))
    assert [c.verdict for c in claims if c.number in (4, 5, 7, 8)] == ["not tested"] * 5


def test_failed_runs_are_left_out_and_few_pairs_decide_nothing():
    rows = runs(lambda act, seed: (1.0 if act == "relu" else 0.0) + 0.01 * seed, seeds=range(7))
    for r in rows:
        if r[ACT] == "relu" and r["train.seed"] >= 5:
            r["status"], r[FCD] = "diverged", float("nan")
    c = by_metric(evaluate_claims(make_results(rows)), 2)[FCD]
    assert c.n_pairs == 5 and c.verdict == "supported"
    four = [r for r in rows if r["train.seed"] < 4]  # 4 pairs, all agreeing: still too few
    c = by_metric(evaluate_claims(make_results(four)), 2)[FCD]
    assert (c.n_pairs, c.verdict, c.effect) == (4, "inconclusive", -1.0) and "needs at least 5" in c.detail
    one = [r for r in rows if r["train.seed"] == 0]
    c = by_metric(evaluate_claims(make_results(one)), 2)[FCD]
    assert (c.n_pairs, c.verdict) == (1, "inconclusive") and "no CI" in c.detail


##### claims 4-8


def test_claim4_non_inferiority():
    def fcd(act, seed, ndf, equal=True):
        base = {32: 10.0, 16: 14.0}[ndf] if act == "relu" else {32: 9.0, 16: 10.0 if equal else 13.0}[ndf]
        return base + 0.1 * seed_noise(seed)
    matched = evaluate_claims(make_results(runs(fcd, model__ndf=(16, 32))))
    c = by_metric(matched, 4)[FCD]
    assert (c.verdict, c.effect, c.n_pairs) == ("supported", pytest.approx(0.0), len(SEEDS))
    worse = evaluate_claims(make_results(runs(lambda *a, **k: fcd(*a, **k, equal=False), model__ndf=(16, 32))))
    c = by_metric(worse, 4)[FCD]
    assert (c.verdict, c.effect) == ("contradicted", pytest.approx(3.0))  # margin = 10% of 10 = 1
    assert "margin" in c.detail


def test_claim5_depth_gap_difference():
    # gap relu - leaky = 1 + depth: 1 at depth 0, 3 at depth 2 -> effect 2
    data = runs(lambda act, seed, d_extra_layers: seed_noise(seed) + (1.0 + d_extra_layers) * (act == "relu"),
                model__d_extra_layers=(0, 1, 2))
    c = by_metric(evaluate_claims(make_results(data)), 5)[FCD]
    assert (c.verdict, c.effect, c.ci_low, c.n_pairs) == ("supported", 2.0, 2.0, len(SEEDS))


def test_claim6_step_time_ratio():
    rows = runs(lambda act, seed: 1.0)
    for r in rows:
        r["final/perf/step_ms"] = (20.0 + seed_noise(r["train.seed"])) * (1.1 if r[ACT] != "relu" else 1.0)
    c = by_metric(evaluate_claims(make_results(rows)), 6)["final/perf/step_ms"]
    assert c.verdict == "supported" and c.effect == pytest.approx(1.1) and c.ci_low == pytest.approx(1.1)


def test_claim7_slopes_friedman():
    slopes = ("leaky_relu:0.01", "leaky_relu:0.1", "leaky_relu:0.2")
    order = {"leaky_relu:0.01": 3.0, "leaky_relu:0.1": 2.0, "leaky_relu:0.2": 1.0}
    ordered = runs(lambda act, seed: order[act] + seed_noise(seed), acts=slopes)
    c = by_metric(evaluate_claims(make_results(ordered)), 7)[FCD]
    assert c.verdict == "supported" and c.effect == pytest.approx(2.0) and "Friedman" in c.detail
    flat = runs(lambda act, seed: seed_noise(seed) + 0.01 * ((seed + len(act)) % 3), acts=slopes)
    assert by_metric(evaluate_claims(make_results(flat)), 7)[FCD].verdict == "inconclusive"
    few = runs(lambda act, seed: order[act] + seed_noise(seed), acts=slopes, seeds=(0, 1, 2, 3))
    c = by_metric(evaluate_claims(make_results(few)), 7)[FCD]
    assert c.verdict == "inconclusive" and f"at least {stats.MIN_PAIRS} blocks" in c.detail
    one = runs(lambda act, seed: 1.0, acts=("relu", "leaky_relu:0.2"))
    assert by_metric(evaluate_claims(make_results(one)), 7)[FCD].verdict == "not tested"


def test_claim8_interaction_known_answer():
    # gap relu - leaky: 1 + s/10 under batch, 5 + 3 s/10 under none, with seed s
    # -> per-seed interaction 4 + 2 s/10 = 4.0, 4.2, 4.4, 4.6, 4.8: mean 4.4
    def fcd(act, seed, d_norm):
        gap = (1.0 + seed / 10) if d_norm == "batch" else (5.0 + 3 * seed / 10)
        return seed_noise(seed) + 20.0 + (gap if act == "relu" else 0.0)
    data = runs(fcd, model__d_norm=("batch", "none"))
    est = stats.interaction(make_results(data), FCD, {ACT: "relu"}, {ACT: "leaky_relu:0.2"}, "model.d_norm",
                            "none", "batch")
    assert est.mean == pytest.approx(4.4) and est.n == 5 and 4.0 <= est.ci_low < 4.4 < est.ci_high <= 4.8
    c8 = [c for c in evaluate_claims(make_results(data)) if c.number == 8]
    assert c8[0].verdict == "supported" and c8[0].effect == pytest.approx(4.4) and "d_norm=none" in c8[0].detail
    assert c8[1].verdict == "not tested" and "lr_d" in c8[1].detail
    # the same interaction for the learning rate; reversed direction is contradicted
    lr = runs(lambda act, seed, lr_d: seed_noise(seed) + (1.0 if lr_d > 1e-3 else 3.0) * (act == "relu"),
              train__lr_d=(2e-4, 2e-3))
    c8 = [c for c in evaluate_claims(make_results(lr)) if c.number == 8]
    assert c8[0].verdict == "not tested" and (c8[1].verdict, c8[1].effect) == ("contradicted", -2.0)


##### loading


def test_load_results_parses_csv(tmp_path):
    rows = runs(lambda act, seed, d_norm: 1.0, model__d_norm=("batch", "none"))
    rows[0]["train.lr_d"] = None
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with (tmp_path / "results.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        w.writerows(rows)
    (tmp_path / "study.yaml").write_text("name: t\naxes:\n  model.d_act: [relu, leaky_relu:0.2]\n")
    res = stats.load_results(tmp_path)
    assert res.name == "t" and res.axes[0] == ACT and set(res.axes) == {ACT, "train.seed", "model.d_norm"}
    assert res.levels("model.d_norm") == ["batch", "none"] and res.rows[0]["train.lr_d"] is None
    assert res.rows[0]["train.seed"] == 0 and res.rows[0][FCD] == 1.0
    with pytest.raises(UserError, match="results.csv"):
        stats.load_results(tmp_path / "nope")
