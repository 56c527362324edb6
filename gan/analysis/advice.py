"""`gan advise`'s numbers (advise.json): a short pilot read through claim 11, beside the committed studies' record.

    record = track_record(REPO)                      # every committed study's cells, as its analysis.json scored them
    advice = advise(pilot_dir, setup, record, plan)  # what the ReLU D does, the ratios, the prediction, the record

Everything here is read from analysis files (the pilot's own analysis.json, written by gan/analysis/study_analysis.py
like any study's, and the committed studies' analysis.json) or computed from the pilot's runs with the functions the
study analysis uses (gan/analysis/saturation_rule.py, gan/analysis/effect_curve.py); gan/report/advice.py renders it.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path
from typing import Any

from gan.analysis import saturation_rule as rule
from gan.analysis.claims.rules import RELU, pick_leaky
from gan.analysis.effect_curve import effect_curves
from gan.config.datasets import MNIST_FAMILY  # 28x28 grey digits or clothes: the limits say so
from gan.measure import metric_keys as mk
from gan.study.read import Study
from gan.study.results import ACT, is_finite

ADVISE_JSON, ADVISE_MD, ADVISE_PNG = "advise.json", "advise.md", "advise.png"
SERIES_BIN = 100  # the figure's saturated share: one point per 100 logged steps per arm


##### the committed record


def committed_analyses(root: Path) -> list[Path]:
    """The analysis.json files under root/results that git tracks (all found when root is not a repository),
    leaving out `gan advise` pilots (a folder holding advise.json): a pilot is a prediction, not a record."""
    results = root / "results"
    if not results.is_dir():
        return []
    found = sorted(results.rglob("analysis.json"))
    try:
        out = subprocess.run(["git", "ls-files", "--", "results"], cwd=root, capture_output=True, text=True, timeout=60)
        tracked = {root / line for line in out.stdout.splitlines()} if out.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        tracked = None
    return [p for p in found if (tracked is None or p in tracked) and not (p.parent / ADVISE_JSON).is_file()]


def track_record(root: Path) -> dict[str, Any]:
    """Every committed cell: dataset / condition, what the rule predicted, what the study found, the score and
    whether the prediction came before the data; claim 11's verdict over those that did; duplicates marked."""
    import json

    rows, ranges = [], {}
    for path in committed_analyses(root):
        try:
            analysis = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        sr = analysis.get("saturation_rule")
        if not sr:
            continue
        study = path.parent.relative_to(root).as_posix()
        for cell in sr["cells"]:
            m = cell["measured"]
            rows.append({"study": study, "cell": cell["cell"], "dataset": cell["dataset"], "steps": cell["steps"],
                         "s": cell["s"], "s_per_seed": cell["s_per_seed"], "prediction": cell["prediction"],
                         "no_prediction": cell["no_prediction"], "ratio": m["ratio"], "ci_low": m["ci_low"],
                         "ci_high": m["ci_high"], "n": m["n"], "found": cell["found"], "score": cell["score"],
                         "when": "after the data", "log_ratio_per_seed": cell.get("log_ratio_per_seed", {}),
                         "setup": cell.get("setup", {}), "profile": cell["relu_profile"]})
        p = analysis.get("prediction")
        if p:
            base = sr["cells"][0]
            rows.append({"study": study, "cell": base["cell"], "dataset": base["dataset"], "steps": base["steps"],
                         "s": p.get("s"), "s_per_seed": {}, "prediction": p.get("call"),
                         "no_prediction": p.get("no_prediction"), "ratio": base["measured"]["ratio"],
                         "ci_low": base["measured"]["ci_low"], "ci_high": base["measured"]["ci_high"],
                         "n": base["measured"]["n"], "found": base["found"], "score": p.get("score"),
                         "when": "before the data" if p.get("before_the_data") else "not before the data",
                         "order": p.get("order"), "source": p.get("path"), "log_ratio_per_seed": {},
                         "setup": base.get("setup", {}), "profile": None})
    _mark_repeats(rows)
    independent = [r for r in rows if r["when"] == "after the data" and not r.get("repeats")]
    for key in rule.PROFILE_KEYS:  # the range the committed ReLU arms span, per window (duplicates left out)
        per_window = [[r["profile"]["keys"][key]["mean"][i] for r in independent if r["profile"]
                       and key in r["profile"]["keys"] and is_finite(r["profile"]["keys"][key]["mean"][i])]
                      for i in range(len(rule.PROFILE_WINDOWS))]
        ranges[key] = [[min(v), max(v)] if v else None for v in per_window]
    s_values = [r["s"] for r in independent if is_finite(r["s"])]
    within_r, within_n = _within_cell_r(independent)
    prospective = [r["score"] for r in rows if r["when"] == "before the data" and r["score"]]
    outcome, tally = rule.verdict(prospective)
    after = [r["score"] for r in independent if r["score"]]
    return {"rows": rows, "ranges": ranges, "s_range": [min(s_values), max(s_values)] if s_values else None,
            "cells": len([r for r in rows if r["when"] == "after the data"]), "independent": len(independent),
            "datasets": sorted({r["dataset"] for r in independent}),
            "mnist_family": all(r["dataset"].split(" ")[0] in MNIST_FAMILY for r in independent),
            "setups": {k: sorted({str(r["setup"].get(k)) for r in independent if k in r["setup"]})
                       for k in rule.SCOPE},
            "after": {k: sum(s == k for s in after) for k in (rule.RIGHT, rule.WRONG, rule.UNDECIDED)},
            "verdict": outcome, "tally": tally, "horizon": _horizon_evidence(independent),
            "within_cell_r": within_r, "within_cell_seeds": within_n,
            "wrong_example": _example(independent)}


