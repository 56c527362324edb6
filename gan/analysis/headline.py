"""The one-line answer every study report opens with, saying only what was measured.

    line = headline(study, claims)   # "On Fashion-MNIST (60000 training images), at this training length (1000 steps): ..."
    line = headline_text(facts, claim, margin)   # the same from hand-built facts (what `headline` reads from files)

The answer is claim 2's (sample quality, LeakyReLU / ReLU tail-averaged FCD): the sequential verdict of the last
look when the study ran with --until-decided (the one with the stated error rate), else the report's own. Beside
the verdict it quotes the interval the verdict used (the 90% interval of the equivalence test for "equivalent",
the 95% one and Holm's p otherwise) and the 95% interval, labelled. It then says what the verdict is about when
the measurement limits it:
- early training: the evaluations averaged (the last 3) reach back into the first half of the run;
- samples far from the data: both arms' FCD above what real images blurred with a Gaussian of sigma 1 score
  against the held-out set (`quality/ref/fcd_blur1`, measured with the real-data floor: summary.json's quality_ref,
  or for runs older than the anchor the shipped floor file of the same feature network), so "the same quality"
  means equally far from real images; without a measured anchor nothing is said;
- a biased FCD: fewer than MIN_SAMPLES held-out images or evaluation samples (both FCDs are biased upwards, which
  pulls their ratio towards 1).
A study where claim 2 is not tested names the claims it did test, with their verdicts.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import scipy.stats as sps

from gan.analysis.claims.evaluate import is_headline
from gan.analysis.claims.registry import HEADLINE, LOG_FCD, MARGINS
from gan.analysis.claims.result import ClaimResult, fmt
from gan.analysis.claims.rules import RELU, baseline_results, pick_leaky
from gan.analysis.effect_curve import STILL_MOVING, late_trends
from gan.config.datasets import BUILTIN
from gan.config.schema import DATA_NAME, DATA_ROOT, EVAL_EVERY, EVAL_N_SAMPLES, STEPS
from gan.config.load import read_run_config
from gan.files.layout import SUMMARY_FILE, StudyDir, shipped_reference
from gan.measure import metric_keys as mk
from gan.study.read import Study
from gan.study.results import ACT, is_finite
from gan.tracking.summary_file import FINISHED, QUALITY_REF, STATUS, read_summary

MIN_SAMPLES = 2048  # gan/measure/quality.py's: below it Frechet distances are visibly biased (no torch import here)
ARMS = {RELU: "ReLU"}


def arm_name(act: str) -> str:
    """'relu' -> 'ReLU', 'leaky_relu:0.2' -> 'LeakyReLU(0.2)'."""
    if act in ARMS:
        return ARMS[act]
    return f"LeakyReLU({act.split(':', 1)[1]})" if act.startswith("leaky_relu:") else act


########################################################################################
# the facts, read from the study's files


def run_data(study: Study) -> dict[str, Any] | None:
    """What the runs trained on and how they were measured, from the first finished run folder with a config.yaml:
    {"name", "root", "steps", "images", "eval_every", "n_samples", "held_out", "floor", "blur_anchor",
    "blur_anchor_from", "run"}."""
    found = None
    for name, d in study.run_dirs.items():
        saved = read_run_config(d) if d is not None else None
        if saved is None:
            continue
        cfg, summary = saved.cfg, read_summary(d)
        ref = summary.get(QUALITY_REF) or {}
        facts = {"name": cfg.data.name, "root": cfg.data.root, "steps": cfg.train.steps,
                 "images": (summary.get(mk.DATASET) or {}).get("train_images"), "eval_every": cfg.eval.every,
                 "n_samples": cfg.eval.n_samples, "held_out": ref.get(mk.REF_HELD_OUT),
                 "floor": ref.get(mk.reference(mk.FCD)), **blur_anchor(ref, summary, cfg.eval.n_samples),
                 "run": name}
        if summary.get(STATUS) in FINISHED and is_finite(facts["floor"]):
            return facts
        found = found or facts  # a finished run with a floor is better; any run says what the study trained on
    if found is None and study.results.rows:  # no run folder kept its config.yaml: results.csv's columns
        row = (study.results.completed() or study.results.rows)[0]
        found = {"name": row.get(DATA_NAME), "root": row.get(DATA_ROOT), "steps": row.get(STEPS),
                 "images": row.get(mk.TRAIN_IMAGES), "eval_every": row.get(EVAL_EVERY),
                 "n_samples": row.get(EVAL_N_SAMPLES), "held_out": None, "floor": None, "blur_anchor": None,
                 "blur_anchor_from": None, "run": row.get("run")}
    return found


def blur_anchor(ref: dict[str, Any], summary: dict[str, Any], n_samples: Any) -> dict[str, Any]:
    """{"blur_anchor": the FCD of real images blurred with sigma 1 at the floor's sample size, "blur_anchor_from":
    where it was read}: the run's summary.json quality_ref, else (a run older than the anchor) the shipped floor
    file measured by the same feature network at the same sample size; None and None when neither has it."""
    if is_finite(ref.get(mk.REF_FCD_BLUR1)):
        return {"blur_anchor": ref[mk.REF_FCD_BLUR1], "blur_anchor_from": SUMMARY_FILE}
    digest = (summary.get(mk.CLASSIFIER) or {}).get("hash")
    path = shipped_reference(int(n_samples), str(digest)) if digest and isinstance(n_samples, int) else None
    try:
        value = json.loads(path.read_text()).get(mk.REF_FCD_BLUR1) if path is not None else None
    except (OSError, ValueError, AttributeError):
        value = None
    if is_finite(value):
        return {"blur_anchor": value, "blur_anchor_from": f"shipped floor file {path.name}"}
    return {"blur_anchor": None, "blur_anchor_from": None}


def evaluated_steps(study: Study, facts: dict[str, Any]) -> list[int]:
    """The steps of the evaluations the tail average read (the last TAIL_EVALS with an FCD) in one run: from its
    metrics.jsonl, else (a packed study keeps metrics.jsonl.gz) from its schedule, every eval.every steps and at
    the end (gan/train/loop.py), and the count results.csv says it averaged."""
    rows = study.metrics.get(str(facts.get("run")), [])
    steps = sorted(int(r["step"]) for r in rows if "step" in r and is_finite(r.get(mk.FCD)) and r[mk.FCD] > 0)
    if steps:
        return steps[-mk.TAIL_EVALS:]
    row = next((r for r in study.results.rows if str(r.get("run")) == str(facts.get("run"))), {})
    n, every, last = row.get(mk.TAIL_N_EVALS), facts.get("eval_every"), facts.get("steps")
    if not (is_finite(n) and n > 0 and isinstance(last, int) and last > 0):
        return []
    planned = sorted({*range(every, last + 1, every), last} if isinstance(every, int) and every > 0 else {last})
    return planned[-int(n):]


def arm_fcds(study: Study) -> dict[str, float]:
    """Each arm's geometric-mean tail FCD over its completed runs (of the first grid, as claim 2 reads them)."""
    base, _ = baseline_results(study.results)
    leaky = pick_leaky(base.levels(ACT))
    out = {}
    for act in (RELU, leaky):
        logs = [float(r[LOG_FCD]) for r in base.completed() if str(r.get(ACT)) == act and is_finite(r.get(LOG_FCD))]
        if act and logs:
            out[arm_name(act)] = math.exp(float(np.mean(logs)))
    return out


