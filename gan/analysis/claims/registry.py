"""Every claim, one record each: the one place a claim's number, words, primary metric, scale, margin, direction,
rule, descriptive rows, the metric keys it reads and its role are written (docs/claims.md states them in words).

    claim(2).margin             # 0.10: the default margin (a fraction of the ratio: log scale)
    HEADLINE.number             # 2: the claim every report opens with (sample quality)
    STUDY_CLAIMS                # claims 1-9: those a study's analysis tests, in order
    margins(results)            # the defaults with the study file's `margins:` overrides

Every list, margin and special case elsewhere derives from these records: the study's claims and their order
(gan/analysis/claims/evaluate.py), the rule each runs (`rule`, a key of gan/analysis/claims/rules.py's RULES for a
study's claims), which margins a study file may override, which claims compare ratios, the descriptive rows, the
metric keys a claim reads (KEYS_READ), the axis a condition claim needs in words, the claim a report opens with and
whose per-seed pairs `gan answer` compares (claims 10 and 12), the claims sized in rounds of a benchmark. Adding a
claim is one record here plus its rule's code (none, when it reuses a rule: claim 9 is claim 8's interaction on
another axis). Torch-free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gan.config.schema import D_ACT, D_EXTRA_LAYERS, D_NORM, DATA_RANGE, LR_D, NDF
from gan.errors import UserError
from gan.measure import metric_keys as mk
from gan.study.results import Results, is_finite

LOG_FCD, LOG_FID, LOG_KID = mk.tail_log(mk.FCD), mk.tail_log(mk.FID), mk.tail_log(mk.KID)
EARLY_LOG_FCD = mk.early_log(mk.FCD)  # descriptive: claim 2 at the early horizon
HOYER, DEAD, DEAD_EVAL = mk.half2(mk.IG_HOYER), mk.half2(mk.D_DEAD_FRAC), mk.half2(mk.D_DEAD_FRAC_EVAL)
STEP_MS_KEYS = (mk.MEDIAN_STEP_MS, mk.final(mk.STEP_MS))  # descriptive only (runs share the CPU)
STEP_TIME = "step_time.json: log(leaky_ms / relu_ms) per round"  # claim 6's data: not a results.csv column

# where a claim is tested: in each study's analysis.json (claims), across studies in answer.json (gan answer), or
# as claim 11's rule in analysis.json's saturation_rule section
STUDY, ANSWER, RULE = "study", "answer", "rule"
# the rules (gan/analysis/claims/rules.py's RULES runs a study's; the others live with their analysis)
PAIRED, NONINFERIORITY, INTERACTION, TIMING, TREND = "paired", "noninferiority", "interaction", "timing", "trend"
CONTRAST, SATURATION, INTERVENTION = "contrast", "saturation rule", "intervention"
# descriptive rows, listed in this order: the two arms on the baseline runs, the early horizon, the interactions
ARMS, EARLY, CONDITION = "arms", "early", "condition"
SEED_PAIRS = "seed pairs"
PREDICTED = "predicted"  # claim 12: the direction its study file predicts (`claim12.direction`)


@dataclass(frozen=True)
class Descriptive:
    """A secondary metric of a claim: effect and 95% CI, no p-value, no verdict."""

    metric: str  # results.csv column
    log: bool = False  # the effect is a ratio (log scale); a raw column (not .../log/...) is logged first
    kind: str = ARMS  # ARMS: LeakyReLU vs ReLU on the baseline runs; EARLY: the same at the early horizon;
    # CONDITION: the interaction with `axis` over every run
    axis: str | None = None
    note: str = ""  # appended to the "how" words (claim 6: the study's own step times are no cost measurement)
    how: str = ""  # the row's words in full, {leaky} filled in (default: built from the arms)

    @property
    def log_values(self) -> bool:
        """Whether the column is logged before pairing (a ratio of a raw column, not of a .../log/... one)."""
        return self.log and "/log/" not in self.metric


@dataclass(frozen=True)
class Claim:
    number: int
    text: str
    metric: str  # the primary metric: the one p-value and verdict (a results.csv column, or what the rule reads)
    log: bool  # scale: True, effects are log ratios read back as ratios (margin: a fraction of the ratio)
    margin: float  # default margin, in the claim's units (absolute, or a fraction of the ratio)
    direction: str  # less | greater | either (stats.decide) | PREDICTED
    rule: str  # how it is tested (a RULES key for a STUDY claim)
    where: str = STUDY
    how: str = ""  # the detail's opening words for a PAIRED rule, {leaky} filled in
    quality: bool = False  # primary = the quality column: FCD (FID in an Inception-only study), KID beside it
    axis: str | None = None  # the config key whose levels the rule compares (condition claims)
    axis_words: str = ""  # that axis in a reader's words ("the study has no width axis")
    beside: tuple[str, str] | None = None  # (column, words): a second view in the detail, no verdict
    descriptive: tuple[Descriptive, ...] = ()
    heads_report: bool = False  # the claim every report's headline answers
    pairs: str = SEED_PAIRS  # what n counts (claim 6: rounds of its benchmark, no runs)
    variants: tuple[tuple[str, str, str], ...] = ()  # claim 12: (study-file direction, test direction, text)

    @property
    def keys(self) -> tuple[str, ...]:
        """Every results.csv column the claim reads, primary, beside it or descriptive."""
        primary = ((self.metric, LOG_FID, LOG_KID) if self.quality else
                   (self.metric,) if self.pairs == SEED_PAIRS else ())  # claim 6 reads step_time.json, no column
        return (*primary, *(self.beside[:1] if self.beside else ()), *(d.metric for d in self.descriptive))

    def variant(self, predicted: str) -> tuple[str, str]:
        """(test direction, text) for a study file's predicted direction (claim 12)."""
        return next((direction, text) for p, direction, text in self.variants if p == predicted)


