"""The eight claims of docs/claims.md tested on a study's results: one primary test per claim, the rest descriptive.

Rules (in plain words under the report's claims table and in the README; the tests are gan/stats.py's):
- An arm is a value of `model.d_act`, parsed by the activation registry (gan/activations.py). Claims 1-6 and
  8 compare "relu" with one LeakyReLU arm: slope 0.2 when the study has it, else the slope closest to 0.2.
- Each claim has ONE primary metric, fixed here (PRIMARY); it alone gets a p-value and an outcome. Other
  metrics are descriptive: effect and 95% CI, no outcome.
- Margins (the smallest effect worth having) are fixed before the data: MARGINS, overridable per claim in
  the study YAML (`margins: {2: 0.05}`); ratio claims take a fraction (0.10 = +-10% of the ratio).
- Holm's correction runs over the primary p-values of the claims the study tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np
from scipy import stats as sps

from gan import activations
from gan import metric_keys as mk
from gan.activations import parse_activation
from gan.errors import UserError
from gan.stats import (ACT, ALPHA, PairedTest, Results, cell_means, decide, holm, interaction, is_finite,
                       matches, paired_difference, paired_test, pairs_needed)

NDF, DEPTH, NORM, LR_D = "model.ndf", "model.d_extra_layers", "model.d_norm", "train.lr_d"
RELU = "relu"
LOG_FCD, LOG_FID = mk.tail_log(mk.FCD), mk.tail_log(mk.FID)
EARLY_LOG_FCD = mk.early_log(mk.FCD)  # descriptive: claim 2 at the early horizon
HOYER, DEAD, DEAD_EVAL = mk.half2(mk.IG_HOYER), mk.half2(mk.D_DEAD_FRAC), mk.half2(mk.D_DEAD_FRAC_EVAL)
STEP_TIME = "step_time.json: log(leaky_ms / relu_ms) per round"
STEP_MS_KEYS = (mk.MEDIAN_STEP_MS, mk.final(mk.STEP_MS))  # descriptive only (runs share the CPU)

CLAIMS = {
    1: "LeakyReLU in D gives G denser gradients",
    2: "LeakyReLU in D gives better samples",
    3: "ReLU units in D die; LeakyReLU units do not",
    4: "With LeakyReLU, fewer units suffice (LeakyReLU at ndf/2 matches ReLU at ndf)",
    5: "The benefit of LeakyReLU grows with D's depth",
    6: "LeakyReLU costs more compute",
    7: "The LeakyReLU slope matters",
    8: "The gap depends on D's normalization",
}
# default margins, in the claim's units: absolute for 1 and 3, a fraction of the ratio for the others
MARGINS = {1: 0.01, 2: 0.10, 3: 0.01, 4: 0.10, 5: 0.10, 6: 0.03, 7: 0.10, 8: 0.10}
# What the rules deliver, from `python benchmarks/bench_error_rates.py` (fixed seeds; tests/test_stats.py asserts
# the bounds): quoted under the report's claims table. Rerun the benchmark and update this when a rule changes.
SIMULATED_ERROR_RATES = (
    "What these rules deliver, simulated (benchmarks/bench_error_rates.py: 400 null studies of 8 claims at 10 "
    "pairs, log-normal FCD with ~25% seed spread): a false supported / contradicted in 0.3-1.5% of studies per "
    "claim and in 5.2% for any claim of a study (sampling SE 1.1%); 'equivalent' at 25 pairs for a true effect of "
    "0 / 1 / 1.5 margins: 94.8% / 0.5% / 0%; the 95% CI covers 95.2%, 95.4% and 94.5% at 5, 10 and 25 pairs. "
    "'inconclusive' says only that the study could not tell: it rules out the effects beyond the 95% CI ('rules "
    "out'), nothing inside it.")
LOG_SCALE = {2, 4, 5, 6, 7, 8}  # effects on log FCD / log step time, printed back-transformed as ratios

# (claim, results.csv column, compared on the log scale): the secondary metrics, effect and CI only
DESCRIPTIVE = ((1, mk.mean(mk.IG_HOYER), False), (1, mk.mean(mk.IG_ZERO_FRAC), False),
               (2, mk.final(mk.FCD), True), (2, mk.final(mk.MODES_COVERED), False),
               (3, DEAD_EVAL, False), (3, mk.mean(mk.D_PARAM_GRAD_ZERO_FRAC), False),
               (3, mk.mean(mk.D_GRAD_ZERO_FRAC), False), (6, STEP_MS_KEYS[0], True))
# every results.csv column a claim reads, primary or descriptive (tests check a tiny run writes each)
KEYS_READ = (HOYER, LOG_FCD, LOG_FID, DEAD, DEAD_EVAL, EARLY_LOG_FCD, *(k for _, k, _ in DESCRIPTIVE))


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


##### arms


def leaky_slope(act: Any) -> float | None:
    """'leaky_relu:0.1' -> 0.1, 'leaky_relu' -> the registry's default slope, anything else -> None."""
    try:
        name, arg = parse_activation(str(act))
    except UserError:
        return None
    # the default is read from the registry at call time: a bare `leaky_relu` arm is the slope the model used
    return (activations.DEFAULT_LEAKY_SLOPE if arg is None else arg) if name == "leaky_relu" else None


