"""A study's claims tested and decided: one primary test per claim of gan/analysis/claims/registry.py's STUDY_CLAIMS
(its rule from gan/analysis/claims/rules.py), one Holm family over their p-values, then the descriptive rows.

Rules (in plain words under the report's claims table and in README; docs/claims.md states each claim):
- An arm is a value of `model.d_act`, parsed by the activation registry. The claims compare "relu" with one
  LeakyReLU arm: slope 0.2 when the study has it, else the slope closest to 0.2.
- Each claim has ONE primary metric, fixed in its record; it alone gets a p-value and an outcome. Other metrics are
  descriptive: effect and 95% CI, no outcome. A quality claim reads FCD (FID in an Inception-only study), with the
  same contrast on KID beside it.
- Margins (the smallest effect worth having) are fixed before the data: the records' defaults, overridable per
  claim in the study YAML (`margins: {2: 0.05}`); ratio claims take a fraction (0.10 = +-10% of the ratio).
- Holm's correction runs over the primary p-values of the claims the study tests (`gan answer` makes every primary
  row of its table one family: decide_family).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from gan.analysis.claims.registry import (ARMS, CONDITION, EARLY, HEADLINE, LOG_FCD, LOG_FID, LOG_KID, NONINFERIORITY,
                                          STUDY_CLAIMS, claim, margins)
from gan.analysis.claims.result import ClaimResult
from gan.analysis.claims.rules import RELU, RULES, arms_of, baseline_results, descriptive_row, noninferiority_verdict, \
    pick_leaky
from gan.analysis.stats import ALPHA, NO_VARIATION, decide, holm, paired_difference, pairs_needed
from gan.study.results import ACT, Results

# What the rules deliver, from `python benchmarks/bench_error_rates.py` (fixed seeds; tests/analysis/test_stats.py asserts
# the bounds): quoted under the report's claims table. Rerun the benchmark and update this when a rule changes.
SIMULATED_ERROR_RATES = (
    "What these rules deliver, simulated (benchmarks/bench_error_rates.py: 400 null studies of 8 claims at 10 "
    "pairs, log-normal FCD with ~25% seed spread): a false supported / contradicted in 0.3-1.5% of studies per "
    "claim and in 5.2% for any claim of a study (sampling SE 1.1%); 'equivalent' at 25 pairs for a true effect of "
    "0 / 1 / 1.5 margins: 94.8% / 0.5% / 0%; a planted 10% FCD effect (one margin) at 24 pairs is found in 89.8% "
    "of studies (5.8% 'beyond the margin', 83.0% 'size unclear', 1.0% 'below the margin': when the truth sits on "
    "the margin, the CI seldom clears it); the 95% CI covers 95.2%, 95.4% and 94.5% at 5, 10 and 25 pairs. "
    "'inconclusive' says only that the study could not tell: it rules out the effects beyond the 95% CI ('rules "
    "out'), nothing inside it.")


def quality_metric(results: Results) -> str:
    """The quality claims' column: tail-averaged log FCD, or log FID in a study that measured only FID."""
    return LOG_FID if results.has_metric(LOG_FID) and not results.has_metric(LOG_FCD) else LOG_FCD


def evaluate_claims(results: Results, step_time: dict | None = None, alpha: float = ALPHA) -> list[ClaimResult]:
    """Primary results of the study's claims (in the registry's order, Holm-adjusted, decided), then the
    descriptive rows (the arms on the baseline runs, the early horizon, the interactions, each in claim order).

    step_time: the study's step_time.json (benchmarks/bench_act_step.py), claim 6's only data source.
    alpha: the family-wise level of this look (gan/analysis/sequential.py spends less than ALPHA at an interim look).
    """
    s = arms_of(results, step_time, margins(results))
    q = quality_metric(results)
    kid_beside = q == LOG_FCD and results.has_metric(LOG_KID)  # KID in the same features, beside every quality claim
    primary = []
    for c in STUDY_CLAIMS:
        rule = RULES[c.rule]
        result = rule(s, c, q if c.quality else c.metric)
        if c.quality and kid_beside:
            kid = rule(s, c, LOG_KID)
            if kid.test is not None and kid.test.n >= 2:
                result = replace(result, kid=kid.test)
        primary.append(result)
    rows = [descriptive_row(s, c, row) for kind in (ARMS, EARLY, CONDITION) for c in STUDY_CLAIMS
            for row in c.descriptive if row.kind == kind]
    return decide_family(primary, alpha) + [r for r in rows if r is not None]


def headline_pairs(results: Results, metric: str | None = None) -> tuple[np.ndarray, str]:
    """The headline claim's per-seed log ratios (LeakyReLU / ReLU tail FCD, or `metric`) on the baseline runs, and
    the column they read (what `gan answer`'s claims 10 and 12 compare); empty when the study lacks the arms or
    the column."""
    leaky, q = pick_leaky(results.levels(ACT)), metric or quality_metric(results)
    base, _ = baseline_results(results)
    if leaky is None or RELU not in results.levels(ACT) or not base.has_metric(q):
        return np.array([]), q
    return paired_difference(base, q, {ACT: leaky}, {ACT: RELU}), q


def is_headline(c: ClaimResult) -> bool:
    """The primary row of the claim every report's headline answers (the registry's HEADLINE)."""
    return c.primary and c.number == HEADLINE.number


def decide_family(primary: list[ClaimResult], alpha: float = ALPHA) -> list[ClaimResult]:
    """One Holm family: Holm over the claims' finite p-values, then each claim's outcome (`decide_claim`).
    A study's report is one family; `gan answer` makes every primary row of its table one family."""
    tested = [i for i, c in enumerate(primary) if not c.verdict.startswith("not tested") and math.isfinite(c.p)]
    adj = holm([primary[i].p for i in tested])
    level = alpha / max(1, len(tested))
    return [decide_claim(c, adj[tested.index(i)] if i in tested else math.nan, level, alpha)
            for i, c in enumerate(primary)]


def decide_claim(c: ClaimResult, p_adj: float, level: float, alpha: float = ALPHA) -> ClaimResult:
    """c with its Holm p, outcome and the pairs it would need at `level` (Holm's first step). A claim that reads
    "not tested" (with its reason, e.g. claim 12's failed manipulation check) keeps its verdict."""
    if c.verdict.startswith("not tested"):
        return c
    if c.test is not None and c.test.n < 2:  # e.g. a grid not run yet: no pairs is not evidence either way
        return replace(c, verdict="not tested")
    needed = pairs_needed(c.test.sd, c.test.margin, level) if c.test else None
    if claim(c.number).rule == NONINFERIORITY:
        verdict = noninferiority_verdict(c.test, p_adj, c.control, alpha)
    else:  # direction "either" (claim 7, the dataset contrasts): a difference either way supports it
        verdict = decide(c.test, c.direction, p_adj, alpha)
    if verdict == NO_VARIATION:
        verdict += f" ({c.constant})"
    return replace(c, p_adjusted=p_adj, verdict=verdict, needed=needed)
