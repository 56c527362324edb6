"""`gan answer`: the headline across studies. One forest plot and one table over several study directories
(e.g. the Fashion-MNIST study and its mnist5k replication), each study its own Holm family.

    gan answer results/answer/fashion_mnist=Fashion-MNIST results/answer/mnist5k=mnist5k --out results/answer

writes OUT/forest.png and OUT/answer.md (the table the README's "The answer" section quotes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from gan.claims import evaluate_claims
from gan.errors import UserError
from gan.forest import ForestRow, fig_forest, forest_rows
from gan.layout import AnswerDir, StudyDir
from gan.report import fmt, rules_out, to_markdown  # the report owns number formatting and Markdown
from gan.study_data import load_study_results


def parse_study_arg(arg: str) -> tuple[Path, str]:
    """'DIR=LABEL' or 'DIR' (label: the folder's name)."""
    path, _, lab = arg.partition("=")
    return Path(path), lab or Path(path).name


def write_answer(studies: Sequence[str], out: str | Path) -> tuple[Path, Path]:
    """Forest plot and answer table over `studies` ('DIR[=LABEL]'); returns (forest.png, answer.md)."""
    rows = []
    for arg in studies:
        path, lab = parse_study_arg(arg)
        if not StudyDir(path).results_csv.is_file():
            raise UserError(f"{path} has no results.csv: give study directories written by `gan study`")
        study = load_study_results(path)
        rows += forest_rows(lab, study.results, evaluate_claims(study.results, study.step_time))
    if not rows:
        raise UserError("no tested primary claim with a CI in these studies: nothing to plot")
    layout = AnswerDir(out)
    layout.path.mkdir(parents=True, exist_ok=True)
    fig = fig_forest(rows, "The answer: primary effects with 95% CI (grey: margin)")
    fig.savefig(layout.forest_png, dpi=110, bbox_inches="tight")
    md = to_markdown([("table", *answer_table(rows))], layout.path)
    layout.answer_md.write_text(md)
    return layout.forest_png, layout.answer_md


def answer_table(rows: Sequence[ForestRow]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) for the README's answer table: claim, study, metric, effect [CI], pairs, verdict, rules out."""
    head = ["claim", "dataset", "primary metric", "effect [95% CI]", "pairs", "p (Holm)", "verdict",
            "smallest effect ruled out"]
    out = []
    for r in rows:
        c, x = r.claim, ("x" if r.claim.log else "")
        out.append([f"{c.number}. {c.text}", r.study, c.metric,
                    f"{fmt(c.effect)}{x} [{fmt(c.ci_low)}, {fmt(c.ci_high)}]", str(c.n_pairs), fmt(c.p_adjusted),
                    c.verdict, rules_out(c)])
    return head, out
