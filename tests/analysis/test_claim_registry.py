"""gan/analysis/claims/registry.py is the one owner of the claims: every list, margin and special case derives from
its records, and docs/claims.md's table states the same numbers, words and margins."""

import math
import re

from conftest import REPO
from gan.analysis.claims import registry as reg
from gan.analysis.claims.rules import RULES
from gan.measure import metric_keys as mk


def test_one_record_per_claim_and_every_list_derives_from_them():
    assert [c.number for c in reg.CLAIMS] == list(range(1, 13))
    assert [c.number for c in reg.STUDY_CLAIMS] == list(range(1, 10))
    assert {c.rule for c in reg.STUDY_CLAIMS} <= set(RULES)  # every rule a study runs is code
    assert reg.HEADLINE.number == 2 and [c for c in reg.CLAIMS if c.heads_report] == [reg.HEADLINE]
    assert reg.MARGINS == {1: 0.01, 2: 0.10, 3: 0.002, 4: 0.10, 5: 0.10, 6: 0.03, 7: 0.10, 8: 0.10, 9: 0.10}
    assert reg.LOG_SCALE == frozenset({2, 4, 5, 6, 7, 8, 9, 10, 11, 12})
    assert reg.analysis_margin(2, 0.1) == math.log1p(0.1) and reg.analysis_margin(1, 0.01) == 0.01
    assert reg.margin_text(2, 0.1) == "±10%" and reg.margin_text(3, 0.002) == "±0.002"
    assert [c.number for c in reg.CLAIMS if c.axis_words] == [4, 5, 7, 8, 9]
    assert [c.number for c in reg.CLAIMS if c.pairs != reg.SEED_PAIRS] == [6]
    assert reg.ruled_by(reg.CONTRAST).number == 10 and reg.ruled_by(reg.SATURATION).number == 11
    assert reg.ruled_by(reg.INTERVENTION).variant("lower") == ("less", reg.claim(12).variants[0][2])
    assert all(mk.describe(k) is not None for c in reg.CLAIMS for k in c.keys)


def test_docs_claims_table_states_each_record():
    """docs/claims.md's table: one row per record, in order, its claim's words and its default margin."""
    text = (REPO / "docs" / "claims.md").read_text()
    rows = {int(m.group(1)): m.group(2) for m in re.finditer(r"^\| (\d+) \| (.*)$", text, re.M)}
    assert sorted(rows) == [c.number for c in reg.CLAIMS]
    for c in reg.CLAIMS:
        words = c.text.split(" (")[0]  # the table may leave out a claim's parenthesis
        assert words.replace("FCD ratio", "ratio") in rows[c.number].replace("FCD ratio", "ratio"), c.number
        if c.where == reg.STUDY:
            assert reg.margin_text(c.number, c.margin).lstrip("±") in rows[c.number], c.number
