"""The committed answer (results/answer/<study>/): `gan report`'s statistics on the committed results.csv give
exactly the verdicts, effects and pairs of the committed report.md claims table (no training)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gan.analysis.claims import evaluate_claims
from gan.report.study_report import claims_table
from gan.study.read import load_study_results

ANSWER = Path(__file__).resolve().parents[2] / "results" / "answer"
STUDIES = sorted(p.parent for p in ANSWER.glob("*/results.csv") if (p.parent / "report" / "report.md").is_file())


def committed_table(report_md: Path) -> list[list[str]]:
    """The claims table rows of a report.md, cells stripped (header and rule lines dropped)."""
    text = report_md.read_text()
    table = text[text.index("## Claims"):text.index("How to read this table")]
    return [[c.strip() for c in line.strip().strip("|").split(" | ")] for line in table.splitlines()
            if line.startswith("| ") and line[2].isdigit()]


@pytest.mark.skipif(not STUDIES, reason="no committed answer study yet")
@pytest.mark.parametrize("study_dir", STUDIES, ids=lambda p: p.name)
def test_committed_results_reproduce_the_committed_claims_table(study_dir):
    study = load_study_results(study_dir)
    _, rows = claims_table(evaluate_claims(study.results, study.step_time))
    committed = committed_table(study_dir / "report" / "report.md")
    # number, metric, effect, CI, pairs, p, Holm p, margin, verdict, rules out: every column but the prose
    assert [r[:12] for r in committed] == [r[:12] for r in rows]