def _mark_repeats(rows: list[dict[str, Any]]) -> None:
    """A cell whose every shared seed has the same paired log ratio as an earlier cell's (at least 2 seeds) repeats
    those runs (e.g. the same config and code twice): it is shown, marked, and not counted as independent."""
    seen: list[dict[str, Any]] = []
    for r in rows:
        mine = r.get("log_ratio_per_seed") or {}
        for other in seen:
            theirs = other["log_ratio_per_seed"]
            shared = set(mine) & set(theirs)
            if len(shared) >= 2 and all(abs(mine[s] - theirs[s]) < 1e-12 for s in shared):
                r["repeats"] = f"{other['study']} / {other['cell']} (seeds {', '.join(sorted(shared, key=_num))})"
                break
        else:
            if mine:
                seen.append(r)


def _within_cell_r(rows: list[dict[str, Any]]) -> tuple[float, int]:
    """Pearson r of a seed's own S with its own paired log ratio, each centred on its cell's mean (pooled over the
    cells with at least 3 such seeds and some spread of S), and how many seeds: does the rule work seed by seed?"""
    import numpy as np

    xs, ys = [], []
    for r in rows:
        seeds = [s for s in r["s_per_seed"] if s in r["log_ratio_per_seed"] and is_finite(r["s_per_seed"][s])]
        x = np.array([r["s_per_seed"][s] for s in seeds], dtype=float)
        y = np.array([r["log_ratio_per_seed"][s] for s in seeds], dtype=float)
        if len(seeds) >= 3 and x.std() > 0:
            xs += list(x - x.mean())
            ys += list(y - y.mean())
    if len(xs) < 3:
        return math.nan, len(xs)
    return float(np.corrcoef(xs, ys)[0, 1]), len(xs)


def _num(seed: str) -> tuple:
    return (0, int(seed)) if seed.lstrip("-").isdigit() else (1, seed)


def _horizon_evidence(rows: list[dict[str, Any]]) -> str:
    """What the committed cells trained longer than the rule's horizon found, e.g. 'at 10000 steps: fashion_mnist
    level (1.02x [0.942, 1.11]), mnist5k level (1x [0.909, 1.1])'."""
    longer = [r for r in rows if is_finite(r["steps"]) and r["steps"] > rule.HORIZON]
    if not longer:
        return f"no committed study trained longer than {rule.HORIZON} steps"
    by_steps: dict[int, list[str]] = {}
    for r in longer:
        by_steps.setdefault(int(r["steps"]), []).append(
            f"{r['dataset']} {r['found']}, {_ratio(r)} (from its S {_f(r['s'])} the rule would have called "
            f"{rule.predict(r['s']) or '?'})")
    return "; ".join(f"at {steps} steps: " + ", ".join(v) for steps, v in sorted(by_steps.items()))


def _example(rows: list[dict[str, Any]]) -> str:
    """What a wrong prediction in the record looked like; without one, the nearest miss (an undecided call)."""
    wrong = [r for r in rows if r["score"] == rule.WRONG]
    if wrong:
        r = wrong[0]
        return (f"wrong: {r['study']} / {r['cell']} ({r['dataset']}): S {_f(r['s'])} called {r['prediction']}, "
                f"the study found {r['found']} ({_ratio(r)})")
    undecided = [r for r in rows if r["score"] == rule.UNDECIDED]
    if undecided:
        r = undecided[0]
        return (f"no prediction in the record was wrong; the nearest miss: {r['study']} / {r['cell']} "
                f"({r['dataset']}): S {_f(r['s'])} called {r['prediction']}, the study found {r['found']} ({_ratio(r)})")
    return "no prediction in the record was wrong or undecided"


def _f(x: Any) -> str:
    return f"{x:.3g}" if is_finite(x) else "–"