def facts_of(study: Study) -> dict[str, Any] | None:
    """Everything headline_text needs besides the claims, read from the study's files; None without a run."""
    data = run_data(study)
    if data is None:
        return None
    return {**data, "evaluated": evaluated_steps(study, data), "arms": arm_fcds(study)}


def headline_trend(study: Study) -> dict[str, Any] | None:
    """The late trend (docs/claims.md: the per-pair slope of the log FCD ratio over the last 40% of the steps) of
    the runs the headline compares, when they form one cell; None otherwise."""
    base, _ = baseline_results(study.results)
    leaky = pick_leaky(base.levels(ACT))
    trends = late_trends(base, study.metrics, leaky) if leaky is not None else []
    if len(trends) != 1:
        return None
    t = trends[0].as_dict()
    return {k: t.get(k) for k in ("reading", "mean", "ci_low", "ci_high", "first_step", "last_step", "n")}


def _sequential_verdict(study: Study) -> tuple[str, str] | None:
    """(claim 2's verdict at the last look, how many seeds) from sequential.json, if the study has one."""
    try:
        looks = json.loads(StudyDir(study.dir).sequential_json.read_text())["looks"]
        last = looks[-1]
        return str(last["verdicts"][str(HEADLINE.number)]), f"sequential verdict at {last['seeds']} seeds, level {last['level']:.2g}"
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None


