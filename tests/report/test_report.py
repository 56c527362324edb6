"""Report written from a synthetic study dir: claims table first, every figure a non-empty PNG, no crash
on missing pieces (no quality rows, a failed run, a single seed, a missing run dir)."""

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


def test_report_full_study(tmp_path):
    study = make_study(tmp_path / "study")
    md = _check_report(study)
    names = {p.stem for p in (study / "report" / "figures").glob("*.png")}
    assert names == set(FIGURES)
    # the claims table comes first, before any figure
    assert md.index("## Claims") < md.index("## Figures")
    assert md.index("| # | claim |") < md.index("![")
    assert "| 2 | LeakyReLU in D gives better samples | tail3/log/quality/fcd |" in md
    table = md[md.index("## Claims"):md.index("How to read this table")]
    lines = {line.split(" | ")[2]: line for line in table.splitlines() if line.startswith("| 1 |") or
             line.startswith("| 2 |") or line.startswith("| 3 |")}
    assert set(lines) == {"half2/probe/input_grad/hoyer", "tail3/log/quality/fcd", "half2/probe/D/dead_frac"}
    assert all("| supported (beyond the margin) |" in line for line in lines.values())
    assert "| 9 |" in lines["tail3/log/quality/fcd"]  # 10 seeds, one ReLU run diverged
    assert "| not tested |" in md  # no ndf / depth / norm axes
    claim6 = next(line for line in md.splitlines() if line.startswith("| 6 |"))
    assert "| not tested |" in claim6 and "bench_act_step.py" in claim6  # never from the study's own step times
    # descriptive rows have a CI but no verdict; the rules and margins are printed under the table
    desc = md[md.index("### Descriptive metrics"):md.index("## Groups")]
    assert "| 6 | median/perf/step_ms |" in desc and "supported" not in desc
    assert "claim 2 ±10%" in md and "claim 1 ±0.01" in md and "Holm" in md
    # the mechanism: per-arm values and their paired difference, after the groups, before the figures
    mech = md[md.index("## The mechanism, as measured"):md.index("## Figures")]
    assert md.index("## Groups") < md.index("## The mechanism") and "| baseline | mean/probe/input_grad/hoyer |" in mech
    # the diverged run is listed and its missing samples are mentioned
    assert "## Failed or unfinished runs" in md and "| diverged |" in md
    assert "1 run(s) did not complete (diverged 1): left out of statistics and curves" in md



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
    assert "| inconclusive |" in md or "| not tested |" in md
    assert "| supported |" not in md  # one seed: never a verdict


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
    claim4 = next(line for line in md.splitlines() if line.startswith("| 4 |"))
    assert "ndf=16 / relu@ndf=32" in claim4 and "| not tested |" not in claim4
    assert "| 8 | The gap depends on D's normalization | tail3/log/quality/fcd |" in md


def test_report_pools_figures_over_many_settings(tmp_path):
    """16 settings: figures group by the activation alone; the groups table keeps every setting."""
    study = make_study(tmp_path / "study", seeds=(0, 1), failed=False,
                       extra_axes={"model.d_norm": ["batch", "none"], "model.ndf": [16, 32],
                                   "model.d_extra_layers": [0, 2]})
    md = _check_report(study)
    assert "figures pool every axis but model.d_act" in md
    assert "| relu, d_norm=none, ndf=32, d_extra_layers=2 | 2 |" in md
    claim5 = next(line for line in md.splitlines() if line.startswith("| 5 |"))
    assert "| not tested |" not in claim5 and "d_extra_layers=2 divided by the ratio at 0" in claim5
