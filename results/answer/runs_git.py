"""Keep a long study's finished runs in git, small files only, so the study survives a machine that loses its
working files between sessions.

    python results/answer/runs_git.py pack   results/answer/fashion_mnist   # then git add the files it lists
    python results/answer/runs_git.py unpack results/answer/fashion_mnist   # on a fresh checkout, before `gan study`

pack: each finished run (summary.json status completed or diverged) gets metrics.jsonl.gz beside its
metrics.jsonl (the .gitignore keeps the plain file, checkpoints, W&B files and logs out of git).
unpack: each run with metrics.jsonl.gz but no metrics.jsonl gets it back, so `gan study` counts the run as done
and `gan report` reads its curves. Runs that were still training are not packed: they rerun from scratch.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from pathlib import Path

FINISHED = {"completed", "diverged"}
RUN_FILES = ("config.yaml", "summary.json", "metrics.jsonl.gz", "samples/final.png")  # what git keeps of a run
STUDY_FILES = ("study.yaml", "results.csv", "report", "step_time.json")


def finished(run: Path) -> bool:
    try:
        return json.loads((run / "summary.json").read_text()).get("status") in FINISHED
    except (OSError, ValueError):
        return False


def pack(study: Path) -> list[Path]:
    """Gzip each finished run's metrics; return the files git should keep (finished runs and study files only:
    a run still training leaves nothing in git, so a fresh checkout retrains it from scratch)."""
    keep = [study / f for f in STUDY_FILES if (study / f).exists()]
    for run in sorted((study / "runs").glob("*/")):
        if not finished(run):
            continue
        src, dst = run / "metrics.jsonl", run / "metrics.jsonl.gz"
        if src.is_file() and (not dst.is_file() or dst.stat().st_mtime < src.stat().st_mtime):
            with src.open("rb") as f, gzip.open(dst, "wb", compresslevel=9, mtime=0) as g:
                shutil.copyfileobj(f, g)
        keep += [run / f for f in RUN_FILES if (run / f).is_file()]
    return keep


def unpack(study: Path) -> int:
    n = 0
    for gz in sorted((study / "runs").glob("*/metrics.jsonl.gz")):
        if not (gz.parent / "metrics.jsonl").is_file():
            with gzip.open(gz, "rb") as g, (gz.parent / "metrics.jsonl").open("wb") as f:
                shutil.copyfileobj(g, f)
            n += 1
    return n


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("pack", "unpack"):
        sys.exit("usage: runs_git.py pack|unpack STUDY_DIR")
    if sys.argv[1] == "pack":
        print("\n".join(str(p) for p in pack(Path(sys.argv[2]))))
    else:
        print(f"unpack: {unpack(Path(sys.argv[2]))} run(s) in {sys.argv[2]}")
