"""gan/files/layout.py owns the paths of a run folder and a study folder; metrics.jsonl has one reader."""

from __future__ import annotations

import ast
import math
from pathlib import Path

from conftest import REPO
from gan.files.layout import RunDir, StudyDir
from gan.tracking.metrics_file import read_metrics

# the file names (folder names such as runs/ or samples/ double as W&B keys, figure names and table headers)
FILE_NAMES = {"config.yaml", "metrics.jsonl", "summary.json", "checkpoints", "last.pt", "final.png", "eval.json",
              "grid.png", "train.log", "study.yaml", "results.csv", "step_time.json", "report.md", "report.html",
              "prev.pt", "sequential.json", "forest.png", "answer.md", "effect_over_training.png",
              "metrics.jsonl.gz", "answer.json", "jobs.json"}  # (".lock" is also a cache-file suffix)


def test_run_and_study_paths_are_the_documented_ones(tmp_path):
    run = RunDir(tmp_path / "r")
    assert run == RunDir(str(tmp_path / "r"))
    rel = {k: getattr(run, k).relative_to(run.path).as_posix() for k in
           ("config", "metrics", "summary", "ckpt_last", "final_samples", "eval_json", "grid", "train_log", "wandb")}
    assert rel == {"config": "config.yaml", "metrics": "metrics.jsonl", "summary": "summary.json",
                   "ckpt_last": "checkpoints/last.pt", "final_samples": "samples/final.png", "eval_json": "eval.json",
                   "grid": "grid.png", "train_log": "train.log", "wandb": "wandb"}
    assert run.step_samples(40).name == "step_000040.png" and run.step_samples(40).parent == run.samples
    assert run.ckpt_prev.relative_to(run.path).as_posix() == "checkpoints/prev.pt" and run.lock.name == ".lock"
    assert set(run.progress) == {run.checkpoints, run.samples, run.metrics, run.metrics_gz, run.summary, run.eval_json}
    assert run.metrics_gz.relative_to(run.path).as_posix() == "metrics.jsonl.gz"
    study = StudyDir(tmp_path / "s")
    assert study.run("a").metrics == tmp_path / "s" / "runs" / "a" / "metrics.jsonl"
    rel = {k: getattr(study, k).relative_to(study.path).as_posix() for k in
           ("study_yaml", "results_csv", "step_time", "report_md", "report_html", "figures")}
    assert rel == {"study_yaml": "study.yaml", "results_csv": "results.csv", "step_time": "step_time.json",
                   "report_md": "report/report.md", "report_html": "report/report.html", "figures": "report/figures"}
    assert study.figure("samples") == tmp_path / "s" / "report" / "figures" / "samples.png"
    assert study.slurm_jobs == tmp_path / "s" / "slurm" / "jobs.json" and study.slurm == study.slurm_jobs.parent


def _path_literals(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [f"{path.name}:{n.lineno}: {n.value!r}" for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and n.value in FILE_NAMES]


def test_no_module_but_the_layout_names_a_run_or_study_file():
    found = [hit for p in sorted((REPO / "gan").rglob("*.py")) if p.name != "layout.py" for hit in _path_literals(p)]
    assert found == []


def test_the_one_metrics_reader_skips_what_is_not_a_row_and_reads_null_as_nan(tmp_path):
    """read_metrics is what training, results collection and the report read (report's own reader is gone)."""
    from gan.study.read import load_study_results

    run = StudyDir(tmp_path).run("a")
    run.path.mkdir(parents=True)
    run.metrics.write_text('{"step": 1, "loss/D": null}\n[1, 2]\n{"step": 2, "loss/D": 0.5}\n{"step": ')
    rows = read_metrics(run.path)
    assert len(rows) == 2 and math.isnan(rows[0]["loss/D"]) and rows[1] == {"step": 2, "loss/D": 0.5}
    StudyDir(tmp_path).results_csv.write_text("run,run_dir,status\na,runs/a,completed\n")
    study = load_study_results(tmp_path)
    assert len(study.metrics["a"]) == 2 and math.isnan(study.metrics["a"][0]["loss/D"])


def test_the_metrics_reader_reads_the_gzipped_rows_a_committed_run_holds(tmp_path):
    """A committed run folder holds metrics.jsonl.gz only (`gan pack`); every stage reads it through read_metrics,
    so `gan report` on a fresh clone sees the curves. The plain file, when there, is the live one and wins."""
    import gzip

    from gan.study.read import load_study_results

    run = StudyDir(tmp_path).run("a")
    run.path.mkdir(parents=True)
    run.metrics_gz.write_bytes(gzip.compress(b'{"step": 1, "quality/fcd": 9.5}\n{"step": 2, "loss/D": null}\n'))
    assert run.metrics_gz.name == "metrics.jsonl.gz" and not run.metrics.exists()
    rows = read_metrics(run.path)
    assert rows[0] == {"step": 1, "quality/fcd": 9.5} and math.isnan(rows[1]["loss/D"]) and len(rows) == 2
    StudyDir(tmp_path).results_csv.write_text("run,run_dir,status\na,runs/a,completed\n")
    assert load_study_results(tmp_path).metrics["a"][0]["quality/fcd"] == 9.5
    run.metrics.write_text('{"step": 3}\n')  # a run training again: its plain file is newer than any pack
    assert read_metrics(run.path) == [{"step": 3}]
