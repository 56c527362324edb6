"""One study's analysis, computed once and written as analysis.json: what every renderer reads.

    analysis = write_analysis("studies/quick")   # results.csv + run folders -> studies/quick/analysis.json
    analysis = read_analysis("studies/quick")    # the same dict back; never writes (UserError when not current)
    analysis = ensure_analysis("studies/quick")  # for the folder's own commands: rewritten under its lock if stale

Reading a study's analysis never writes it: `gan answer` reads other studies' folders, and a silent rewrite there
(without the study's lock, while a `gan study` may be collecting) is how committed files changed under their
owners. A missing, old-format or stale analysis.json (its `source.results_csv_sha256` is not results.csv's:
staleness by content, not mtime, which a git checkout scrambles) is a UserError naming `gan report DIR`.
`ensure_analysis` is for the commands that already own the folder's report (the report's rendering, `gan study
--plan`'s pilot, the notebook): it rewrites the file under the study's FolderLock, then reads it.

The report, its figures, `gan answer`, `gan study --plan` and the notebook read only this file (the contract is
docs/architecture.md's). Its sections:
- study: name, axes, the grouping the figures use, run counts, the runs that did not complete, code versions;
- margins, claims: every primary and descriptive claim (gan/analysis/claims/result.py's dicts), with the paired values
  d each test ran on (`pairs`, `kid_pairs`), so a reader can recompute or combine them;
- group_estimates: mean [95% CI] of the key final metrics per group; over_steps: per key and group, the mean
  curve over seeds with its 95% bootstrap band; final, dead_by_layer, step_time: per-run values and estimates;
- effect_curves: the paired LeakyReLU / ReLU FCD ratio per evaluation step with pointwise and simultaneous bands;
  late_trends: per cell, the per-pair slope of that log ratio over the last 40% of the steps (FCD, and KID beside
  it), read still moving / level / undecided (gan/analysis/effect_curve.py), one sentence each in the notes;
- mechanism: per condition, saturation, over-fitting, gradient size and sparsity, dead units per arm and their
  paired difference (gan/analysis/mechanism.py, descriptive);
- samples, same_noise: paths (relative to the study folder) of the sample grids to show; notes;
- headline, headline_facts: every report's one-line answer and what it read (data, steps, evaluations averaged,
  real-data floor and its blur anchor, each arm's FCD, held-out images; gan/analysis/headline.py);
- saturation_rule: claim 11 per cell (the ReLU arm's S, the prediction, the measured ratio, the score after the
  data; gan/analysis/saturation_rule.py) and prediction: the prediction the study file names, ordered against
  the study's runs in git and scored (gan/analysis/saturation_rule.py's study_prediction).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from gan.analysis.claims.evaluate import evaluate_claims, headline_pairs, is_headline
from gan.analysis.claims.registry import HEADLINE, LOG_KID, STEP_MS_KEYS, analysis_margin, margins
from gan.analysis.claims.result import ClaimResult, claim_from_dict, claim_to_dict
from gan.analysis.claims.rules import RELU, baseline_results, pick_leaky
from gan.analysis.effect_curve import (describe, effect_curves, late_trend_text, late_trends, steps_to_quality,
                                       steps_to_quality_text)
from gan.analysis.headline import headline_section
from gan.analysis.mechanism import mechanism
from gan.analysis.saturation_rule import reading, study_prediction
from gan.analysis.stats import arm_summary, bootstrap_band, bootstrap_mean
from gan.errors import UserError
from gan.files.atomic import write_json_atomic
from gan.files.lock import FolderLock
from gan.config.load import read_run_config
from gan.files.layout import RunDir, StudyDir
from gan.measure import metric_keys as mk
from gan.study.read import MAX_FIGURE_GROUPS, Study, load_study_results
from gan.study.results import ACT, SEED, group_rows, is_completed, is_finite, label
from gan.tracking.summary_file import FINISHED

VERSION = 4  # 2: the mechanism section; 3: source (results.csv's hash), late trends, steps to quality; 4: the
# saturation rule (claim 11) per cell
PROBE_KEYS = (mk.D_DEAD_FRAC, mk.D_DEAD_FRAC_EVAL, mk.D_GRAD_ZERO_FRAC, mk.D_PARAM_GRAD_ZERO_FRAC, mk.IG_HOYER,
              mk.IG_STARVED_FRAC, mk.IG_ZERO_FRAC, mk.IG_NORM, mk.OVERFIT_R_T, mk.OVERFIT_R_V,
              mk.OVERFIT_HELDOUT_GAP, mk.OVERFIT_SATURATED)
QUALITY_KEYS = (mk.FCD, mk.FID, mk.MODES_COVERED, mk.KID, mk.COVERAGE, mk.PRECISION)
TRAIN_KEYS = (mk.LOSS_D, mk.LOSS_G, mk.D_REAL_PROB, mk.D_FAKE_PROB)
FINAL_KEYS = (*map(mk.final, (mk.FCD, mk.FID, mk.MODES_COVERED, mk.KID)),
              *map(mk.mean, (mk.D_DEAD_FRAC, mk.D_DEAD_FRAC_EVAL, mk.D_PARAM_GRAD_ZERO_FRAC, mk.D_GRAD_ZERO_FRAC,
                             mk.IG_HOYER, mk.IG_ZERO_FRAC, mk.OVERFIT_R_T, mk.OVERFIT_R_V, mk.OVERFIT_SATURATED)),
              *STEP_MS_KEYS)
MAX_POINTS = 400  # a long run's curve is thinned to ~400 steps (bands cost resamples x runs x steps)


def write_analysis(study_dir: str | Path) -> Path:
    """Analyse the study in `study_dir` and write its analysis.json; returns the path. The caller owns the folder
    (`gan report`, `gan study`, or ensure_analysis under the study's lock)."""
    study = load_study_results(study_dir)
    path = StudyDir(study_dir).analysis_json
    write_json_atomic(path, {**analyse(study), "source": {"results_csv_sha256": results_sha256(study_dir)}})
    return path


def results_sha256(study_dir: str | Path) -> str | None:
    """sha256 of the study's results.csv bytes (None without one): what an analysis.json was computed from."""
    path = StudyDir(study_dir).results_csv
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def analysis_problem(study_dir: str | Path) -> str | None:
    """Why `study_dir`'s analysis.json is not the analysis of its results.csv, or None when it is."""
    path = StudyDir(study_dir).analysis_json
    if not path.is_file():
        return "it has no analysis.json"
    try:
        analysis = json.loads(path.read_text())
    except ValueError:
        return "its analysis.json is not JSON"
    if analysis.get("version") != VERSION:
        return f"its analysis.json has format {analysis.get('version')}, this gan reads {VERSION}"
    now = results_sha256(study_dir)
    if now is not None and (analysis.get("source") or {}).get("results_csv_sha256") != now:
        return "its analysis.json was computed from another results.csv (stale)"
    return None


def read_analysis(study_dir: str | Path) -> dict[str, Any]:
    """analysis.json of `study_dir`; never writes. UserError when it is missing, of an older format or stale."""
    problem = analysis_problem(study_dir)
    if problem:
        raise UserError(f"{study_dir}: {problem}; run `gan report {study_dir}` to write it, then run this again")
    return json.loads(StudyDir(study_dir).analysis_json.read_text())


def ensure_analysis(study_dir: str | Path) -> dict[str, Any]:
    """analysis.json of `study_dir`, (re)written first under the study's lock when it is not current: for the
    commands that own the folder's report. A study whose `gan study` holds the lock is refused (UserError)."""
    if analysis_problem(study_dir):
        with FolderLock(study_dir, "study folder"):
            if analysis_problem(study_dir):  # another gan report may have written it between the check and the lock
                write_analysis(study_dir)
    return read_analysis(study_dir)


def claims_of(analysis: dict[str, Any]) -> list[ClaimResult]:
    """The analysis' claims as ClaimResults (primary rows first, then the descriptive ones)."""
    return [claim_from_dict(c) for c in analysis["claims"]]


########################################################################################
# the analysis


def analyse(study: Study) -> dict[str, Any]:
    """Everything the renderers need, computed once (see the module docstring); JSON-ready."""
    results = study.results
    groups = study.groups()
    claims = claims_section(study)
    return {
        "version": VERSION,
        "study": _study_section(study),
        **claims,
        "group_estimates": _group_estimates(study),
        "groups": [{"label": lab, "act": str(rows[0].get(ACT)), "rest": label(rows[0], _rest(study)),
                    "runs": len(rows)} for lab, rows in groups.items()],
        "over_steps": {key: _curves(study, groups, key) for key in (*PROBE_KEYS, *QUALITY_KEYS, *TRAIN_KEYS)},
        "final": _final(study, groups),
        "dead_by_layer": _dead_by_layer(study, groups),
        "step_time": {act: [_step_ms(r) for r in rows] for act, rows in group_rows(results.completed(), [ACT]).items()},
        **_effects(study),
        "mechanism": mechanism(results),
        **rule_section(study),
        "samples": _samples(study),
        "same_noise": same_noise(study),
        **headline_section(study, claims_of(claims), margins(results)),  # every report's first line, what it read
        "notes": _notes(study),
    }


def claims_section(study: Study) -> dict[str, Any]:
    """margins, step_time_json and claims: what a verdict is computed from (`gan answer` reads only these)."""
    results = study.results
    d2, _ = headline_pairs(results)  # the headline claim keeps its per-seed pairs: `gan answer` compares them
    k2, _ = headline_pairs(results, LOG_KID)
    return {
        "margins": {str(k): v for k, v in margins(results).items()},
        "step_time_json": study.step_time,  # claim 6's side-by-side timing, as read
        "claims": [claim_to_dict(c, d2 if is_headline(c) else (), k2 if is_headline(c) else ())
                   for c in evaluate_claims(results, study.step_time)],
    }


def run_settings(study: Study, run: str) -> dict[str, Any]:
    """The keys the run's config.yaml names, as dotted keys with their loaded values; {} when it has none."""
    d = study.run_dirs.get(run)
    saved = read_run_config(d) if d else None
    return saved.settings() if saved is not None else {}


def rule_section(study: Study) -> dict[str, Any]:
    """saturation_rule and prediction (module docstring)."""
    rule = reading(study.results, study.metrics, lambda run: run_settings(study, run))
    given = study.results.study.get("prediction") if isinstance(study.results.study, dict) else None
    base = rule["cells"][0] if rule and rule["cells"] else {"measured": {"n": 0}, "steps": math.nan}
    return {"saturation_rule": rule, "prediction": study_prediction(study.dir, given, base["measured"], base["steps"])}


def _rest(study: Study) -> list[str]:
    return [a for a in study.group_by if a != ACT]


def _study_section(study: Study) -> dict[str, Any]:
    r = study.results
    extra = [c for c in ("step",) if c in r.columns]
    return {"name": r.name or study.dir.name, "axes": list(r.axes), "settings": study.settings,
            "group_by": study.group_by, "pooled": study.pooled, "runs": len(r.rows), "completed": len(r.completed()),
            "failed": [{c: x.get(c) for c in ("run", "status", *extra, *r.axes)} for x in r.failed()],
            "failed_columns": ["run", "status", *extra, *r.axes],
            "by_status": dict(Counter(str(x.get("status")) for x in r.failed())),
            "code_versions": code_versions(r.rows),
            "classifier_hashes": sorted({str(x[mk.CLASSIFIER_HASH]) for x in r.completed() if x.get(mk.CLASSIFIER_HASH)}),
            "step_s": _step_seconds(r)}


def code_versions(rows: list[dict]) -> dict[str, int]:
    """{code version: finished runs}; a run killed before its first checkpoint has none and is not a version."""
    versions = Counter(str(x.get(mk.CODE_VERSION) or "not recorded")
                       for x in rows if str(x.get("status") or "completed") in FINISHED)
    return dict(sorted(versions.items()))


def code_version_notes(versions: dict[str, int]) -> list[str]:
    """One note: the code version, or a warning that the runs came from several."""
    listed = ", ".join(f"{v} ({n} run{'s' if n > 1 else ''})" for v, n in versions.items())
    if len(versions) == 1:
        return [f"code version: {listed}"]
    if versions:
        return [f"the runs came from {len(versions)} code versions: {listed}; results may differ by code, "
                f"not only by setting: rerun the study on one version (results.csv column {mk.CODE_VERSION})"]
    return []


def _step_seconds(results) -> float:
    """The completed runs' median wall seconds per training step (what `gan study --plan` sizes time with)."""
    per_step = [float(r["wall_time_s"]) / float(r["step"]) for r in results.completed()
                if is_finite(r.get("wall_time_s")) and is_finite(r.get("step")) and r["step"] > 0]
    return float(np.median(per_step)) if per_step else math.nan


def final_keys(study: Study) -> list[str]:
    """The FINAL_KEYS columns with values; the final step time only when there is no median one."""
    keys = [k for k in FINAL_KEYS if study.results.has_metric(k)]
    return [k for k in keys if not (k in STEP_MS_KEYS[1:] and STEP_MS_KEYS[0] in keys)]


def _group_estimates(study: Study) -> dict[str, Any]:
    keys = final_keys(study)
    sums = {k: arm_summary(study.results, k, study.settings) for k in keys}
    rows = [{"group": lab, "runs": len(runs), "estimates": {k: sums[k][lab].as_dict() for k in keys}}
            for lab, runs in group_rows(study.results.completed(), study.settings).items()]
    return {"keys": keys, "rows": rows}


def step_series(rows: list[dict], key: str) -> dict[int, float]:
    """step -> value of `key` over metrics.jsonl rows (rows without a step or a finite value are skipped)."""
    return {int(r["step"]): float(r[key]) for r in rows if "step" in r and is_finite(r.get(key))}


def _curves(study: Study, groups: dict[str, list[dict]], key: str) -> dict[str, Any]:
    """group -> {steps, mean, low, high, n}: the mean over seeds per step with its 95% bootstrap band."""
    out = {}
    for lab, rows in groups.items():
        series = [step_series(study.metrics[str(r["run"])], key) for r in rows]
        steps = sorted(set().union(*series)) if series else []
        steps = steps[:: max(1, len(steps) // MAX_POINTS)]
        if not steps:
            continue
        mean, lo, hi = bootstrap_band(np.array([[s.get(t, np.nan) for t in steps] for s in series]))  # (runs, T)
        out[lab] = {"steps": steps, "mean": mean.tolist(), "low": lo.tolist(), "high": hi.tolist(), "n": len(series)}
    return out


def _values(values: Sequence[Any]) -> dict[str, Any]:
    finite = [float(v) for v in values if is_finite(v)]
    return {"values": finite, "estimate": bootstrap_mean(finite).as_dict()}


def _final(study: Study, groups: dict[str, list[dict]]) -> dict[str, Any]:
    return {k: {lab: _values([r.get(k) for r in rows]) for lab, rows in groups.items()} for k in final_keys(study)}


def _run_value(study: Study, row: dict, key: str) -> float:
    """mean/<key> from results.csv, else the mean of <key> over the run's metrics.jsonl rows."""
    if is_finite(row.get(mk.mean(key))):
        return float(row[mk.mean(key)])
    vals = list(step_series(study.metrics[str(row["run"])], key).values())
    return float(np.mean(vals)) if vals else math.nan


def _dead_by_layer(study: Study, groups: dict[str, list[dict]]) -> dict[str, Any]:
    keys = list(study.results.columns) + [k for rows in study.metrics.values() for r in rows[:50] for k in r]
    layers = list(dict.fromkeys(m.group(1) for k in keys if (m := mk.D_LAYER_DEAD.match(k))
                                and m.group(1) not in mk.SPLITS))
    return {"layers": layers, "groups": {lab: {layer: _values([_run_value(study, r, mk.probe("D", "dead_frac", layer))
                                                               for r in rows]) for layer in layers}
                                         for lab, rows in groups.items()}}


def _step_ms(row: dict) -> float:
    return next((float(row[k]) for k in STEP_MS_KEYS if is_finite(row.get(k))), math.nan)


def _effects(study: Study) -> dict[str, Any]:
    leaky = pick_leaky(study.results.levels(ACT))
    if leaky is None or RELU not in [str(a) for a in study.results.levels(ACT)]:
        return {"effect_curves": [], "effect_notes": ["effect over training: needs relu and a leaky_relu arm"],
                "leaky": leaky, "late_trends": {"fcd": [], "kid": []}, "steps_to_quality": None}
    margin = analysis_margin(HEADLINE.number, margins(study.results)[HEADLINE.number])
    curves = effect_curves(study.results, study.metrics, leaky, mk.FCD, margin)
    rows = [{"cell": c.cell, "steps": list(c.steps), "ratio": [r[0] for r in c.ratio()],
             "low": [r[1] for r in c.ratio()], "high": [r[2] for r in c.ratio()],
             "band_low": [b[0] for b in c.band()], "band_high": [b[1] for b in c.band()],
             "pairs": [t.n for t in c.tests]} for c in curves]
    notes = describe(curves, margin) if curves else \
        ["effect over training: fewer than 2 pairs with FCD at any evaluation step"]
    trends = {"fcd": late_trends(study.results, study.metrics, leaky, mk.FCD),
              "kid": late_trends(study.results, study.metrics, leaky, mk.KID)}
    kid_by_cell = {t.cell: t for t in trends["kid"]}
    notes += [late_trend_text(t, kid_by_cell.get(t.cell)) for t in trends["fcd"]]
    base, _ = baseline_results(study.results)
    shift = {"fcd": steps_to_quality(base, study.metrics, leaky, mk.FCD),
             "kid": steps_to_quality(base, study.metrics, leaky, mk.KID)}
    if shift["fcd"]["n"] >= 2:  # a study shorter than the fits' window (quick studies) says nothing here
        notes.append(steps_to_quality_text(shift["fcd"], shift["kid"]))
    return {"effect_curves": rows, "effect_notes": notes, "leaky": leaky, "effect_margin": margin,
            "late_trends": {k: [t.as_dict() for t in v] for k, v in trends.items()}, "steps_to_quality": shift}


def _relative(study: Study, path: Path | None) -> str | None:
    if path is None or not path.is_file():
        return None
    try:
        return path.resolve().relative_to(study.dir.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def _samples(study: Study) -> list[dict[str, Any]]:
    """Each group's first-seed run (completed first) and its samples/final.png."""
    out = []
    for lab, rows in study.groups(completed=False).items():
        row = min(rows, key=lambda r: (not is_completed(r), r[SEED] if is_finite(r.get(SEED)) else math.inf))
        d = study.run_dirs.get(str(row.get("run")))
        out.append({"group": lab, "title": label(row, study.settings), "run": row.get("run"), "seed": row.get(SEED),
                    "status": row.get("status"), "path": _relative(study, RunDir(d).final_samples if d else None)})
    return out


def same_noise(study: Study) -> dict[str, Any] | None:
    """The first seed whose ReLU and LeakyReLU baseline runs both completed with a final grid (same fixed noise)."""
    base, _ = baseline_results(study.results)
    leaky = pick_leaky(base.levels(ACT))
    by_seed: dict[Any, dict[str, str]] = {}
    for r in base.completed():
        by_seed.setdefault(r.get(SEED), {})[str(r.get(ACT))] = str(r["run"])
    for seed, runs in sorted(by_seed.items(), key=lambda kv: str(kv[0])):
        paths = {}
        for act in (RELU, leaky):
            d = study.run_dirs.get(runs.get(act, ""))
            paths[act] = _relative(study, RunDir(d).final_samples) if d else None
        if all(paths.values()):
            return {"seed": seed, "arms": list(paths), "paths": list(paths.values())}
    return None


def _notes(study: Study) -> list[str]:
    section, notes = _study_section(study), []
    if study.pooled:
        notes.append(f"more than {MAX_FIGURE_GROUPS} settings: figures pool every axis but {ACT} "
                     "(the groups table keeps them apart)")
    hashes = section["classifier_hashes"]
    if len(hashes) > 1:  # FCDs in the features of two networks are not comparable
        notes.append(f"the runs were measured by {len(hashes)} different quality classifiers "
                     f"({', '.join(h.removeprefix('sha256:')[:12] for h in hashes)}; results.csv column "
                     f"{mk.CLASSIFIER_HASH}): their quality metrics do not compare; evaluate every run with one classifier")
    notes += code_version_notes(section["code_versions"])
    by_status = section["by_status"]
    if by_status:
        parts = ", ".join(f"{status} {n}" for status, n in sorted(by_status.items()))
        notes.append(f"{sum(by_status.values())} run(s) did not complete ({parts}): left out of statistics and curves")
    return notes