def slope(act: Any) -> float | None:
    """Claim 7's x: 0 for relu, the slope for leaky_relu, None otherwise."""
    try:
        return 0.0 if parse_activation(str(act))[0] == RELU else leaky_slope(act)
    except UserError:
        return None


def pick_leaky(acts: Sequence[Any]) -> str | None:
    """The LeakyReLU arm the claims compare with ReLU: slope 0.2, else the slope closest to 0.2."""
    leaky = [a for a in acts if leaky_slope(a) is not None]
    target = activations.DEFAULT_LEAKY_SLOPE  # DCGAN's 0.2
    return min(leaky, key=lambda a: (abs(leaky_slope(a) - target), leaky_slope(a)), default=None)


def margins(results: Results) -> dict[int, float]:
    """MARGINS with the study YAML's `margins:` overrides (UserError on a bad one)."""
    given = results.study.get("margins") or {}
    if not isinstance(given, dict):
        raise UserError("study.yaml 'margins' must map claim numbers 1-8 to positive numbers, e.g. margins: {2: 0.05}")
    out = dict(MARGINS)
    for k, v in given.items():
        if str(k) not in {str(c) for c in CLAIMS} or not is_finite(v) or v <= 0:
            raise UserError(f"study.yaml margins: '{k}: {v}' is not a claim number 1-8 with a positive number")
        out[int(k)] = float(v)
    return out


def analysis_margin(number: int, margin: float) -> float:
    """The margin on the analysis scale: log(1 + m) for ratio claims."""
    return math.log1p(margin) if number in LOG_SCALE else margin


##### the claims


def _not_tested(number: int, metric: str, why: str, primary: bool = True) -> ClaimResult:
    return ClaimResult(number, CLAIMS[number], metric, "not tested", why, primary=primary)


def _ref_mean(results: Results, metric: str, sel: dict) -> float:
    vals = [r[metric] for r in results.completed() if matches(r, sel) and is_finite(r.get(metric))]
    return float(np.mean(vals)) if vals else math.nan


def _pairing(results: Results, exclude: set[str]) -> str:
    keys = [a for a in results.axes if a not in exclude]
    return "paired by " + ", ".join(keys) if keys else "nothing to pair by"


def _paired(number: int, results: Results, metric: str, d: np.ndarray, margin: float, what: str,
            exclude: set[str], direction: str = "less", primary: bool = True, log: bool = False,
            baseline: float = math.nan) -> ClaimResult:
    test = paired_test(d, margin)
    detail = f"{what}; {_pairing(results, exclude)}"
    if test.n < 2:
        detail += f"; {test.n} complete pair(s): no test"
    return ClaimResult(number, CLAIMS[number], metric, "", detail, test, primary, log, baseline,
                       p=test.p if primary else math.nan, direction=direction)


def _quality_metric(results: Results) -> str:
    return LOG_FID if results.has_metric(LOG_FID) and not results.has_metric(LOG_FCD) else LOG_FCD