_QUALITY_HOW = "{leaky} / relu FCD ratio (log FCD, last 3 evals), claimed < 1"
CLAIMS: tuple[Claim, ...] = (
    Claim(1, "LeakyReLU in D gives G denser gradients", HOYER, False, 0.01, "less", PAIRED,
          how="{leaky} − relu per-sample input-gradient Hoyer, 2nd half, claimed < 0",
          descriptive=(Descriptive(mk.mean(mk.IG_HOYER)), Descriptive(mk.mean(mk.IG_ZERO_FRAC)))),
    Claim(2, "LeakyReLU in D gives better samples", LOG_FCD, True, 0.10, "less", PAIRED, how=_QUALITY_HOW,
          quality=True, heads_report=True,
          descriptive=(Descriptive(mk.final(mk.FCD), True), Descriptive(mk.final(mk.MODES_COVERED)),
                       Descriptive(mk.half2(mk.D_SATURATED)), Descriptive(mk.half2(mk.OVERFIT_HELDOUT_GAP)),
                       Descriptive(EARLY_LOG_FCD, True, EARLY, how="{leaky} / relu FCD ratio at the evaluation "
                                   f"nearest step {mk.EARLY_STEP} (early horizon: how fast the arms start, not "
                                   "where they end)"))),
    # claim 3's 0.002 (was 0.01 until issue 30) is a fifth of the dead-fraction effect seen without normalization
    # in the answer study (-0.0096): chosen after that study, as docs/claims.md "Rule changes" says
    Claim(3, "ReLU units in D die; LeakyReLU units do not", DEAD, False, 0.002, "less", PAIRED,
          how="{leaky} − relu dead fraction (training view, 2nd half), claimed < 0",
          beside=(DEAD_EVAL, "dead_frac_eval (data view, eval mode)"),
          descriptive=(Descriptive(DEAD_EVAL), Descriptive(mk.mean(mk.D_PARAM_GRAD_ZERO_FRAC)),
                       Descriptive(mk.mean(mk.D_GRAD_ZERO_FRAC)))),
    Claim(4, "With LeakyReLU, fewer units suffice (LeakyReLU at ndf/2 matches ReLU at ndf)", LOG_FCD, True, 0.10,
          "less", NONINFERIORITY, quality=True, axis=NDF, axis_words="width"),
    Claim(5, "The benefit of LeakyReLU grows with D's depth", LOG_FCD, True, 0.10, "less", INTERACTION,
          quality=True, axis=D_EXTRA_LAYERS, axis_words="depth"),
    Claim(6, "LeakyReLU costs more compute", STEP_TIME, True, 0.03, "greater", TIMING,
          pairs="rounds of benchmarks/bench_act_step.py",
          descriptive=(Descriptive(STEP_MS_KEYS[0], True, note=" (runs shared the CPU: not a cost measurement)"),)),
    Claim(7, "The LeakyReLU slope matters", LOG_FCD, True, 0.10, "either", TREND, quality=True, axis=D_ACT,
          axis_words="slope"),
    Claim(8, "The gap depends on D's normalization", LOG_FCD, True, 0.10, "less", INTERACTION, quality=True,
          axis=D_NORM, axis_words="normalization",
          descriptive=(Descriptive(DEAD, kind=CONDITION, axis=D_NORM),
                       Descriptive(LOG_FCD, True, CONDITION, axis=LR_D))),
    Claim(9, "LeakyReLU helps more when the data has negative values (pixels in [-1, 1] rather than [0, 1])",
          LOG_FCD, True, 0.10, "less", INTERACTION, quality=True, axis=DATA_RANGE, axis_words="pixel-range"),
    Claim(10, "The LeakyReLU / ReLU FCD ratio differs between datasets", LOG_FCD, True, 0.10, "either", CONTRAST,
          where=ANSWER),
    Claim(11, "A short ReLU run predicts the sign of LeakyReLU's effect", mk.window(mk.D_SATURATED), True, 0.10,
          PREDICTED, SATURATION, where=RULE),
    Claim(12, "Changing D's strength moves LeakyReLU's effect", LOG_FCD, True, 0.10, PREDICTED, INTERVENTION,
          where=ANSWER, variants=(
              ("lower", "less", "A stronger D lowers the LeakyReLU / ReLU FCD ratio (12a: LeakyReLU pays where ReLU's "
                                "D saturates)"),
              ("higher", "greater", "A weaker D raises the LeakyReLU / ReLU FCD ratio (12b: no saturation, no "
                                    "LeakyReLU advantage)"))),
)
_BY_NUMBER = {c.number: c for c in CLAIMS}
STUDY_CLAIMS = tuple(c for c in CLAIMS if c.where == STUDY)
HEADLINE = next(c for c in CLAIMS if c.heads_report)
MARGINS = {c.number: c.margin for c in STUDY_CLAIMS}  # the margins a study's analysis.json lists (and may override)
LOG_SCALE = frozenset(c.number for c in CLAIMS if c.log)
# every results.csv column a study's claim reads, primary or descriptive (tests check a tiny run writes each)
KEYS_READ = tuple(dict.fromkeys(k for c in STUDY_CLAIMS for k in c.keys))


