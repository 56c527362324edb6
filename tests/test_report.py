"""Report written from a synthetic study dir: claims table first, every figure a non-empty PNG, no crash
on missing pieces (no quality rows, a failed run, a single seed, a missing run dir)."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from gan.report import study_report as report
from gan.study.derived import derived_columns
from gan.errors import UserError
from gan.report.figures import FIGURES

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LAYERS = ("conv1", "conv2", "conv3")


def make_study(root: Path, acts=("relu", "leaky_relu:0.2"), seeds=tuple(range(10)), quality: bool = True,
               failed: bool = True, steps: int = 100, extra_axes: dict | None = None) -> Path:
    """A fake study dir: study.yaml, results.csv, runs/<run>/metrics.jsonl and samples/final.png.

    ReLU runs get more dead units, sparser input gradients and a worse FCD, so claims 1-3 are supported
    (9 complete pairs with the default seeds: enough for the exact sign-flip test after Holm).
    `extra_axes` ({"model.d_norm": ["batch", "none"]}) multiplies the runs; the metrics ignore them.
    """
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    extra_axes = extra_axes or {}
    cells = [{}]
    for key, levels in extra_axes.items():
        cells = [{**c, key: v} for c in cells for v in levels]
    root.mkdir(parents=True, exist_ok=True)
    (root / "study.yaml").write_text(yaml.safe_dump({
        "name": "synthetic", "base": "configs/fashion_mnist.yaml", "overrides": {"train.steps": steps},
        "axes": {"model.d_act": list(acts), **extra_axes, "train.seed": list(seeds)}}, sort_keys=False))
    results = []
    for act in acts:
        relu = act == "relu"
        for seed, cell in ((s, c) for c in cells for s in seeds):
            tag = "".join(f"-{k.rsplit('.', 1)[-1]}_{v}" for k, v in cell.items())
            name = f"fake-D_{act}-G_relu{tag}-s{seed}".replace(":", "_")
            run_dir = root / "runs" / name
            (run_dir / "samples").mkdir(parents=True)
            status = "diverged" if failed and relu and seed == seeds[-1] else "completed"
            last = steps // 2 if status == "diverged" else steps
            rows = []
            for step in range(0, last + 1, 10):
                t = step / steps
                row = {"step": step, "loss/D": 1.2 - 0.3 * t + rng.normal(0, 0.05), "loss/G": 0.8 + 0.5 * t,
                       "D/real_prob": 0.6, "D/fake_prob": 0.4, "perf/step_ms": 20.0 + rng.normal(0, 0.5)}
                if step % 50 == 0:
                    dead = {ly: (0.1 + 0.3 * t * (i + 1) if relu else 0.02) + rng.uniform(0, 0.01)
                            for i, ly in enumerate(LAYERS)}
                    row |= {f"probe/D/{ly}/dead_frac": v for ly, v in dead.items()}
                    row |= {"probe/D/dead_frac": float(np.mean(list(dead.values()))),
                            "probe/D/real/dead_frac": 0.0,
                            "probe/D/grad_zero_frac": (0.5 if relu else 0.0) + rng.uniform(0, 0.02),
                            "probe/D/param_grad_zero_frac": (0.2 if relu else 0.0) + rng.uniform(0, 0.01),
                            "probe/input_grad/hoyer": (0.6 if relu else 0.3) + rng.uniform(0, 0.02),
                            "probe/input_grad/zero_frac": (0.3 if relu else 0.0) + rng.uniform(0, 0.01),
                            "probe/input_grad/norm": 1.0 + rng.uniform(0, 0.1)}
                if quality and step >= steps // 2 and step % 25 == 0 and step <= last:
                    row |= {"quality/fcd": (30.0 if relu else 20.0) * (1.5 - t) + rng.normal(0, 0.5),
                            "quality/modes_covered": 8.0 if relu else 10.0}
                rows.append(row)
            (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": ')
            if status == "completed":
                plt.imsave(run_dir / "samples" / "final.png", rng.uniform(0, 1, (34, 34, 3)))
            final = {f"final/{k}": v for r in rows for k, v in r.items() if k != "step"}
            probe = [k for k in rows[0] if k.startswith("probe/")]
            mean = {f"mean/{k}": float(np.mean([r[k] for r in rows if k in r])) for k in probe}
            if status != "completed":
                final = {}
            results.append({"run": name, "run_dir": f"runs/{name}", "status": status, "model.d_act": act,
                            **cell, "train.seed": seed, "train.steps": steps, **final, **mean,
                            **(derived_columns(rows) if status == "completed" else {})})  # as collect_results
    columns = list(dict.fromkeys(k for r in results for k in r))
    with (root / "results.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(results)
    return root


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