def headline(study: Study, claims: list[ClaimResult], margins: dict[int, float] | None = None) -> str | None:
    """The report's first line; None for a study without a run folder to read."""
    return headline_section(study, claims, margins)["headline"]


def headline_section(study: Study, claims: list[ClaimResult], margins: dict[int, float] | None = None
                     ) -> dict[str, Any]:
    """analysis.json's {"headline": the first line or None, "headline_facts": what it was made from or None}."""
    facts = facts_of(study)
    if facts is None:
        return {"headline": None, "headline_facts": None}
    facts["late_trend"] = headline_trend(study)
    seq = _sequential_verdict(study)
    return {"headline": headline_text(facts, claims, (margins or MARGINS), *(seq or ("", ""))),
            "headline_facts": facts}


########################################################################################
# the words


def _interval(c: ClaimResult, level: float) -> tuple[float, float]:
    """The t-interval of claim c's mean paired effect at `level`, as ratios (the test keeps mean, sd and n)."""
    t = c.test
    half = sps.t.ppf(0.5 + level / 2, t.n - 1) * t.sd / math.sqrt(t.n)
    show = math.exp if c.log else float
    return show(t.mean - half), show(t.mean + half)


def _ci(lo: float, hi: float) -> str:
    return f"[{fmt(lo)}, {fmt(hi)}]"


def answer(verdict: str, c: ClaimResult, margin: float) -> str:
    """Claim 2's verdict in the practitioner's words, with the interval the verdict used and the 95% one."""
    pairs = f"{c.n_pairs} seed pair{'s' * (c.n_pairs != 1)}"
    ratio = f"LeakyReLU / ReLU FCD {fmt(c.effect)}x"
    ci95 = f"95% CI {_ci(c.ci_low, c.ci_high)}"
    within = f"±{margin:.0%}"
    if verdict.startswith("not tested") or not c.n_pairs:
        return "no answer yet: no seed has both a completed ReLU and a completed LeakyReLU run"
    if verdict.startswith("no variation"):
        return f"either: every seed pair scored exactly alike ({ratio}, {pairs})"
    equiv = (f"equivalence test: 90% CI {_ci(*_interval(c, 0.90))} inside {within}, TOST p {fmt(c.test.p_equiv)}"
             if c.test.n >= 2 else "")
    if verdict.startswith("equivalent"):
        return (f"either: ReLU and LeakyReLU(0.2) in D gave samples of the same quality within {within} ({ratio}; "
                f"{equiv}; {ci95}; {pairs})")
    if verdict.startswith(("supported", "contradicted")):
        better = "LeakyReLU(0.2)" if c.effect < 1 else "ReLU"
        worse = "ReLU's" if better.startswith("Leaky") else "LeakyReLU(0.2)'s"
        grade = (f", by less than {within} ({equiv})" if "below the margin" in verdict else
                 f", by more than {within} (the whole 95% CI beyond it)" if "beyond the margin" in verdict else
                 f"; whether by more than {within} is unclear (the 95% CI crosses it)")
        return (f"use {better} in D: its samples scored better than {worse}{grade} ({ratio}, {ci95}, p (Holm) "
                f"{fmt(c.p_adjusted)}; {pairs}; lower FCD is better)")
    return (f"not decided: these {pairs} can tell neither a difference nor equivalence within {within} ({ratio}, "
            f"{ci95}, p (Holm) {fmt(c.p_adjusted)}); add seeds (--max-seeds) to decide it")


