"""`gan report STUDY_DIR [--collect]`: the analysis (analysis.json) and its rendering (report.md / report.html)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("report", help="statistics, figures and verdicts of a study directory")
    r.add_argument("study_dir", metavar="STUDY_DIR", help="directory written by `gan study`")
    r.add_argument("--collect", action="store_true", help="first rewrite results.csv from the run folders with this "
                   "code's derived columns (e.g. after an upgrade adds a column); trains nothing")
    r.set_defaults(fn=run)


def analyse_and_report(study_dir: str | Path) -> Path:
    """results.csv -> analysis.json -> report.md / report.html (+ figures); returns the html path."""
    from gan.analysis.study_analysis import write_analysis
    from gan.report.study_report import write_report

    print(f"analysis: {write_analysis(study_dir)}")
    path = write_report(study_dir)
    print(f"report: {path}")
    return path


def run(a: argparse.Namespace) -> int:
    if a.collect:
        from gan.study.collect import recollect

        print(f"results collected again: {recollect(a.study_dir)}")
    analyse_and_report(a.study_dir)
    return 0
