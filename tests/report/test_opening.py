"""The top of every study report (gan/report/opening.py): what N seed pairs can decide, the untested claims in one
line, a claims table of six columns, and plain metric names (gan/measure/metric_keys.py's plain)."""

from __future__ import annotations

import math

from gan.analysis.claims.registry import claim
from gan.analysis.claims.result import ClaimResult, not_tested
from gan.analysis.stats import PairedTest
from gan.measure import metric_keys as mk
from gan.report.opening import claims_table, min_pairs, seeds_text, untested_line


def _tested(number: int, n: int, verdict: str = "inconclusive", needed: int | None = 30) -> ClaimResult:
    test = PairedTest(0.01, -0.2, 0.2, n, 0.1, 0.5, 0.3, math.log1p(0.1))
    return ClaimResult(number, claim(number).text, mk.tail_log(mk.FCD), verdict, "", test, log=True, p=0.5,
                       p_adjusted=1.0, needed=needed)


def test_two_seed_pairs_are_said_to_decide_nothing_and_the_decided_answer_is_named():
    claims = [_tested(1, 2, "equivalent"), _tested(2, 2, needed=13)]  # an equivalence of 2 pairs is no answer
    text = seeds_text(claims, "fashion_mnist")
    assert text.startswith("What 2 seed pairs can decide: no difference. The smallest p a sign-flip test of 2 pairs "
                           "can give is 0.5 (every pair on the same side), above 0.025, Holm's strictest level for 2 "
                           "tested claims: no claim can be supported or contradicted whatever the data; that takes "
                           "at least 7 pairs. An 'equivalent' here rests on a t-interval of 2 pairs alone.")
    assert "For an effect of one margin with 80% power: claim 1 about 30 pairs, claim 2 about 13 pairs" in text
    assert "the README's decision guide, from results/decide/answer/answer.md" in text
    assert "README" not in seeds_text(claims, "folder")  # the user's own images: no answer elsewhere
    assert min_pairs(1) == 6 and min_pairs(3) == 7  # 2/2^6 = 0.031 < 0.05; 2/2^7 = 0.016 < 0.0167


def test_untested_claims_fold_into_one_line():
    claims = [_tested(2, 8), not_tested(4, "m", "needs a model.ndf axis holding some ndf and ndf/2 (study has: 32)"),
              not_tested(5, "m", "needs a model.d_extra_layers axis with at least 2 values"),
              not_tested(6, "m", "no step_time.json in the study dir: run `python benchmarks/bench_act_step.py`"),
              not_tested(7, "m", "needs at least 3 of relu, leaky_relu:<slope> in model.d_act")]
    assert untested_line(claims) == ("Not tested: claims 4, 5, 7 (the study has no width, depth or slope axis); "
                                     "claim 6 (no step_time.json in the study dir).")
    assert untested_line([_tested(2, 8)]) is None


def test_the_claims_table_has_six_columns_and_plain_metric_names():
    head, rows = claims_table([_tested(2, 8, "equivalent"), not_tested(4, "m", "needs ...")])
    assert len(head) == 6 and len(rows) == 1  # narrow enough for 1280 px; the untested claim is in the line above
    assert rows[0][:3] == ["2", "LeakyReLU in D gives better samples: FCD, mean log of the last 3 evaluations",
                           "equivalent"]
    assert rows[0][3] == "1.01x [0.819, 1.22]"


def test_plain_names_come_from_the_registry():
    assert mk.plain("tail3/log/quality/fcd") == "FCD, mean log of the last 3 evaluations"
    assert mk.plain("half2/D/saturated") == "share of steps with a saturated D, 2nd-half mean"
    assert mk.plain("median/perf/step_ms") == "step time (ms), median over the run"
    assert mk.plain("quality/ref/fcd") == "FCD of real images against the held-out ones (the floor)"
    assert mk.plain("not/a/key") == "not/a/key"
