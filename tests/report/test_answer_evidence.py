"""The committed evidence reproduces (no training): `gan report`'s statistics on each committed study's
results.csv give exactly the claims table of its committed report.md, and `gan answer`'s on the studies named in
a committed answer.md's first line give exactly its table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gan.analysis.claims.evaluate import evaluate_claims
from gan.analysis.claims.registry import margin_text, margins
from gan.cli import build_parser
from gan.analysis.study_analysis import claims_section
from gan.analysis.answer_analysis import compute_answer, load_inputs
from gan.report.answer import answer_table, table_rows_of
from gan.report.opening import claims_table, details_table
from gan.study.read import load_study_results

REPO = Path(__file__).resolve().parents[2]
RESULTS = [REPO / "results" / "answer", REPO / "results" / "decide"]
STUDIES = sorted(p.parent for r in RESULTS for p in r.glob("*/results.csv")
                 if (p.parent / "report" / "report.md").is_file())
ANSWERS = sorted(p for r in RESULTS for p in [r / "answer.md", *r.glob("*/answer.md")]
                 if p.is_file() and "Written by `gan answer" in p.read_text())


def table_rows(text: str, start: str, end: str) -> list[list[str]]:
    """The rows of the Markdown table between `start` and `end` whose first cell starts with a digit."""
    table = text[text.index(start):text.index(end)]
    return [[c.strip() for c in line.strip().strip("|").split(" | ")] for line in table.splitlines()
            if line.startswith("| ") and line[2].isdigit()]


@pytest.mark.skipif(not STUDIES, reason="no committed study with a report yet")
@pytest.mark.parametrize("study_dir", STUDIES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_results_reproduce_the_committed_claims_table(study_dir):
    study = load_study_results(study_dir)
    claims = evaluate_claims(study.results, study.step_time)
    margin = margins(study.results)
    text = (study_dir / "report" / "report.md").read_text()
    # the opening table: number, claim and metric, verdict, effect [95% CI], pairs, Holm p (tested claims)
    assert table_rows(text, "\n## Claims\n", "Claims in detail") == claims_table(claims)[1]
    # the details: number, metric key, p, margin, rules out, KID, pairs for 80% power (every primary claim); with
    # the opening table, every column of the old 14-column table but the prose
    _, details = details_table(claims, lambda n: margin_text(n, margin[n]))
    assert [r[:-1] for r in table_rows(text, "Claims in detail", "How to read this table")] == [r[:-1] for r in details]


@pytest.mark.skipif(not ANSWERS, reason="no committed answer written with its command yet")
@pytest.mark.parametrize("answer_md", ANSWERS, ids=lambda p: p.parent.relative_to(REPO).as_posix())
def test_committed_studies_reproduce_the_committed_answer_table(answer_md):
    text = answer_md.read_text()
    # the command on answer.md's first line, read by gan's own parser (no second copy of its flags here)
    command = build_parser().parse_args(re.search(r"Written by `gan (answer .+?)`", text).group(1).split())

    # the answer's statistics (gan/analysis/answer_analysis.py) on each study's claims recomputed from results.csv
    inputs = load_inputs(command.studies, command.claims_only, (), command.intervention,
                         read=lambda path: claims_section(load_study_results(path)), root=REPO)
    _, rows = answer_table(table_rows_of(compute_answer(inputs)))
    committed = table_rows(text, "| claim |", "p (Holm)")
    assert committed == rows
