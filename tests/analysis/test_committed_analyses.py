"""The committed analyses reproduce: every committed study's analysis.json, recomputed from its results.csv and run
folders (metrics.jsonl.gz) by this code, equals the committed file, and every committed answer's answer.json,
recomputed with the command recorded in it, equals the committed one. Numbers to 1e-9 (relative), strings, verdicts,
list lengths and booleans exactly; a key the code adds that the committed file lacks is allowed (an addition), a
committed key the code no longer writes is not.

A refactor (a claim registry, new run-file readers) must keep this green without touching results/. A change that is
meant to change a committed number is not a refactor: rerun `gan report DIR` / the recorded `gan answer ...`, check
the diff, and commit the regenerated files with it. Everything is recomputed in a temporary copy (the committed
folders are never written). results/rule/ is left out: studies are still running there.

    PYTHONPATH=$PWD python -m pytest tests/analysis/test_committed_analyses.py -m slow
"""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from gan.analysis.answer_analysis import write_answer_analysis
from gan.analysis.study_analysis import write_analysis
from gan.cli import build_parser

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "results"
SKIPPED = RESULTS / "rule"  # studies still running there


def _committed(name: str) -> list[Path]:
    return sorted(p.parent.relative_to(REPO) for p in RESULTS.rglob(name) if not p.is_relative_to(SKIPPED))


STUDIES = [d for d in _committed("analysis.json") if (REPO / d / "results.csv").is_file()]
ANSWERS = _committed("answer.json")
REL, ABS = 1e-9, 1e-12


def differences(committed: Any, recomputed: Any, path: str = "") -> list[str]:
    """Where `recomputed` is not `committed`: every committed key, item, number (REL/ABS), string and flag."""
    if isinstance(committed, dict):
        if not isinstance(recomputed, dict):
            return [f"{path}: a dict was committed, recomputed {type(recomputed).__name__}"]
        return [d for k, v in committed.items()
                for d in (differences(v, recomputed[k], f"{path}/{k}") if k in recomputed
                          else [f"{path}/{k}: committed, no longer written"])]
    if isinstance(committed, list):
        if not isinstance(recomputed, list) or len(recomputed) != len(committed):
            n = len(recomputed) if isinstance(recomputed, list) else type(recomputed).__name__
            return [f"{path}: {len(committed)} items committed, recomputed {n}"]
        return [d for i, (a, b) in enumerate(zip(committed, recomputed)) for d in differences(a, b, f"{path}[{i}]")]
    number = (int, float)
    if isinstance(committed, number) and not isinstance(committed, bool):
        if isinstance(recomputed, number) and not isinstance(recomputed, bool) and (
                (math.isnan(committed) and math.isnan(recomputed))
                or math.isclose(committed, recomputed, rel_tol=REL, abs_tol=ABS)):
            return []
        return [f"{path}: committed {committed!r}, recomputed {recomputed!r}"]
    if committed != recomputed or type(committed) is not type(recomputed):
        return [f"{path}: committed {str(committed)[:120]!r}, recomputed {str(recomputed)[:120]!r}"]
    return []


def _assert_same(committed_path: Path, recomputed_path: Path, regenerate: str) -> None:
    diff = differences(json.loads(committed_path.read_text()), json.loads(recomputed_path.read_text()))
    assert not diff, (f"{committed_path.relative_to(REPO)}: {len(diff)} value(s) differ from this code's "
                      f"({regenerate} rewrites it; commit it only if the change is meant):\n  " + "\n  ".join(diff[:30]))


@pytest.fixture(scope="module")
def recomputed(tmp_path_factory) -> Path:
    """A copy of the committed studies (not their rendered reports) with every analysis.json recomputed in it."""
    root = tmp_path_factory.mktemp("committed")
    for study in STUDIES:
        shutil.copytree(REPO / study, root / study, ignore=shutil.ignore_patterns("report"))
        (root / study / "analysis.json").unlink()
        write_analysis(root / study)
    return root


def test_there_are_committed_studies_and_answers():
    assert len(STUDIES) >= 6 and len(ANSWERS) >= 2, (STUDIES, ANSWERS)


def test_differences_catches_a_changed_number_verdict_and_missing_key():
    a = {"claims": [{"verdict": "supported", "p": 0.0014, "ci": [1.0, 2.0]}], "version": 4}
    assert differences(a, {**a, "new": 1}) == []  # an addition
    assert differences(a, json.loads(json.dumps(a).replace("0.0014", "0.0014000000001"))) == []
    assert differences(a, json.loads(json.dumps(a).replace("0.0014", "0.00141"))) == [
        "/claims[0]/p: committed 0.0014, recomputed 0.00141"]
    assert differences(a, json.loads(json.dumps(a).replace("supported", "inconclusive"))) == [
        "/claims[0]/verdict: committed 'supported', recomputed 'inconclusive'"]
    assert differences(a, {"claims": a["claims"]}) == ["/version: committed, no longer written"]
    assert differences(a, {**a, "claims": []}) == ["/claims: 1 items committed, recomputed 0"]


@pytest.mark.parametrize("study", STUDIES, ids=str)
def test_committed_analysis_reproduces(study, recomputed):
    _assert_same(REPO / study / "analysis.json", recomputed / study / "analysis.json", f"`gan report {study}`")


@pytest.mark.parametrize("answer", ANSWERS, ids=str)
def test_committed_answer_reproduces(answer, recomputed, monkeypatch):
    committed = json.loads((REPO / answer / "answer.json").read_text())
    command = re.fullmatch(r"gan (answer .+)", committed["written_by"]).group(1)
    a = build_parser().parse_args(command.split())  # gan's own parser: no second copy of its flags here
    monkeypatch.chdir(recomputed)  # the recorded paths are relative to the repository's root
    path = write_answer_analysis(a.studies, a.out, a.context, a.claims_only, a.intervention)
    _assert_same(REPO / answer / "answer.json", recomputed / path, f"`{committed['written_by']}`")
