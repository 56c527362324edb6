"""Which prediction a study tests, and whether it was made before the study's data (claim 11, docs/claims.md).

A study names the prediction it tests in its study file:

    prediction: results/rule/clipart/pilot/advise.json     # written by `gan advise`, committed before any run

    p = study_prediction(study_dir, "results/rule/clipart/pilot/advise.json", measured)   # measured: the cell's

The order is read from git, not from times written into files: the prediction counts as made before the data when
the first commit that holds the prediction file is an ancestor of (and not the same as) the first commit that holds
anything under the study's runs/ folder. The call tested is the one in that first committed version, so rewriting
advise.json later (a rerun of `gan advise` refreshes its track record) cannot change what was predicted. A prediction
or a study not in git, or committed in the wrong order, is scored but is not "before the data": claim 11's verdict
leaves it out. advise.json's own `made_utc` is shown beside the commits, as a reader's check.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from gan.analysis.saturation_rule import HORIZON, score
from gan.study.results import is_finite


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess | None:
    """git's answer, or None when git is missing or the folder is not in a repository."""
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out


def _top(folder: Path) -> Path | None:
    out = _git(["rev-parse", "--show-toplevel"], folder)
    return Path(out.stdout.strip()) if out is not None and out.returncode == 0 else None


def first_commit(top: Path, rel: str) -> tuple[str, str] | None:
    """(sha, ISO committer date) of the first commit holding anything at `rel`; None when none does."""
    out = _git(["log", "--format=%H %cI", "--reverse", "--", rel], top)
    if out is None or out.returncode != 0 or not out.stdout.strip():
        return None
    sha, date = out.stdout.splitlines()[0].split(" ", 1)
    return sha, date


def is_ancestor(top: Path, older: str, newer: str) -> bool:
    out = _git(["merge-base", "--is-ancestor", older, newer], top)
    return out is not None and out.returncode == 0


def resolve(study_dir: Path, given: str) -> Path:
    """The prediction file: absolute, else relative to the study's repository root, else to the working folder."""
    p = Path(given).expanduser()
    if p.is_absolute():
        return p
    top = _top(study_dir)
    return top / p if top is not None and (top / p).is_file() else p.resolve()


def study_prediction(study_dir: str | Path, given: Any, measured: dict[str, Any],
                     steps: Any = HORIZON) -> dict[str, Any] | None:
    """The study file's `prediction:` read, ordered against the study's runs and scored on `measured` (the study's
    baseline cell, saturation_rule.measured; `steps`: how long its runs trained, since the call is about HORIZON
    steps); None when the study names no prediction."""
    if not given:
        return None
    study_dir = Path(study_dir).resolve()
    path = resolve(study_dir, str(given))
    out: dict[str, Any] = {"path": str(given), "call": None, "made_utc": None, "prediction_commit": None,
                           "data_commit": None, "before_the_data": False, "score": None}
    top = _top(study_dir)
    first = data = None
    if top is not None and path.is_file():
        rel_pred = path.resolve().relative_to(top).as_posix() if path.resolve().is_relative_to(top) else None
        first = first_commit(top, rel_pred) if rel_pred else None
        data = first_commit(top, (study_dir / "runs").relative_to(top).as_posix()) \
            if study_dir.is_relative_to(top) else None
    text = None
    if first is not None:  # what was predicted: the file as first committed
        shown = _git(["show", f"{first[0]}:{rel_pred}"], top)
        text = shown.stdout if shown is not None and shown.returncode == 0 else None
    elif path.is_file():
        text = path.read_text()
    if text is None:
        out["order"] = f"the prediction file {given} cannot be read: not scored"
        return out
    try:
        advice = json.loads(text)
        pred = advice["prediction"]
    except (ValueError, KeyError, TypeError):
        out["order"] = f"{given} is not an advise.json written by `gan advise` (no 'prediction'): not scored"
        return out
    out.update(call=pred.get("call"), s=pred.get("s"), made_utc=advice.get("made_utc"),
               no_prediction=pred.get("no_prediction"))
    out["prediction_commit"] = {"sha": first[0], "date": first[1]} if first else None
    out["data_commit"] = {"sha": data[0], "date": data[1]} if data else None
    if first is None:
        out["order"] = "the prediction file is not in git: its order against the data cannot be shown"
    elif data is None:
        out["order"] = "the study's runs are not in git yet (`gan pack --git`): the order cannot be shown"
    elif first[0] != data[0] and is_ancestor(top, first[0], data[0]):
        out["before_the_data"] = True
        out["order"] = (f"made before the data: prediction committed in {first[0][:9]} ({first[1]}), first run in "
                        f"{data[0][:9]} ({data[1]})")
    else:
        out["order"] = (f"not before the data: prediction first committed in {first[0][:9]} ({first[1]}), the runs "
                        f"in {data[0][:9]} ({data[1]})")
    if is_finite(steps) and int(steps) != HORIZON:
        out["order"] += f"; the study trained {int(steps)} steps and the call is about {HORIZON}: not scored"
        return out
    out["score"] = score(out["call"], measured)
    return out