def claim(number: int) -> Claim:
    """The record of claim `number` (KeyError: no such claim)."""
    return _BY_NUMBER[int(number)]


def ruled_by(rule: str) -> Claim:
    """The claim a rule tests (for a rule that tests one: SATURATION, CONTRAST, INTERVENTION)."""
    return next(c for c in CLAIMS if c.rule == rule)


def margins(results: Results) -> dict[int, float]:
    """MARGINS with the study YAML's `margins:` overrides (UserError on a bad one)."""
    first, last = STUDY_CLAIMS[0].number, STUDY_CLAIMS[-1].number
    given = results.study.get("margins") or {}
    if not isinstance(given, dict):
        raise UserError(f"study.yaml 'margins' must map claim numbers {first}-{last} to positive numbers, e.g. "
                        f"margins: {{{HEADLINE.number}: 0.05}}")
    out = dict(MARGINS)
    for k, v in given.items():
        if str(k) not in {str(c) for c in MARGINS} or not is_finite(v) or v <= 0:
            raise UserError(f"study.yaml margins: '{k}: {v}' is not a claim number {first}-{last} with a positive "
                            "number")
        out[int(k)] = float(v)
    return out


def analysis_margin(number: int, margin: float) -> float:
    """The margin on the analysis scale: log(1 + m) for ratio claims."""
    return math.log1p(margin) if number in LOG_SCALE else margin


def margin_text(number: int, margin: float) -> str:
    """A margin as a reader sees it: ±10% for a ratio claim, ±0.01 for a difference."""
    return f"±{100 * margin:.3g}%" if number in LOG_SCALE else f"±{margin:.3g}"
