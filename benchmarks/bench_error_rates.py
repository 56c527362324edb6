"""Error rates of the claims' decision rules, simulated (numpy, fixed seeds; tests/analysis/test_stats.py asserts them).

    python benchmarks/bench_error_rates.py [--studies 400] [--pairs 10]

Each simulated study tests all 8 claims with the rules of gan/analysis/stats.py and gan/analysis/claims/ (rules.py,
evaluate.py; the margins from registry.py): sign-flip p, Holm over the 8 primary p-values, TOST, claim 4's test
against the margin, Page's test for claim 7:
- null: no true effect anywhere (claim 4 at its boundary, a true ratio of exactly 1 + margin); FCD is
  log-normal (skewed, seed spread ~25% like our DCGANs), probe metrics are skewed too (log-normal noise).
  Counted: false supported / contradicted per claim and in any claim of a study (family-wise).
- a true effect of 0, 1 and 1.5 margins: how often the rules call it "equivalent" (should be high, <= 5%,
  and lower still).
- coverage of the 95% t-interval of the mean log FCD ratio at n = 5, 10, 25 (true ratio 0.9).
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan.analysis import stats
from gan.analysis.claims.registry import MARGINS, analysis_margin  # noqa: E402
from gan.analysis.claims.rules import margin_p, noninferiority_verdict, page_p  # noqa: E402

FCD_SIGMA = 0.25  # log-scale SD of one run's FCD around its seed's value (~25% spread)


def _fcd(rng: np.random.Generator, shape: tuple, log_ratio: float = 0.0) -> np.ndarray:
    """Log of log-normal FCDs: 20 * seed effect * run noise, times exp(log_ratio)."""
    seed = rng.normal(0, 0.3, size=shape[:-1] + (1,))
    return np.log(20.0 * np.exp(seed + rng.normal(0, FCD_SIGMA, size=shape) + log_ratio))


def null_pairs(rng: np.random.Generator, claim: int, studies: int, n: int) -> np.ndarray:
    """(studies, n) paired values of one claim's primary contrast under the null."""
    if claim in (1, 3):  # probe metric: seed level + skewed (log-normal) run noise, arms exchangeable
        arms = 0.3 + 0.01 * rng.lognormal(0, 0.8, size=(studies, n, 2))
        return arms[..., 0] - arms[..., 1]
    if claim == 4:  # at the non-inferiority boundary: true ratio 1 + margin
        x = _fcd(rng, (studies, n, 2))
        return x[..., 0] - x[..., 1] + math.log1p(MARGINS[4])
    if claim in (5, 8):  # interaction: (a - b) at hi minus (a - b) at lo
        x = _fcd(rng, (studies, n, 4))
        return (x[..., 0] - x[..., 1]) - (x[..., 2] - x[..., 3])
    x = _fcd(rng, (studies, n, 2))  # claims 2, 6
    return x[..., 0] - x[..., 1]


def _tests(d: np.ndarray, margin: float) -> list[stats.PairedTest]:
    """PairedTest per row of d (studies, n); the sign-flip p in one batched call."""
    p = stats.sign_flip_p(d)
    lo, hi = zip(*(stats.t_interval(row) for row in d))
    sd = d.std(axis=1, ddof=1)
    return [stats.PairedTest(float(row.mean()), lo[i], hi[i], row.size, float(sd[i]), float(p[i]),
                             stats.tost_p(row, margin), margin) for i, row in enumerate(d)]


def null_study_rates(studies: int = 400, n: int = 10, seed: int = 0) -> dict:
    """Per-claim false supported/contradicted rates and the family-wise rate with Holm over the 8 claims."""
    rng = np.random.default_rng(seed)
    tests, pvals = {}, {}
    for c in (1, 2, 3, 4, 5, 6, 8):
        margin = analysis_margin(c, MARGINS[c])
        d = null_pairs(rng, c, studies, n)
        tests[c] = _tests(d, margin)
        # claim 4's p: two-sided t-test of mean = margin; the others: sign-flip p of mean = 0
        pvals[c] = [margin_p(t) if c == 4 else t.p for t in tests[c]]
    x7 = _fcd(rng, (studies, n, 5))  # claim 7: 5 slopes, no trend
    pvals[7] = [page_p(x)[0] for x in x7]
    false = {c: 0 for c in range(1, 9)}
    family = 0
    gc.freeze()  # statsmodels' Holm runs gc.collect() on every call: scan only objects made from here on
    for s in range(studies):
        adj = dict(zip(range(1, 9), stats.holm([pvals[c][s] for c in range(1, 9)])))
        wrong = set()
        for c in (1, 2, 3, 5, 6, 8):
            if stats.decide(tests[c][s], "less", adj[c]).startswith(("supported", "contradicted")):
                wrong.add(c)
        if noninferiority_verdict(tests[4][s], adj[4], None) in ("supported", "contradicted"):
            wrong.add(4)
        if adj[7] < stats.ALPHA:
            wrong.add(7)
        family += bool(wrong)
        for c in wrong:
            false[c] += 1
    gc.unfreeze()
    return {"per_claim": {c: v / studies for c, v in false.items()}, "family_wise": family / studies,
            "studies": studies, "pairs": n}


