"""gan/analysis/study_analysis.py: reading a study's analysis never writes it; staleness is by results.csv's content."""

from __future__ import annotations

import json
import os

import pytest

from builders_study import make_study
from gan.analysis.study_analysis import VERSION, ensure_analysis, read_analysis, write_analysis
from gan.errors import UserError
from gan.files.layout import StudyDir
from gan.files.lock import FolderLock


def test_reading_a_missing_old_or_stale_analysis_is_one_sentence_naming_gan_report_and_writes_nothing(tmp_path):
    study = make_study(tmp_path / "s", seeds=(0, 1, 2))
    layout = StudyDir(study)
    with pytest.raises(UserError, match=f"no analysis.json; run `gan report {study}`"):
        read_analysis(study)
    assert not layout.analysis_json.exists()
    write_analysis(study)
    assert read_analysis(study)["version"] == VERSION
    # a checkout gives every file a new mtime in any order: an older-looking analysis of the same results is current
    os.utime(layout.analysis_json, (1, 1))
    assert read_analysis(study)["source"]["results_csv_sha256"].startswith("sha256:")
    before = layout.analysis_json.read_bytes()
    layout.results_csv.write_text(layout.results_csv.read_text().replace(",completed,", ",diverged,", 1))
    with pytest.raises(UserError, match=r"another results.csv \(stale\); run `gan report"):
        read_analysis(study)
    assert layout.analysis_json.read_bytes() == before  # read, never rewritten
    old = json.loads(before) | {"version": VERSION - 1}
    layout.analysis_json.write_text(json.dumps(old))
    with pytest.raises(UserError, match=f"has format {VERSION - 1}, this gan reads {VERSION}"):
        read_analysis(study)


def test_ensure_analysis_rewrites_a_stale_one_under_the_studys_lock_and_is_refused_while_it_is_held(tmp_path):
    study = make_study(tmp_path / "s", seeds=(0, 1, 2))
    layout = StudyDir(study)
    with FolderLock(study, "study folder"):  # a `gan study` collecting results into it
        with pytest.raises(UserError, match="in use by another gan process"):
            ensure_analysis(study)
    assert not layout.analysis_json.exists()
    assert ensure_analysis(study)["study"]["runs"] == 6 and layout.analysis_json.is_file()
    assert not layout.lock.exists()  # released


def test_analysis_json_holds_the_late_trend_per_cell_and_the_report_notes_say_it_in_one_sentence(tmp_path):
    from gan.analysis.effect_curve import late_trends
    from gan.report.study_report import write_report
    from gan.study.read import load_study_results

    study = make_study(tmp_path / "s", steps=500)  # FCD every 50 steps from 250: 300-500 are the last 40%
    write_analysis(study)
    a = read_analysis(study)
    s = load_study_results(study)
    (fcd,) = a["late_trends"]["fcd"]
    (direct,) = late_trends(s.results, s.metrics, "leaky_relu:0.2")
    assert (fcd["first_step"], fcd["last_step"], fcd["evaluations"], fcd["n"]) == (300, 500, 5, 9)
    assert fcd["slopes"] == list(direct.slopes) and fcd["reading"] == direct.reading
    assert a["late_trends"]["kid"] == []  # the fake study logs no KID
    # steps to quality fits from step 1000: a 500-step study has no fit, and its notes say nothing of it
    assert (a["steps_to_quality"]["fcd"]["n"], a["steps_to_quality"]["fcd"]["dropped"]) == (0, 9)
    assert not [n for n in a["effect_notes"] if n.startswith("steps to quality")]
    (note,) = [n for n in a["effect_notes"] if n.startswith("late trend")]
    write_report(study)
    assert note in StudyDir(study).report_md.read_text()
