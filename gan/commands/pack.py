"""`gan pack STUDY_DIR ... [--unpack] [--git] [--every S]`: keep a long study's finished runs as small files in git.

    gan pack results/decide/horizon                 # gzip finished runs' curves, list the files git should keep
    gan pack results/decide/* --git --every 180     # ... and commit them every 3 minutes until Ctrl-C
    gan pack results/decide/horizon --unpack        # on a fresh clone, before `gan study` resumes the study
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pack", help="keep a study's finished runs as small files for git (or restore them)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("study_dirs", nargs="+", metavar="STUDY_DIR", help="directories written by `gan study`")
    p.add_argument("--unpack", action="store_true", help="restore metrics.jsonl from metrics.jsonl.gz (a fresh "
                   "clone), so `gan study` counts those runs as done and `gan report` reads their curves")
    p.add_argument("--git", action="store_true", help="git add -f the kept files and commit them (only them)")
    p.add_argument("--every", type=float, default=0.0, metavar="SECONDS",
                   help="repeat every SECONDS until Ctrl-C (with --git: commit as runs finish); 0 = once")
    p.set_defaults(fn=run)


def pack_once(study_dirs: list[str], git: bool) -> None:
    from gan.files.layout import SUMMARY_FILE
    from gan.study.small_files import commit, pack

    kept = [p for d in study_dirs for p in pack(d)]
    runs = sum(p.name == SUMMARY_FILE for p in kept)
    if not git:
        print("\n".join(str(p) for p in kept))
        print(f"pack: {runs} finished run(s) in {len(study_dirs)} study folder(s); {len(kept)} file(s) to keep")
        return
    changed = commit(kept, "studies: {runs} more finished run(s) (small files of "
                     + ", ".join(Path(d).name for d in study_dirs) + ")")
    print(f"{time.strftime('%H:%M:%S')} pack: {runs} finished run(s); {changed} file(s) committed")


def run(a: argparse.Namespace) -> int:
    if a.unpack:
        from gan.study.small_files import unpack

        for d in a.study_dirs:
            n, aside = unpack(d)
            print(f"unpack: {n} run(s) restored in {d}")
            if aside:
                print(f"set aside (finished, but the curves were lost; `gan study` retrains them): {', '.join(aside)}")
        return 0
    while True:
        pack_once(a.study_dirs, a.git)
        if a.every <= 0:
            return 0
        time.sleep(a.every)  # Ctrl-C ends the loop (exit 130); a commit is never cut half-way by a sleep