def caveats(facts: dict[str, Any], verdict: str) -> list[str]:
    """What the verdict is about when the measurement limits it (see the module docstring), in words."""
    out = []
    steps, evaluated = facts.get("steps"), facts.get("evaluated") or []
    if steps and evaluated and evaluated[0] <= steps / 2:
        listed = ", ".join(map(str, evaluated[:-1])) + (" and " if len(evaluated) > 1 else "") + str(evaluated[-1])
        span = "the whole" if len(evaluated) > 1 and evaluated[0] <= (facts.get("eval_every") or 0) else "most of this"
        out.append(f"it is about early training: the {len(evaluated)} evaluation{'s' * (len(evaluated) > 1)} "
                   f"averaged (step{'s' * (len(evaluated) > 1)} {listed}) cover {span} {steps}-step run")
    anchor, floor, arms = facts.get("blur_anchor"), facts.get("floor"), facts.get("arms") or {}
    if is_finite(anchor) and anchor > 0 and len(arms) == 2 and all(v > anchor for v in arms.values()):
        (a, fa), (b, fb) = arms.items()
        meaning = ("'the same quality' means equally far from real images" if verdict.startswith(("equivalent",
                   "no variation")) else "the comparison is between samples still far from real images")
        real = f", real images themselves {fmt(floor)}" if is_finite(floor) else ""
        out.append(f"both arms' samples are still far from the data: FCD {fmt(fa)} ({a}) and {fmt(fb)} ({b}), above "
                   f"the {fmt(anchor)} that real images blurred with a Gaussian of sigma 1 score{real}; {meaning}")
    trend = facts.get("late_trend") or {}
    if trend.get("reading") == STILL_MOVING:
        way = "falling" if trend["mean"] < 0 else "rising"
        pct = [f"{100 * math.expm1(trend[k]):+.1f}%" for k in ("mean", "ci_low", "ci_high")]
        out.append(f"the ratio was still {way} at the end ({pct[0]} per 1000 steps over steps {trend['first_step']}-"
                   f"{trend['last_step']}, 95% CI [{pct[1]}, {pct[2]}]), so this verdict holds at this length only")
    held, n = facts.get("held_out"), facts.get("n_samples")
    fewest = min((x for x in (held, n) if is_finite(x)), default=None)
    if fewest is not None and fewest < MIN_SAMPLES:
        which = (f"only {held:.0f} held-out images" if is_finite(held) and held == fewest else
                 f"only {n:.0f} generated samples (eval.n_samples)")
        out.append(f"FCD was measured against {which}, fewer than {MIN_SAMPLES}: both arms' FCD are biased upwards, "
                   "which pulls their ratio towards 1")
    return out


def data_words(facts: dict[str, Any]) -> str:
    """'these images (ROOT, N training images)' for a folder, 'Fashion-MNIST (60000 training images)' otherwise."""
    images = f"{facts['images']} training images" if facts.get("images") else ""
    if facts.get("name") == "folder":
        return f"these images ({facts.get('root')}{', ' + images if images else ''})"
    known = BUILTIN.get(str(facts.get("name")))
    name = (known.title if known else str(facts.get("name"))) if facts.get("name") else "this study's data"
    return f"{name} ({images})" if images else name


def headline_text(facts: dict[str, Any], claims: list[ClaimResult], margins: dict[int, float],
                  verdict: str = "", how: str = "") -> str:
    """The headline from facts (facts_of's dict), the study's claims and margins; `verdict`, `how`: a sequential
    verdict of claim 2 and where it came from (empty: the report's own verdict)."""
    opening = f"On {data_words(facts)}, at this training length ({facts.get('steps')} steps): "
    c = next((c for c in claims if is_headline(c)), None)
    if c is None or c.verdict.startswith("not tested"):
        tested = [x for x in claims if x.primary and not x.verdict.startswith("not tested")]
        why = f" ({c.detail})" if c is not None and c.detail else ""
        rest = ("; tested: " + "; ".join(f"claim {x.number} ({x.text}) {x.verdict}" for x in tested) if tested
                else "; no claim could be tested")
        return opening + f"no sample-quality answer: claim {HEADLINE.number} was not tested{why}{rest}."
    verdict = verdict or c.verdict
    text = opening + answer(verdict, c, margins[HEADLINE.number]) + (f" [{how}]" if how else "") + "."
    notes = caveats(facts, verdict)
    return text + ("" if not notes else " Read it with care: " + "; ".join(notes) + ".")
