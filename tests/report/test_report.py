"""Report written from a synthetic study dir: what it found in words first, then the samples and a narrow claims
table, every figure a non-empty PNG, no crash on missing pieces (no quality rows, a failed run, a single seed, a
missing run dir)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from gan.report import study_report as report
from gan.errors import UserError
from gan.report.figures import FIGURES

from builders_study import LAYERS, PNG_MAGIC, make_study  # noqa: F401 - shared with other tests


def _check_report(study: Path) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a failed figure warns: make it a test failure
        out = report.write_report(study)
    assert out == study / "report" / "report.html"
    md = (study / "report" / "report.md").read_text()
    figures = list((study / "report" / "figures").glob("*.png"))
    assert figures
    for fig in figures:
        data = fig.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 1000, fig
        assert f"(figures/{fig.name})" in md
    html = out.read_text()
    assert html.count("data:image/png;base64,") == len(figures)
    assert "figures/" not in html  # self-contained
    return md


def _row(md: str, start: str) -> str:
    return next(line for line in md.splitlines() if line.startswith(start))


def test_report_full_study(tmp_path):
    study = make_study(tmp_path / "study")
    md = _check_report(study)
    names = {p.stem for p in (study / "report" / "figures").glob("*.png")}
    assert names == set(FIGURES) | {report.SAME_NOISE}
    # it opens with what it found, in words; then what its seeds can decide and what it did not test
    lines = md.splitlines()
    assert lines[0].startswith("On this study's data, at this training length (100 steps): use LeakyReLU(0.2) in D: "
                               "its samples scored better than ReLU's")
    assert "(LeakyReLU / ReLU FCD 0.651x, 95% CI [0.64, 0.663], p (Holm) 0.0117; 9 seed pairs" in lines[0]
    assert lines[0].endswith("Read it with care: it is about early training: the 2 evaluations averaged (steps 50 and "
                             "100) cover most of this 100-step run.")
    assert ("What 9 seed pairs can decide: a claim whose effect is large against the seed-to-seed spread (the "
            "smallest possible sign-flip p is 0.00391; Holm's strictest level for 3 tested claims is 0.0167).") in md
    assert ("Not tested: claims 4, 5, 7, 8, 9 (the study has no width, depth, slope, normalization or pixel-range "
            "axis); claim 6 (no step_time.json in the study dir).") in md
    # the samples, then a six-column claims table of the tested claims (plain metric names), before any figure
    assert md.index("## Samples of both arms") < md.index("## Claims") < md.index("## Figures")
    table = md[md.index("## Claims"):md.index("#### Claims in detail")]
    assert "| # | claim, measured by | verdict | effect [95% CI] | pairs | p (Holm) |" in table
    assert ("| 2 | LeakyReLU in D gives better samples: FCD, mean log of the last 3 evaluations | supported (beyond the "
            "margin) | 0.651x [0.64, 0.663] | 9 | 0.0117 |") in table
    assert _row(table, "| 1 |").startswith("| 1 | LeakyReLU in D gives G denser gradients: Hoyer sparsity of the "
                                           "gradient G receives, 2nd-half mean | supported (beyond the margin) |")
    assert "| 6 |" not in table and "tail3/log" not in table  # untested claims and keys are below
    # the details: keys, margins, how measured, the reading rules
    details = md[md.index("#### Claims in detail"):md.index("### Descriptive metrics")]
    assert _row(details, "| 2 |").startswith("| 2 | FCD, mean log of the last 3 evaluations (tail3/log/quality/fcd) "
                                             "| 0.00391 | ±10% |")
    claim6 = _row(details, "| 6 |")
    assert "bench_act_step.py" in claim6  # never from the study's own step times
    assert "claim 2 ±10%" in details and "claim 1 ±0.01" in details and "How to read this table" in details
    # descriptive rows have a CI but no verdict, under their plain names
    desc = md[md.index("### Descriptive metrics"):md.index("## Groups")]
    assert "| 6 | step time (ms), median over the run |" in desc and "supported" not in desc
    assert "| group | runs | FCD, last value |" in md
    # the mechanism: per-arm values and their paired difference, after the groups, before the figures
    mech = md[md.index("## The mechanism, as measured"):md.index("## Figures")]
    assert md.index("## Groups") < md.index("## The mechanism") and "| baseline | mean/probe/input_grad/hoyer |" in mech
    # the diverged run is listed and its missing samples are mentioned
    assert "## Failed or unfinished runs" in md and "| diverged |" in md
    assert "1 run(s) did not complete (diverged 1): left out of statistics and curves" in md
    html = (study / "report" / "report.html").read_text()
    assert "<title>Study report: synthetic</title>" in html and "<p class=lead>On this study" in html
    assert "<details><summary>Claims in detail" in html


def test_report_missing_pieces(tmp_path):
    """No quality rows, one seed, a run dir deleted: the report still writes and says what is missing."""
    study = make_study(tmp_path / "study", seeds=(0,), quality=False, failed=False)
    gone = next((study / "runs").iterdir())
    for p in sorted(gone.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    gone.rmdir()
    md = _check_report(study)
    assert "quality_over_steps.png" not in md
    assert "Quality: no quality/fcd" in md
    assert "single run, so no band" in md
    assert "No claim could be tested." in md  # one seed: no pair, never a verdict
    assert "| supported" not in md


def test_report_without_results_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="results.csv"):
        report.write_report(tmp_path)


def test_markdown_escapes_pipes():
    blocks = [("h1", "t"), ("table", ["a"], [["x | y"]])]
    assert "x \\| y" in report.to_markdown(blocks, Path("."))
    assert "<td class=''>x | y</td>" in report.to_html(blocks)


def test_report_with_several_axes(tmp_path):
    """Groups are every non-seed axis combination; claims on absent axes stay 'not tested'."""
    study = make_study(tmp_path / "study", acts=("relu", "leaky_relu:0.1", "leaky_relu:0.2"), seeds=(0, 1),
                       extra_axes={"model.d_norm": ["batch", "none"], "model.ndf": [16, 32]})
    md = _check_report(study)
    assert "| relu, d_norm=none, ndf=16 |" in md
    details = md[md.index("#### Claims in detail"):]
    assert "ndf=16 / relu@ndf=32" in _row(details, "| 4 |") and "| 4 | With LeakyReLU, fewer units suffice" in md
    assert "| 8 | The gap depends on D's normalization: FCD, mean log of the last 3 evaluations |" in md


def test_report_pools_figures_over_many_settings(tmp_path):
    """16 settings: figures group by the activation alone; the groups table keeps every setting."""
    study = make_study(tmp_path / "study", seeds=(0, 1), failed=False,
                       extra_axes={"model.d_norm": ["batch", "none"], "model.ndf": [16, 32],
                                   "model.d_extra_layers": [0, 2]})
    md = _check_report(study)
    assert "figures pool every axis but model.d_act" in md
    assert "| relu, d_norm=none, ndf=32, d_extra_layers=2 | 2 |" in md
    assert "| 5 | The benefit of LeakyReLU grows with D's depth:" in md
    assert "d_extra_layers=2 divided by the ratio at 0" in _row(md[md.index("#### Claims in detail"):], "| 5 |")