def evaluate_claims(results: Results, step_time: dict | None = None, alpha: float = ALPHA) -> list[ClaimResult]:
    """Primary results of claims 1-8 (in order, Holm-adjusted, decided), then the descriptive rows.

    step_time: the study's step_time.json (benchmarks/bench_act_step.py), claim 6's only data source.
    alpha: the family-wise level of this look (gan/sequential.py spends less than ALPHA at an interim look).
    """
    m = margins(results)
    acts = results.levels(ACT)
    leaky = pick_leaky(acts)
    lk, relu = {ACT: leaky}, {ACT: RELU}
    arms = None if RELU in acts and leaky else (
        f"needs {ACT} values relu and leaky_relu[:slope] (study has: {', '.join(map(str, acts)) or 'none'})")
    q = _quality_metric(results)
    out: list[ClaimResult] = []
    base, where = baseline_results(results)

    def paired_claim(number: int, metric: str, log: bool, what: str) -> ClaimResult:
        why = arms or (None if base.has_metric(metric) else f"no values in column {metric}")
        if why:
            return _not_tested(number, metric, why)
        d = paired_difference(base, metric, lk, relu)
        return _paired(number, base, metric, d, analysis_margin(number, m[number]), what + where, {ACT}, log=log,
                       baseline=_ref_mean(base, metric, relu))

    out.append(paired_claim(1, HOYER, False, f"{leaky} − relu per-sample input-gradient Hoyer, 2nd half, claimed < 0"))
    out.append(paired_claim(2, q, True, f"{leaky} / relu FCD ratio (log FCD, last 3 evals), claimed < 1"))
    out.append(paired_claim(3, DEAD, False, f"{leaky} − relu dead fraction (training view, 2nd half), claimed < 0"))
    if out[-1].test and not arms and base.has_metric(DEAD_EVAL):  # the data view, beside it (no verdict)
        ev = paired_test(paired_difference(base, DEAD_EVAL, lk, relu), m[3])
        out[-1] = replace(out[-1], detail=out[-1].detail + f"; beside it, dead_frac_eval (data view, eval mode): "
                          f"{ev.mean:.3g} [{ev.ci_low:.3g}, {ev.ci_high:.3g}] over {ev.n} pairs")
    out.append(_claim4(results, q, leaky, arms, analysis_margin(4, m[4])))
    out.append(_interaction_claim(5, results, q, leaky, arms, DEPTH, analysis_margin(5, m[5])))
    out.append(_claim6(step_time, analysis_margin(6, m[6])))
    out.append(_claim7(results, q, acts, analysis_margin(7, m[7])))
    out.append(_interaction_claim(8, results, q, leaky, arms, NORM, analysis_margin(8, m[8])))
    out = _decide_all(out, alpha)
    return out + _descriptive(results, base, leaky, arms, m)


def baseline_results(results: Results) -> tuple[Results, str]:
    """The runs claims 1-3 compare: in a `grids:` study, those of the first grid (the baseline cell: results.csv's
    `grids` column names the grids holding each run); otherwise every run. Returns (runs, a note for the detail).

    Pooling a d_norm=none or ndf/2 grid into claim 2 would answer "LeakyReLU averaged over conditions", not
    "LeakyReLU at the default"; the conditions have their own claims (4, 5, 7, 8).
    """
    grids = results.study.get("grids") if isinstance(results.study, dict) else None
    if not grids or not any(r.get("grids") for r in results.rows):
        return results, ""
    first = grids[0].get("name") if isinstance(grids[0], dict) else None
    first = str(first) if first is not None else "grid1"  # gan.study.grid_label
    rows = [r for r in results.rows if first in str(r.get("grids") or "").split(";")]
    return replace(results, rows=rows), f"; runs of the first grid ('{first}') only"


def _decide_all(primary: list[ClaimResult], alpha: float = ALPHA) -> list[ClaimResult]:
    """Holm over the tested claims' p, then each claim's outcome; pairs needed at Holm's first-step level."""
    tested = [i for i, c in enumerate(primary) if c.verdict != "not tested" and math.isfinite(c.p)]
    adj = holm([primary[i].p for i in tested])
    level = alpha / max(1, len(tested))
    out = list(primary)
    for i, c in enumerate(primary):
        if c.verdict == "not tested":
            continue
        if c.test is not None and c.test.n < 2:  # e.g. a grid not run yet: no pairs is not evidence either way
            out[i] = replace(c, verdict="not tested")
            continue
        p_adj = adj[tested.index(i)] if i in tested else math.nan
        needed = pairs_needed(c.test.sd, c.test.margin, level) if c.test else None
        if c.number == 4:
            verdict = noninferiority_verdict(c.test, p_adj, c.control, alpha)
        else:  # claim 7: worst / best >= 1 and direction "greater": a trend either way supports it
            verdict = decide(c.test, c.direction, p_adj, alpha)
        out[i] = replace(c, p_adjusted=p_adj, verdict=verdict, needed=needed)
    return out