def equivalent_rate(studies: int = 400, n: int = 25, seed: int = 1, times_margin: float = 1.5,
                    run_sigma: float = 0.07) -> float:
    """Share of studies whose claim 2 is called 'equivalent' when the true FCD log ratio is `times_margin`
    margins. run_sigma 0.07 (a tail-averaged FCD's run noise) makes equivalence reachable at 25 pairs."""
    rng = np.random.default_rng(seed)
    margin = math.log1p(MARGINS[2])
    x = rng.normal(0, run_sigma, size=(studies, n, 2))  # log FCD around a shared seed level (cancels in d)
    d = x[..., 0] - x[..., 1] + times_margin * margin
    tests = _tests(d, margin)
    # a lone claim: Holm leaves its p as it is
    return float(np.mean([stats.decide(t, "less", t.p) == "equivalent" for t in tests]))


def planted_power(studies: int = 400, n: int = 24, ratio: float = 0.9, sd: float = 0.117, seed: int = 3,
                  claims: int = 8) -> dict[str, float]:
    """Claim 2 with a planted FCD ratio (0.9: LeakyReLU 10% better, one margin) at n pairs of paired log-SD `sd`
    (0.117: the answer study's measured spread), Holm over `claims` claims whose other p-values are null
    (uniform). Returns the share of studies per verdict label."""
    rng = np.random.default_rng(seed)
    margin = math.log1p(MARGINS[2])
    d = rng.normal(math.log(ratio), sd, size=(studies, n))
    tests = _tests(d, margin)
    others = rng.uniform(size=(studies, claims - 1))
    labels: dict[str, int] = {}
    for t, rest in zip(tests, others):
        adj = stats.holm([t.p, *rest])[0]
        v = stats.decide(t, "less", adj)
        labels[v] = labels.get(v, 0) + 1
    return {k: v / studies for k, v in sorted(labels.items())}


def coverage(n: int, reps: int = 2000, seed: int = 2, log_ratio: float = math.log(0.9)) -> float:
    """Share of 95% t-intervals of the mean log FCD ratio (n pairs) that contain the true log ratio."""
    rng = np.random.default_rng(seed + n)
    a, b = _fcd(rng, (reps, n, 1), log_ratio)[..., 0], _fcd(rng, (reps, n, 1))[..., 0]
    d = a - b
    half = stats.sps.t.ppf(0.975, n - 1) * d.std(axis=1, ddof=1) / math.sqrt(n)
    return float(np.mean(np.abs(d.mean(axis=1) - log_ratio) <= half))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=400)
    ap.add_argument("--pairs", type=int, default=10)
    a = ap.parse_args()
    r = null_study_rates(a.studies, a.pairs)
    se = math.sqrt(0.05 * 0.95 / a.studies)
    print(f"null, {a.studies} studies x 8 claims, {a.pairs} pairs (sampling SE of a 5% rate: {se:.3f}):")
    print("  false supported/contradicted per claim: "
          + ", ".join(f"{c}: {v:.3f}" for c, v in r["per_claim"].items()))
    print(f"  family-wise (any false verdict, Holm over 8): {r['family_wise']:.3f}")
    print("'equivalent' at 25 pairs, true effect 0 / 1.0 / 1.5 margins: "
          + " / ".join(f"{equivalent_rate(a.studies, times_margin=k):.3f}" for k in (0.0, 1.0, 1.5)))
    power = planted_power(a.studies)
    print("claim 2 with a planted 10% effect (ratio 0.9), 24 pairs, paired log-SD 0.117, Holm over 8: "
          + ", ".join(f"{k} {v:.3f}" for k, v in power.items()))
    print("95% t-interval coverage: " + ", ".join(f"n={n}: {coverage(n):.3f}" for n in (5, 10, 25)))


if __name__ == "__main__":
    main()
