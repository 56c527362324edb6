"""A study's finished runs as small files for git: a long study survives a machine that loses its working files.

    pack(STUDY)    each finished run (completed or diverged) gets metrics.jsonl.gz beside metrics.jsonl;
                   returns the files git should keep: the study's own files and, per finished run,
                   config.yaml, summary.json, metrics.jsonl.gz and its last sample grid
    unpack(STUDY)  each run with metrics.jsonl.gz but no metrics.jsonl gets it back, so `gan study` counts it
                   as done and `gan report` reads its curves; a run that looks finished but lost its curves is
                   moved to STUDY/set_aside/ so `gan study` retrains it instead of counting a run without curves
    commit(paths)  `git add -f` those files and commit them alone (nothing else staged is swept in)

Runs still training leave nothing in git: a fresh checkout retrains them from scratch.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from gan.errors import UserError
from gan.files.layout import SUMMARY_FILE, RunDir, StudyDir
from gan.tracking.metrics_file import compress_metrics, restore_metrics
from gan.tracking.summary_file import is_finished

REPORT_SUFFIXES = (".md", ".html", ".png")


def study_files(study: StudyDir) -> list[Path]:
    """The study's own small files that exist: its study file, results, analysis, report and step times."""
    own = [study.study_yaml, study.results_csv, study.analysis_json, study.step_time, study.sequential_json]
    report = sorted(p for p in study.report.rglob("*") if p.suffix in REPORT_SUFFIXES) if study.report.is_dir() else []
    return [p for p in own if p.is_file()] + report


def run_files(run: RunDir) -> list[Path]:
    return [p for p in (run.config, run.summary, run.metrics_gz, run.final_samples) if p.is_file()]


def pack(study_dir: str | Path) -> list[Path]:
    """Gzip each finished run's metrics (again only when they changed); return the files git should keep."""
    study = StudyDir(study_dir)
    if not study.runs.is_dir():
        raise UserError(f"'{study_dir}' is not a study directory (no runs/ folder); give the --out of `gan study`")
    keep = study_files(study)
    for folder in sorted(study.runs.glob("*/")):
        run = RunDir(folder)
        if not is_finished(run.path):
            continue
        compress_metrics(run.path)
        keep += run_files(run)
    return keep


def unpack(study_dir: str | Path) -> tuple[int, list[str]]:
    """Restore curves from metrics.jsonl.gz; set aside runs that look finished but have no curves at all.
    Returns (runs restored, names set aside)."""
    n, aside = 0, []
    study = StudyDir(study_dir)
    for folder in sorted(study.runs.glob("*/")):
        run = RunDir(folder)
        if restore_metrics(run.path):
            n += 1
        elif is_finished(run.path) and not run.metrics.is_file():
            dst = study.path / "set_aside" / folder.name
            dst.parent.mkdir(exist_ok=True)
            shutil.move(str(folder), str(dst))
            aside.append(folder.name)
    return n, aside


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise UserError("git is not installed; install it or pack without --git") from None


def commit(paths: list[Path], message: str) -> int:
    """Stage `paths` (even where .gitignore would skip them) and commit those paths only; `{runs}` in the
    message becomes the number of runs whose summary.json is new or changed (none: "<prefix>: study files
    updated (no new run)", the prefix being the message up to its first colon).
    Returns how many of the paths changed (0: nothing to commit, no commit made)."""
    if not paths:
        return 0
    top = _git(["rev-parse", "--show-toplevel"], paths[0].parent)
    if top.returncode != 0:
        raise UserError(f"'{paths[0].parent}' is not inside a git repository; run `git init` or pack without --git")
    root = Path(top.stdout.strip())
    rel = [str(p.resolve().relative_to(root)) for p in paths]
    add = _git(["add", "-f", "--", *rel], root)
    if add.returncode != 0:
        raise UserError(f"git add failed: {add.stderr.strip().splitlines()[-1] if add.stderr.strip() else add.returncode}")
    changed = _git(["diff", "--cached", "--name-only", "--", *rel], root).stdout.split()
    if changed:
        runs = sum(Path(c).name == SUMMARY_FILE for c in changed)
        text = message.format(runs=runs) if runs else message.split(":")[0] + ": study files updated (no new run)"
        done = _git(["commit", "-q", "-m", text, "--", *rel], root)
        if done.returncode != 0:
            raise UserError(f"git commit failed: {done.stderr.strip() or done.stdout.strip()}")
    return len(changed)