def _claim4(results: Results, q: str, leaky: str | None, why: str | None, margin: float) -> ClaimResult:
    widths = [int(v) for v in sorted({v for v in results.levels(NDF) if is_finite(v)})]
    full = [n for n in widths if n % 2 == 0 and n // 2 in widths]
    why = why or (None if full else f"needs a {NDF} axis holding some ndf and ndf/2 (study has: "
                                    f"{', '.join(map(str, widths)) or 'no such axis'})")
    why = why or (None if results.has_metric(q) else f"no values in column {q}")
    if why:
        return _not_tested(4, q, why)
    n = max(full)
    d = paired_difference(results, q, {ACT: leaky, NDF: n // 2}, {ACT: RELU, NDF: n})
    what = (f"{leaky}@ndf={n // 2} / relu@ndf={n} FCD ratio; non-inferiority: supported when the ratio is "
            f"significantly below 1 + margin, contradicted when significantly above it (t-test against the margin)")
    c = _paired(4, results, q, d, margin, what, {ACT, NDF}, log=True)
    ctrl = paired_test(paired_difference(results, q, {ACT: RELU, NDF: n // 2}, {ACT: RELU, NDF: n}), margin)
    if ctrl.n < 2:
        return replace(c, p=margin_p(c.test), detail=c.detail + "; control relu@ndf/2 vs relu@ndf: not tested "
                       "(no pairs): whether halving hurts ReLU is unknown")
    p_ctrl = margin_p(ctrl)
    control = "non-inferior" if p_ctrl < ALPHA and ctrl.mean < margin else "not shown non-inferior"
    return replace(c, p=margin_p(c.test), control=control, detail=c.detail + (
        f"; control relu@ndf={n // 2} / relu@ndf={n}: {math.exp(ctrl.mean):.3g}x "
        f"[{math.exp(ctrl.ci_low):.3g}, {math.exp(ctrl.ci_high):.3g}] over {ctrl.n} pairs, {control} (p={p_ctrl:.3g})"))


def margin_p(test: PairedTest) -> float:
    """Two-sided t-test p of mean = +margin (claim 4: is the ratio on one side of 1 + margin)."""
    if test.n < 2:
        return math.nan
    if test.sd == 0:
        return 0.0 if test.mean != test.margin else 1.0
    t = (test.mean - test.margin) / (test.sd / math.sqrt(test.n))
    return float(2 * sps.t.sf(abs(t), test.n - 1))


def noninferiority_verdict(test: PairedTest, p_adj: float, control: str | None, alpha: float = ALPHA) -> str:
    """Claim 4: non-inferior / inferior by the (Holm) p of mean = margin; non-inferior while ReLU's own
    half-width control is non-inferior too: uninformative (halving hurts neither activation)."""
    if not (math.isfinite(p_adj) and p_adj < alpha):
        return "inconclusive"
    if test.mean > test.margin:
        return "contradicted"
    return "uninformative: ReLU at ndf/2 is non-inferior too" if control == "non-inferior" else "supported"


def page_p(x: np.ndarray) -> tuple[float, bool]:
    """(two-sided p of Page's trend test, whether the values fall with the column order); x: (blocks, levels)."""
    p_up = sps.page_trend_test(x).pvalue  # values rising from the first column to the last
    p_down = sps.page_trend_test(x[:, ::-1]).pvalue
    return min(1.0, 2 * min(p_up, p_down)), p_down < p_up


def _hi_lo(results: Results, axis: str) -> tuple[Any, Any]:
    """The two levels an interaction compares: (not batch, batch) for d_norm, (largest, smallest) for numbers."""
    levels = results.levels(axis)
    if axis == NORM:
        return next((v for v in levels if v != "batch"), None), "batch" if "batch" in levels else None
    num = sorted(v for v in levels if is_finite(v))
    return (num[-1], num[0]) if len(num) >= 2 else (None, None)


def _interaction_claim(number: int, results: Results, q: str, leaky: str | None, why: str | None, axis: str,
                       margin: float) -> ClaimResult:
    hi, lo = _hi_lo(results, axis)
    why = why or (None if hi is not None and lo is not None and hi != lo else
                  f"needs a {axis} axis with {'batch and another value' if axis == NORM else 'at least 2 values'}")
    why = why or (None if results.has_metric(q) else f"no values in column {q}")
    if why:
        return _not_tested(number, q, why)
    d = interaction(results, q, {ACT: leaky}, {ACT: RELU}, axis, hi, lo)
    what = (f"({leaky} / relu FCD ratio) at {axis.split('.')[-1]}={hi} divided by the ratio at {lo}, "
            "claimed < 1 (LeakyReLU's advantage larger there)")
    return _paired(number, results, q, d, margin, what, {ACT, axis}, log=True)


def _claim6(step_time: dict | None, margin: float) -> ClaimResult:
    if not step_time:
        return _not_tested(6, STEP_TIME, "no step_time.json in the study dir: run `python benchmarks/"
                           "bench_act_step.py STUDY.yaml` (times ReLU and LeakyReLU D steps side by side)")
    relu_ms, leaky_ms = np.asarray(step_time["relu_ms"], float), np.asarray(step_time["leaky_ms"], float)
    d = np.log(leaky_ms) - np.log(relu_ms)  # (rounds,): one log ratio of medians per alternating round
    what = (f"{step_time.get('leaky', 'leaky_relu')} / relu {step_time.get('phase', 'D step')} time ratio, "
            f"claimed > 1: medians of {step_time.get('steps', '?')} steps per arm per round, arms alternating in one process "
            f"({step_time.get('machine', 'machine not recorded')}); n = rounds")
    test = paired_test(d, margin)
    return ClaimResult(6, CLAIMS[6], STEP_TIME, "", what, test, True, True, p=test.p, direction="greater")


def _claim7(results: Results, q: str, acts: list[Any], margin: float) -> ClaimResult:
    arms = sorted((a for a in acts if slope(a) is not None), key=slope)
    if len({slope(a) for a in arms}) < 3 or not results.has_metric(q):
        why = f"no values in column {q}" if len(arms) >= 3 else \
            f"needs at least 3 of relu, leaky_relu:<slope> in {ACT} (study has: {', '.join(map(str, acts))})"
        return _not_tested(7, q, why)
    cells = {a: cell_means(results, q, {ACT: a}, {ACT}) for a in arms}
    blocks = sorted(set.intersection(*(set(c) for c in cells.values())))
    if len(blocks) < 2:
        return _not_tested(7, q, f"fewer than 2 blocks (seed x other axes) have every slope in {q}")
    x = np.array([[cells[a][k] for a in arms] for k in blocks])  # (blocks, slopes), log FCD, slope ascending
    p, falls = page_p(x)
    means = x.mean(axis=0)
    best, worst = arms[int(np.argmin(means))], arms[int(np.argmax(means))]
    d = x[:, arms.index(worst)] - x[:, arms.index(best)]
    trend = "falls" if falls else "rises"
    what = (f"Page's trend test over slopes {', '.join(f'{slope(a):g}' for a in arms)} ({len(blocks)} blocks): "
            f"FCD {trend} with the slope, two-sided p={p:.3g}; effect = worst ({worst}) / best ({best}) FCD "
            "ratio, picked after looking (so it is biased up: equivalence from it is conservative)")
    c = _paired(7, results, q, d, margin, what, {ACT}, direction="greater", log=True)
    return replace(c, p=p)


def _descriptive(results: Results, base: Results, leaky: str | None, arms: str | None,
                 m: dict[int, float]) -> list[ClaimResult]:
    """Secondary metrics: effect and CI, no outcome. Claims 1-3's rows on `base` (baseline_results), the
    interactions on every run."""
    out = []
    for number, metric, log in DESCRIPTIVE:
        if arms or not base.has_metric(metric):
            continue
        d = paired_difference(base, metric, {ACT: leaky}, {ACT: RELU}, log=log)
        what = f"{leaky} {'/' if log else '−'} relu" + (" (runs shared the CPU: not a cost measurement)"
                                                        if number == 6 else "")
        out.append(replace(_paired(number, base, metric, d, analysis_margin(number, m[number]), what, {ACT},
                                   primary=False, log=log, baseline=_ref_mean(base, metric, {ACT: RELU})),
                           verdict="descriptive"))
    if not arms and base.has_metric(EARLY_LOG_FCD):  # claim 2 at the early horizon (a log column already)
        d = paired_difference(base, EARLY_LOG_FCD, {ACT: leaky}, {ACT: RELU})
        out.append(replace(_paired(2, base, EARLY_LOG_FCD, d, analysis_margin(2, m[2]),
                                   f"{leaky} / relu FCD ratio at the evaluation nearest step {mk.EARLY_STEP} (early "
                                   "horizon: how fast the arms start, not where they end)", {ACT}, primary=False,
                                   log=True), verdict="descriptive"))
    # claim 8 on dead units, and on the learning rate: the same interaction, descriptive
    for axis, metric, log in ((NORM, DEAD, False), (LR_D, LOG_FCD, True)):
        hi, lo = _hi_lo(results, axis)
        if arms or hi is None or lo is None or not results.has_metric(metric):
            continue
        d = interaction(results, metric, {ACT: leaky}, {ACT: RELU}, axis, hi, lo)
        what = f"({leaky} {'/' if log else '−'} relu) at {axis.split('.')[-1]}={hi} {'/' if log else '−'} at {lo}"
        out.append(replace(_paired(8, results, metric, d, analysis_margin(8, m[8]), what, {ACT, axis},
                                   primary=False, log=log), verdict="descriptive"))
    return out