def _ratio(r: dict[str, Any]) -> str:
    return f"{_f(r['ratio'])}x [{_f(r['ci_low'])}, {_f(r['ci_high'])}], {r['n']} pairs"


##### the pilot


def curves(study: Study) -> dict[str, Any]:
    """The paired LeakyReLU / ReLU FCD and KID ratio at each evaluation (pointwise 95% t-interval), and each arm's
    saturated share per SERIES_BIN steps (mean over seeds): what the pilot's figure and table show."""
    results = study.results
    leaky = pick_leaky(results.levels(ACT))
    out: dict[str, Any] = {"leaky": leaky, "ratios": {}, "saturated": {}}
    if leaky is None:
        return out
    for name, key in (("fcd", mk.FCD), ("kid", mk.KID)):
        for c in effect_curves(results, study.metrics, leaky, key):
            out["ratios"][name] = {"steps": list(c.steps), "ratio": [r[0] for r in c.ratio()],
                                   "low": [r[1] for r in c.ratio()], "high": [r[2] for r in c.ratio()],
                                   "pairs": [t.n for t in c.tests]}
    last = max((int(r["step"]) for rows in study.metrics.values() for r in rows if is_finite(r.get("step"))), default=0)
    bins = [(a, a + SERIES_BIN) for a in range(0, last, SERIES_BIN)]
    for act in (RELU, leaky):
        runs = [study.metrics.get(str(r["run"]), []) for r in results.completed() if str(r.get(ACT)) == act]
        prof = rule.profile(runs, bins)["keys"].get(mk.D_SATURATED)
        if prof:
            out["saturated"][act] = {"steps": [b for _, b in bins], "mean": prof["mean"]}
    return out


def prediction(cell: dict[str, Any] | None, settings: dict[str, Any], length: int) -> dict[str, Any]:
    """The rule's call for the user's setup from the pilot's baseline cell, at the rule's horizon and at the user's
    training length, with whether the pilot is decisive (every ReLU seed's S on one side of the threshold)."""
    s_seed = cell["s_per_seed"] if cell else {}
    s = rule.cell_statistic(s_seed.values())
    why = rule.no_prediction_why(settings, rule.HORIZON)
    if why is None and not s_seed:
        why = f"the pilot's ReLU runs logged no steps {rule.WINDOW[0] + 1}-{rule.WINDOW[1]}"
    call = None if why else rule.predict(s)
    sides = {rule.predict(v) for v in s_seed.values() if is_finite(v)}
    decisive = call is not None and len(sides) == 1 and len(s_seed) >= 2
    return {"call": call, "s": s, "s_per_seed": s_seed, "horizon": rule.HORIZON, "length": length,
            "no_prediction": why, "for_length": call if length == rule.HORIZON else None,
            "decisive": decisive, "threshold": rule.THRESHOLD}


##### advise.json


def advise(pilot: Path, setup: dict[str, Any], plan: dict[str, Any], root: Path, compare_command: str,
           compare_cfg) -> dict[str, Any]:
    """advise.json: the setup, the pilot's plan and measured time, what its ReLU D does beside the committed range,
    the ratios per evaluation, the prediction, the compare study (command and planned time), the track record."""
    import json
    from datetime import datetime, timezone

    from gan.analysis.plan import study_costs
    from gan.analysis.sequential import looks
    from gan.study.read import load_study_results
    from gan.train.provenance import code_version

    analysis = json.loads((pilot / "analysis.json").read_text())
    study = load_study_results(pilot)
    sr = analysis.get("saturation_rule") or {"cells": []}
    cell = sr["cells"][0] if sr["cells"] else None
    record = track_record(root)
    compare = {"command": compare_command, "looks": looks(8, 24)}
    if plan.get("pieces"):
        pieces = plan["pieces"]
        compare["first_look"] = study_costs(pieces, compare_cfg, 2 * compare["looks"][0], 2, None)
        compare["last_look"] = study_costs(pieces, compare_cfg, 2 * compare["looks"][-1], 2, None)
    return {
        "version": 1,
        "made_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "code_version": code_version(),
        "setup": setup,
        "pilot": {"dir": str(pilot), "runs": analysis["study"]["runs"], "completed": analysis["study"]["completed"],
                  "failed": analysis["study"]["failed"], "plan": plan},
        "relu": {"profile": cell["relu_profile"] if cell else None, "s": cell["s"] if cell else math.nan,
                 "s_per_seed": cell["s_per_seed"] if cell else {}, "measured_2000": cell["measured"] if cell else None},
        "ranges": record["ranges"], "s_range": record["s_range"],
        "curves": curves(study),
        "prediction": prediction(cell, setup["settings"], setup["length"]),
        "compare": compare,
        "record": {k: v for k, v in record.items() if k != "ranges"},
        "rule": rule.rule_constants(),
    }
