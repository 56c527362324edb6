"""Keep a long study's finished runs in git, small files only, so the study survives a machine that loses its
working files between sessions.

    python results/answer/runs_git.py pack   results/answer/fashion_mnist   # then git add the files it lists
    python results/answer/runs_git.py unpack results/answer/fashion_mnist   # on a fresh checkout, before `gan study`

pack: each finished run (summary.json status completed or diverged) gets metrics.jsonl.gz beside its
metrics.jsonl (the .gitignore keeps the plain file, checkpoints, W&B files and logs out of git).
unpack: each run with metrics.jsonl.gz but no metrics.jsonl gets it back, so `gan study` counts the run as done
and `gan report` reads its curves. Runs that were still training are not packed: they rerun from scratch.
A run whose summary.json survived but whose curves did not (it finished after the last pack, and a fresh
checkout recovered only some of its files) is moved to STUDY_DIR/set_aside/, so `gan study` retrains it instead
of counting a run without curves as done.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from pathlib import Path

from gan.files.layout import RunDir, StudyDir

FINISHED = {"completed", "diverged"}


def gz(run: RunDir) -> Path:
    return run.metrics.with_name(run.metrics.name + ".gz")


def run_files(run: RunDir) -> list[Path]:
    """What git keeps of a finished run."""
    return [run.config, run.summary, gz(run), run.final_samples]


def study_files(study: StudyDir) -> list[Path]:
    return [study.study_yaml, study.results_csv, study.report, study.step_time]


def finished(run: RunDir) -> bool:
    try:
        return json.loads(run.summary.read_text()).get("status") in FINISHED
    except (OSError, ValueError):
        return False


def pack(study: Path) -> list[Path]:
    """Gzip each finished run's metrics; return the files git should keep (finished runs and study files only:
    a run still training leaves nothing in git, so a fresh checkout retrains it from scratch)."""
    sd = StudyDir(study)
    keep = [p for p in study_files(sd) if p.exists()]
    for folder in sorted(sd.runs.glob("*/")):
        run = RunDir(folder)
        if not finished(run):
            continue
        src, dst = run.metrics, gz(run)
        if src.is_file() and (not dst.is_file() or dst.stat().st_mtime < src.stat().st_mtime):
            with src.open("rb") as f, dst.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as g:
                shutil.copyfileobj(f, g)  # mtime=0: the same metrics give the same bytes (no git churn)
        keep += [p for p in run_files(run) if p.is_file()]
    return keep


def unpack(study: Path) -> tuple[int, list[str]]:
    """Restore curves from metrics.jsonl.gz; set aside runs that look finished but have no curves at all.
    Returns (runs restored, names set aside)."""
    n, aside = 0, []
    for folder in sorted(StudyDir(study).runs.glob("*/")):
        run = RunDir(folder)
        if gz(run).is_file() and not run.metrics.is_file():
            with gzip.open(gz(run), "rb") as g, run.metrics.open("wb") as f:
                shutil.copyfileobj(g, f)
            n += 1
        elif finished(run) and not run.metrics.is_file():
            dst = Path(study) / "set_aside" / folder.name
            dst.parent.mkdir(exist_ok=True)
            shutil.move(str(folder), str(dst))
            aside.append(folder.name)
    return n, aside


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("pack", "unpack"):
        sys.exit("usage: runs_git.py pack|unpack STUDY_DIR")
    if sys.argv[1] == "pack":
        print("\n".join(str(p) for p in pack(Path(sys.argv[2]))))
    else:
        n, aside = unpack(Path(sys.argv[2]))
        print(f"unpack: {n} run(s) in {sys.argv[2]}")
        if aside:
            print(f"set aside (finished, but the curves were lost; they retrain): {', '.join(aside)}")
