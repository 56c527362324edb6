"""`gan answer DIR[=LABEL] ... [--out DIR] [--claims-only DIR[=LABEL]]... [--context DIR[=LABEL]]...
[--intervention DIR[=LABEL]]...`: the headline across studies (answer.json, forest plot, answer table, samples)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    an = sub.add_parser("answer", help="forest plot and answer table over several study directories")
    an.add_argument("studies", nargs="+", metavar="STUDY_DIR[=LABEL]",
                    help="study directories; LABEL names its rows (default: the folder's name); every primary "
                         "p-value of the table is one Holm family, and each pair of studies is compared (claim 10)")
    an.add_argument("--out", default="results/answer",
                    help="where answer.json, forest.png and answer.md go (default: results/answer)")
    an.add_argument("--claims-only", action="append", default=[], metavar="STUDY_DIR[=LABEL]",
                    help="a study whose claims join the table and its Holm family but which is compared with no "
                         "other study: one that varies something else (e.g. data.range) on data already in the "
                         "table; repeatable")
    an.add_argument("--context", action="append", default=[], metavar="STUDY_DIR[=LABEL]",
                    help="a study shown beside the answer, in the effect-over-training figure and the mechanism "
                         "table only (no verdict, outside the Holm family), e.g. the same pair trained longer; "
                         "repeatable")
    an.add_argument("--intervention", action="append", default=[], metavar="STUDY_DIR[=LABEL]",
                    help="a study that changes D's strength (claim 12): its LeakyReLU / ReLU FCD ratio against its "
                         "base study's, in the Holm family; the base and the predicted direction come from its "
                         "study.yaml (claim12: {base: DIR, direction: lower | higher}), written before its runs; "
                         "repeatable")
    an.set_defaults(fn=run)


def run(a: argparse.Namespace) -> int:
    from gan.analysis.answer_analysis import write_answer_analysis
    from gan.report.answer import write_answer

    stats = write_answer_analysis(a.studies, a.out, a.context, a.claims_only, a.intervention)
    forest, table = write_answer(a.out)
    print(table.read_text(), end="")
    print(f"forest plot written to {forest}, table to {table}, statistics to {stats}")
    return 0
