"""Claim 11, the saturation rule: a short ReLU run predicts whether LeakyReLU(0.2) in D will give better samples.

    s = cell_statistic([0.0, 0.1, 0.25])          # a cell's S: the mean over its ReLU runs of w1001_2000/D/saturated
    call = predict(s)                              # "LeakyReLU(0.2) ahead" (S > 0.05) | "LeakyReLU not ahead"
    m = measured(log_ratios)                       # the paired tail-3 log FCD ratios of a cell, read as claim 11 does
    score(call, m)                                 # "right" | "wrong" | "undecided"
    verdict(["right", "right", "right"])           # claim 11 over the predictions made before their data

The rule (docs/claims.md, claim 11; every number is a constant of this module, pinned by tests/analysis/
test_saturation_rule.py against that text):
- a saturated step is a logged training row on which gan/measure/metric_keys.is_saturated holds (its thresholds in
  words: metric_keys.SATURATED_TEXT; the one test the probe and the derived columns also call);
- S of a run: its share of saturated rows with 1000 < step <= 2000 (results.csv `w1001_2000/D/saturated`,
  gan/study/derived.py); S of a cell: the mean over its ReLU runs. Steps up to 1000 are a start-up transient;
- S > 0.05 predicts "LeakyReLU(0.2) ahead": claim 2's LeakyReLU / ReLU ratio of tail-averaged FCD, paired by seed,
  below 1 at 4000 steps; S <= 0.05 predicts "not ahead": above 1, or within +-10%. Stated for 4000-step training of
  the 32x32 DCGAN at ngf = ndf = 32 with a BatchNorm D; for another length or setup it predicts nothing;
- scoring against a cell's paired log ratios: side "below" when the 95% t-interval's upper end is below 1, "above"
  when its lower end is above 1, else none; "equivalent" when TOST at +-log(1.1) passes (the 90% interval inside);
  ahead: below right, above wrong, none + equivalent wrong, none otherwise undecided; not ahead: above right, below
  wrong, none + equivalent right, none otherwise undecided;
- claim 11's verdict counts only predictions made before their data (study_prediction, below, checks the order):
  supported with at least 3 right and none wrong, contradicted with 2 or more wrong, inconclusive otherwise.

`reading(...)` applies the rule to every cell of one study (the conditions: axis combinations other than the seed and
D's activation), for analysis.json's `saturation_rule` section; a cell's own S scores it "after the data".
`study_prediction(...)` reads the prediction a study file names and orders it against the study's runs in git.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from gan.analysis.claims.registry import HEADLINE, LOG_KID, SATURATION, ruled_by
from gan.analysis.claims.rules import RELU, baseline_results, pick_leaky
from gan.analysis.stats import ALPHA, t_interval, tost_p
from gan.config.schema import (D_EXTRA_LAYERS, D_NORM, D_STEPS, DATA_IMAGE_SIZE, DATA_NAME, DATA_RANGE, DATA_ROOT,
                               DATA_TRAIN_SIZE, LR_D, NDF, NGF)
from gan.measure import metric_keys as mk
from gan.study.derived import window_saturated_share
from gan.study.results import ACT, SEED, Results, is_finite, short

##### the rule's numbers (docs/claims.md, claim 11)

WINDOW = mk.SATURATION_WINDOW  # (1000, 2000): S reads the logged rows with 1000 < step <= 2000
CLAIM = ruled_by(SATURATION)  # claim 11's record in gan/analysis/claims/registry.py
STATISTIC = CLAIM.metric  # results.csv column of a run's S: w1001_2000/D/saturated
THRESHOLD = 0.05  # S > THRESHOLD: LeakyReLU(0.2) ahead
HORIZON = 4000  # the training length the prediction is about (steps)
MARGIN = CLAIM.margin  # +-10% of the ratio: "within" for the equivalence test (TOST at +-log(1.1))
RATIO = HEADLINE.metric  # claim 2's primary: tail-averaged log FCD, LeakyReLU / ReLU, paired by seed
SCOPE = {DATA_IMAGE_SIZE: 32, NGF: 32, NDF: 32, D_NORM: "batch"}  # what it is stated for
SUPPORTED_RIGHT = 3  # supported: at least this many prospective predictions right, none wrong
CONTRADICTED_WRONG = 2  # contradicted: this many or more wrong

AHEAD, NOT_AHEAD = "LeakyReLU(0.2) ahead", "LeakyReLU not ahead"
RIGHT, WRONG, UNDECIDED = "right", "wrong", "undecided"
BELOW, ABOVE = "below", "above"
SUPPORTED, CONTRADICTED, INCONCLUSIVE = "supported", "contradicted", "inconclusive"

# what the ReLU D does, per 500-step window of the pilot's length (the rule's window is the last two)
PROFILE_WINDOWS = ((0, 500), (500, 1000), (1000, 1500), (1500, 2000))
PROFILE_KEYS = (mk.D_SATURATED, mk.D_REAL_PROB, mk.D_FAKE_PROB, mk.OVERFIT_R_T, mk.IG_NORM, mk.IG_HOYER,
                mk.D_DEAD_FRAC)
PROFILE_TEXT = {
    mk.D_SATURATED: f"saturated share ({mk.SATURATED_TEXT})",
    mk.D_REAL_PROB: "D(x), mean sigmoid on the real batch",
    mk.D_FAKE_PROB: "D(G(z)), mean sigmoid on the fake batch",
    mk.OVERFIT_R_T: "r_t = E[sign D(x_train)] (1: every training image called real)",
    mk.IG_NORM: "size of the gradient G receives, |dL_G/dx| per sample",
    mk.IG_HOYER: "sparsity of that gradient (Hoyer; dense Gaussian 0.20)",
    mk.D_DEAD_FRAC: "share of D's units dead (training view)",
}


##### pure functions of the rule


def cell_statistic(values: Iterable[Any]) -> float:
    """A cell's S: the mean of its ReLU runs' S (finite values only); NaN without any."""
    finite = [float(v) for v in values if is_finite(v)]
    return float(np.mean(finite)) if finite else math.nan


def predict(s: float) -> str | None:
    """The rule's call for a cell's S; None when S is unknown."""
    if not is_finite(s):
        return None
    return AHEAD if s > THRESHOLD else NOT_AHEAD


def measured(log_ratios: Sequence[float], margin: float = MARGIN) -> dict[str, Any]:
    """A cell's paired log ratios read as claim 11 scores them: ratio, 95% and 90% t-intervals (as ratios), pairs,
    TOST p at +-log(1 + margin), equivalent (TOST p < 0.05) and side (below | above | None)."""
    d = np.asarray([v for v in log_ratios if is_finite(v)], dtype=float)
    out: dict[str, Any] = {"ratio": math.nan, "ci_low": math.nan, "ci_high": math.nan, "ci90_low": math.nan,
                           "ci90_high": math.nan, "n": int(d.size), "p_equiv": math.nan, "equivalent": False,
                           "side": None, "log_ratios": d.tolist()}
    if d.size == 0:
        return out
    lo, hi = t_interval(d)
    lo90, hi90 = t_interval(d, 0.90)
    p_equiv = tost_p(d, math.log1p(margin))
    out.update(ratio=math.exp(d.mean()), ci_low=_exp(lo), ci_high=_exp(hi), ci90_low=_exp(lo90), ci90_high=_exp(hi90),
               p_equiv=p_equiv, equivalent=bool(is_finite(p_equiv) and p_equiv < ALPHA),
               side=BELOW if is_finite(hi) and hi < 0 else ABOVE if is_finite(lo) and lo > 0 else None)
    return out


def _exp(x: float) -> float:
    return math.exp(x) if is_finite(x) else math.nan


def score(call: str | None, m: dict[str, Any]) -> str | None:
    """right | wrong | undecided for a call against measured(...); None when there is no call. Fewer than 2 pairs
    decide nothing (no interval): undecided."""
    if call is None:
        return None
    if m["n"] < 2:
        return UNDECIDED
    side, equivalent = m["side"], m["equivalent"]
    if call == AHEAD:
        return RIGHT if side == BELOW else WRONG if side == ABOVE or equivalent else UNDECIDED
    return RIGHT if side == ABOVE or (side is None and equivalent) else WRONG if side == BELOW else UNDECIDED


def verdict(scores: Sequence[str]) -> tuple[str, str]:
    """Claim 11's outcome over the prospective predictions' scores, and the score in words."""
    right, wrong = sum(s == RIGHT for s in scores), sum(s == WRONG for s in scores)
    undecided = sum(s == UNDECIDED for s in scores)
    tally = (f"{len(scores)} prediction{'s' * (len(scores) != 1)} made before the data: {right} right, {wrong} wrong, "
             f"{undecided} undecided")
    if wrong >= CONTRADICTED_WRONG:
        return CONTRADICTED, tally
    if right >= SUPPORTED_RIGHT and wrong == 0:
        return SUPPORTED, tally
    need = (f"; supported needs at least {SUPPORTED_RIGHT} right and none wrong, contradicted {CONTRADICTED_WRONG} "
            "wrong")
    return INCONCLUSIVE, tally + need


def found(m: dict[str, Any]) -> str:
    """What a cell's measured ratio says, in the rule's words."""
    if m["n"] < 2:
        return "not measured (fewer than 2 pairs)"
    if m["side"] == BELOW:
        return "LeakyReLU ahead"
    if m["side"] == ABOVE:
        return "LeakyReLU behind"
    return f"level (within ±{MARGIN:.0%})" if m["equivalent"] else "undecided (CI crosses 1)"


def out_of_scope(settings: dict[str, Any]) -> list[str]:
    """The settings outside the setup the rule is stated for (SCOPE), as 'key=value (the rule: value)'."""
    return [f"{k}={settings[k]} (the rule: {v})" for k, v in SCOPE.items()
            if k in settings and str(settings[k]) != str(v)]


def no_prediction_why(settings: dict[str, Any], steps: Any) -> str | None:
    """Why the rule makes no tested prediction for this setup and training length; None when it does."""
    why = out_of_scope(settings)
    if is_finite(steps) and int(steps) != HORIZON:
        why.append(f"{int(steps)} training steps (the rule: {HORIZON})")
    return ("the rule has no evidence for this setup: " + "; ".join(why)) if why else None


def profile(runs: Sequence[Sequence[dict]], windows: Sequence[tuple[int, int]] = PROFILE_WINDOWS) -> dict[str, Any]:
    """What the ReLU D does per window, from its runs' metrics.jsonl rows: per key, the mean over runs of each run's
    window mean (the saturated share: each run's share of saturated rows), and each run's value (per_run)."""
    out: dict[str, Any] = {"windows": [list(w) for w in windows], "runs": len(runs), "keys": {}}
    for key in PROFILE_KEYS:
        per_run = [[_window_value(rows, key, a, b) for a, b in windows] for rows in runs]
        means = [cell_statistic(col) for col in zip(*per_run)] if per_run else [math.nan] * len(windows)
        if any(is_finite(v) for v in means):
            out["keys"][key] = {"mean": means, "per_run": per_run}
    return out


def _window_value(rows: Sequence[dict], key: str, after: int, upto: int) -> float:
    if key == mk.D_SATURATED:
        share, _ = window_saturated_share(rows, after, upto)
        return math.nan if share is None else share
    vals = [float(r[key]) for r in rows if is_finite(r.get("step")) and after < r["step"] <= upto and is_finite(r.get(key))]
    return float(np.mean(vals)) if vals else math.nan


##### one study's cells


def _cell_key(row: dict, axes: Sequence[str]) -> tuple[str, ...]:
    return tuple(str(row.get(a)) for a in axes)


def reading(results: Results, metrics: dict[str, list[dict]],
            settings_of: Callable[[str], dict[str, Any]] = lambda run: {}) -> dict[str, Any] | None:
    """analysis.json's `saturation_rule`: the rule's constants and, per cell, the ReLU arm's S (per seed), the
    prediction, the measured ratio and the score ("after the data": S comes from the cell's own runs).

    metrics: run -> metrics.jsonl rows (the ReLU D's profile per 500-step window); settings_of: run -> its resolved
    config as dotted keys (the scope check and the dataset); None without a ReLU and a LeakyReLU arm."""
    acts = results.levels(ACT)
    leaky = pick_leaky(acts)
    if RELU not in [str(a) for a in acts] or leaky is None:
        return None
    axes = [a for a in results.axes if a not in (ACT, SEED)]
    rows = [r for r in results.completed() if str(r.get(ACT)) in (RELU, str(leaky))]
    base_rows, _ = baseline_results(results)
    first = next((r for r in base_rows.completed() if str(r.get(ACT)) in (RELU, str(leaky))), rows[0] if rows else None)
    base_key = _cell_key(first, axes) if first else ()
    cells: dict[tuple[str, ...], list[dict]] = {}
    for r in rows:
        cells.setdefault(_cell_key(r, axes), []).append(r)
    out = []
    for key, cell_rows in sorted(cells.items(), key=lambda kv: kv[0] != base_key):  # the baseline first
        differs = [f"{short(a)}={v}" for a, v, b in zip(axes, key, base_key) if v != b]
        out.append(_cell(", ".join(differs) or "baseline", dict(zip(axes, key)), results, cell_rows, str(leaky),
                         metrics, settings_of))
    return {"rule": rule_constants(), "leaky": str(leaky), "cells": out}


def rule_constants() -> dict[str, Any]:
    return {"statistic": STATISTIC, "window": list(WINDOW), "threshold": THRESHOLD, "horizon": HORIZON,
            "margin": MARGIN, "ratio": RATIO, "scope": dict(SCOPE), "saturated": mk.SATURATED_TEXT,
            "supported_right": SUPPORTED_RIGHT, "contradicted_wrong": CONTRADICTED_WRONG}


def seed_log_ratios(rows: Sequence[dict], column: str, leaky: str) -> dict[str, float]:
    """seed -> LeakyReLU minus ReLU value of a log column, over one cell's completed runs (the pairs claim 2 makes
    within a cell: the cell's runs differ only by seed and activation)."""
    by_seed: dict[str, dict[str, float]] = {}
    for r in rows:
        if is_finite(r.get(column)):
            by_seed.setdefault(str(r.get(SEED)), {})[str(r.get(ACT))] = float(r[column])
    return {s: v[leaky] - v[RELU] for s, v in sorted(by_seed.items(), key=lambda kv: _seed_order(kv[0]))
            if leaky in v and RELU in v}


def _seed_order(seed: str) -> tuple:
    return (0, int(seed), "") if seed.lstrip("-").isdigit() else (1, 0, seed)


def _cell(name: str, axes: dict[str, str], results: Results, rows: list[dict], leaky: str,
          metrics: dict[str, list[dict]], settings_of: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    relu = sorted((r for r in rows if str(r.get(ACT)) == RELU), key=lambda r: _seed_order(str(r.get(SEED))))
    s_seed = {str(r.get(SEED)): float(r[STATISTIC]) for r in relu if is_finite(r.get(STATISTIC))}
    s = cell_statistic(s_seed.values())
    per_seed = seed_log_ratios(rows, RATIO, leaky)
    ratio = measured(list(per_seed.values()))
    kid = measured(list(seed_log_ratios(rows, LOG_KID, leaky).values()))
    steps = max((int(r["step"]) for r in rows if is_finite(r.get("step"))), default=math.nan)
    settings = settings_of(str(relu[0]["run"])) if relu else {}
    why = no_prediction_why(settings, steps)
    if why is None and not s_seed:
        why = f"no ReLU run logged steps {WINDOW[0] + 1}-{WINDOW[1]} (results.csv column {STATISTIC})"
    call = None if why else predict(s)
    return {"cell": name, "axes": axes, "steps": steps, "dataset": dataset_label(settings),
            "setup": {k: settings.get(k) for k in (*SCOPE, DATA_RANGE, DATA_TRAIN_SIZE, D_EXTRA_LAYERS, LR_D,
                                                   D_STEPS) if k in settings},
            "s": s, "s_per_seed": s_seed, "prediction": call, "no_prediction": why,
            "measured": ratio, "log_ratio_per_seed": per_seed, "found": found(ratio), "kid": kid, "score": score(call, ratio),
            "when": "after the data", "relu_profile": profile([metrics.get(str(r["run"]), []) for r in relu])}


def dataset_label(settings: dict[str, Any]) -> str:
    """'fashion_mnist', 'fashion_mnist (4000 images)', 'folder my_images': what a cell trained on."""
    name = str(settings.get(DATA_NAME) or "?")
    if name == "folder" and settings.get(DATA_ROOT):
        name = f"folder {str(settings[DATA_ROOT]).rstrip('/').rsplit('/', 1)[-1]}"
    if is_finite(settings.get(DATA_TRAIN_SIZE)):
        name += f" ({settings[DATA_TRAIN_SIZE]} images)"
    return name


##### which prediction a study tests, and whether it was made before the study's data (claim 11, docs/claims.md)
#
# A study names the prediction it tests in its study file:
#
#     prediction: results/rule/clipart/pilot/advise.json     # written by `gan advise`, committed before any run
#
#     p = study_prediction(study_dir, "results/rule/clipart/pilot/advise.json", measured)   # measured: the cell's
#
# The order is read from git, not from times written into files: the prediction counts as made before the data when
# the first commit that holds the prediction file is an ancestor of (and not the same as) the first commit that holds
# anything under the study's runs/ folder. The call tested is the one in that first committed version, so rewriting
# advise.json later (a rerun of `gan advise` refreshes its track record) cannot change what was predicted. A prediction
# or a study not in git, or committed in the wrong order, is scored but is not "before the data": claim 11's verdict
# leaves it out. advise.json's own `made_utc` is shown beside the commits, as a reader's check.


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
