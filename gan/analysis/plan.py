"""`gan study STUDY.yaml --plan [--pilot DIR] [--jobs K]`: size a study from a pilot before paying for it.

    print(plan_table(plan(read_study_spec("configs/study/slopes.yaml"), "studies/slopes", jobs=2)))

From the pilot's results.csv (default: the study's own folder, studies/<name>): each claim's paired SD of
its primary metric (gan/analysis/claims/evaluate.py computes it exactly as the report does), then the pairs (seeds) a paired
t-test needs for 80% power against an effect of one margin at Holm's strictest level alpha / m, m = the
number of claims the planned study tests (found by evaluating its own planned runs, so a pilot that covers
fewer claims still gets the right level). Margins are the planned study's (`margins:` in its file).
Wall time: seeds x (the planned study's runs per seed) x the pilot's median seconds per training step
x the planned train.steps / K. The pilot's times were measured with whatever it shared the CPU with; run
the pilot with the same --jobs as the study. Claim 6 is sized in rounds of benchmarks/bench_act_step.py
(seconds each), not in runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from gan.analysis.claims.evaluate import evaluate_claims
from gan.analysis.claims.registry import DEAD, HEADLINE, HOYER, LOG_FCD, SEED_PAIRS, analysis_margin, claim, margins
from gan.analysis.study_analysis import claims_of, ensure_analysis
from gan.config.load import load_config
from gan.errors import UserError
from gan.files.layout import StudyDir
from gan.analysis.stats import ALPHA, POWER, pairs_needed
from gan.study.results import SEED, Results, make_results
from gan.study.spec import StudySpec, as_overrides


@dataclass(frozen=True)
class ClaimPlan:
    number: int
    metric: str
    pilot_pairs: int  # 0: the pilot cannot size this claim
    sd: float  # SD of the paired values on the analysis scale (log for ratio claims)
    margin: float  # on the analysis scale
    needed: int | None  # pairs (seeds; rounds for claim 6)
    wall_s: float  # the planned study at `needed` seeds, at --jobs K (NaN: unknown)
    note: str = ""


@dataclass(frozen=True)
class Plan:
    study: str
    pilot: Path
    jobs: int
    level: float  # alpha / m
    tested: tuple[int, ...]  # the claims the planned study tests (m = len)
    runs_per_seed: int
    step_s: float  # the pilot's median seconds per training step (wall time / steps, completed runs)
    steps: int  # the planned study's train.steps
    claims: tuple[ClaimPlan, ...]


def _stand_in_results(spec: StudySpec, columns: tuple[str, ...] = (HOYER, LOG_FCD, DEAD)) -> Results:
    """The planned runs with a constant in every primary column: which claims the planned study can test."""
    rows = [{"run": r.name, "status": "completed", **r.settings, **{m: 1.0 for m in columns}}
            for r in spec.runs]
    return make_results(rows, {"axes": spec.axes, "margins": spec.margins})


def plan(spec: StudySpec, pilot: str | Path | None = None, jobs: int = 1, power: float = POWER) -> Plan:
    """The plan of `spec` from the pilot folder's analysis.json (UserError when it holds no results.csv): the
    paired SD of each primary claim and the pilot's seconds per step."""
    pilot = Path(pilot) if pilot else Path("studies") / spec.name
    if not StudyDir(pilot).results_csv.is_file():
        raise UserError(f"no pilot for study '{spec.name}': {StudyDir(pilot).results_csv} does not exist; run a small pilot "
                        f"first (e.g. `gan study` on a copy of the file with 3-5 seeds) and pass --pilot DIR")
    analysis = ensure_analysis(pilot)  # the pilot's one analysis (written first, under its lock, when missing or stale)
    stand_in = evaluate_claims(_stand_in_results(spec), analysis.get("step_time_json"))
    tested = tuple(c.number for c in stand_in if c.primary and c.verdict != "not tested")
    level = ALPHA / max(1, len(tested))
    seeds = spec.axes.get(SEED) or [None]
    runs_per_seed = max(1, round(len(spec.runs) / len(seeds)))
    steps = load_config(spec.base, as_overrides(spec.overrides)).train.steps
    step_s = analysis["study"]["step_s"] if analysis["study"]["step_s"] is not None else math.nan
    m = margins(make_results([], {"margins": spec.margins}))  # the planned study's margins (its own `margins:`)
    out = []
    for c in (c for c in claims_of(analysis) if c.primary):
        margin = analysis_margin(c.number, m[c.number])
        if c.number not in tested:
            out.append(ClaimPlan(c.number, c.metric, 0, math.nan, margin, None, math.nan,
                                 "the planned study does not test it"))
            continue
        if not c.test or c.test.n < 2 or not math.isfinite(c.test.sd):
            why = c.detail if c.verdict == "not tested" else f"{c.n_pairs} pilot pair(s): no spread"
            out.append(ClaimPlan(c.number, c.metric, c.n_pairs, math.nan, margin, None, math.nan,
                                 f"the pilot cannot size it ({why})"))
            continue
        needed = pairs_needed(c.test.sd, margin, level, power)
        wall = math.nan
        if claim(c.number).pairs != SEED_PAIRS:  # claim 6: sized in rounds of its benchmark
            note = f"{claim(c.number).pairs}, not runs"
            wall = 0.0
        else:
            note = "" if c.test.n >= 5 else "fewer than 5 pilot pairs: the SD itself is rough"
            if needed is not None:
                wall = needed * runs_per_seed * step_s * steps / jobs
        out.append(ClaimPlan(c.number, c.metric, c.test.n, c.test.sd, margin, needed, wall, note))
    return Plan(spec.name, pilot, jobs, level, tested, runs_per_seed, step_s, steps, tuple(out))


def _hours(s: float) -> str:
    if not math.isfinite(s):
        return "?"
    return f"{s / 3600:.1f} h" if s >= 3600 else f"{s / 60:.0f} min"


def plan_table(p: Plan) -> str:
    """The plan as a printed table and a closing line."""
    head = ["claim", "primary metric", "pilot pairs", "paired SD", "margin", "pairs needed", "wall time", "note"]
    rows = []
    for c in p.claims:
        rows.append([f"{c.number} {claim(c.number).text[:40]}", c.metric, str(c.pilot_pairs),
                     f"{c.sd:.3g}" if math.isfinite(c.sd) else "-", f"{c.margin:.3g}",
                     str(c.needed) if c.needed is not None else "-", _hours(c.wall_s) if c.needed else "-", c.note])
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    line = lambda r: "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip()  # noqa: E731
    decided = [c for c in p.claims if c.needed is not None and claim(c.number).pairs == SEED_PAIRS]
    most = max(decided, key=lambda c: c.needed, default=None)
    text = [f"plan for study '{p.study}' from the pilot {p.pilot} (--jobs {p.jobs}):",
            f"{len(p.tested)} claim(s) tested ({', '.join(map(str, p.tested)) or 'none'}): Holm's strictest level "
            f"{ALPHA}/{max(1, len(p.tested))} = {p.level:.3g}; pairs for {POWER:.0%} power against an effect of one "
            "margin (paired t-test, margins on the analysis scale: log for ratios)",
            f"{p.runs_per_seed} run(s) per seed, {p.steps} steps each, {p.step_s:.3g} s per step in the pilot"
            if math.isfinite(p.step_s) else f"{p.runs_per_seed} run(s) per seed; the pilot has no run wall times",
            "", line(head), line(["-" * w for w in widths]), *map(line, rows)]
    if most:
        wall = (f"about {_hours(most.wall_s)} at --jobs {p.jobs}" if math.isfinite(most.wall_s)
                else "wall time unknown (no wall_time_s in the pilot's results.csv)")
        text += ["", f"to decide every sized claim: {most.needed} seeds -> {most.needed * p.runs_per_seed} runs, "
                     f"{wall} (claim {most.number} needs the most)"]
    return "\n".join(text)


def plan_study(study_yaml: str, pilot: str | None = None, jobs: int = 1) -> int:
    """`gan study STUDY.yaml --plan`: print the plan; nothing runs."""
    from gan.study.spec import read_study_spec

    print(plan_table(plan(read_study_spec(study_yaml), pilot, jobs)))
    return 0


########################################################################################
# the plan `gan study --until-decided` prints before it trains anything (no pilot needed)

# The paired SD of claim 2's log FCD ratio in the two answer studies (Fashion-MNIST and mnist5k, 24 pairs each,
# results/answer/answer.md: 95% CIs [1.09, 1.19] and [0.869, 0.959] -> SD ~0.10 and ~0.12): a prior for data
# never seen; the looks then measure the spread of the user's own data.
PRIOR_FCD_SD = 0.11


def _claim_numbers(numbers: list[int]) -> str:
    """[2] -> 'claim 2', [1, 2, 3] -> 'claims 1, 2, 3', [] -> 'no claim': numbers, never read as a count."""
    if not numbers:
        return "no claim"
    return ("claim " if len(numbers) == 1 else "claims ") + ", ".join(map(str, numbers))


def sequential_plan(spec: StudySpec, schedule: list[int], jobs: int = 1, step_s: float | None = None,
                    pieces: dict[str, float] | None = None) -> str:
    """What `--until-decided` will do and about how long it takes here: looks, runs, hours (every cost: the feature
    network when it is not cached, training steps, probes, evaluations, starting the runs), likely pairs.
    step_s: a given step time and nothing else (tests); pieces: time_pieces' measurements (else timed here)."""
    import os

    seeds = spec.axes.get(SEED) or [None]
    runs_per_seed = max(1, round(len(spec.runs) / len(seeds)))
    cfg = load_config(spec.base, as_overrides(spec.overrides))
    threads = max(1, (os.cpu_count() or 1) // jobs)  # as the runner gives each run
    feature_s = None
    if pieces is None and step_s is not None:
        pieces = {"step": step_s, "probe": 0.0, "probe_view": 0.0, "eval": 0.0, "eval_setup": 0.0, "startup": 0.0}
    elif pieces is None:
        from gan.train.machine import idle_cores
        from gan.train.step_time import feature_net_s, time_pieces_together

        feature_s = feature_net_s(cfg, idle_cores())  # trained once, on the idle cores, before the first run
        pieces = time_pieces_together(cfg, threads, jobs)
    step_s = pieces["step"]
    first = study_costs(pieces, cfg, runs_per_seed * schedule[0], jobs, feature_s)
    last = study_costs(pieces, cfg, runs_per_seed * schedule[-1], jobs, feature_s)
    columns = (*(HOYER, DEAD) * (cfg.train.probe_every > 0), *(LOG_FCD,) * cfg.eval.enabled)  # what runs will write
    stand_in = evaluate_claims(_stand_in_results(spec, columns), None)
    tested = [c.number for c in stand_in if c.primary and c.verdict != "not tested"]
    m = margins(make_results([], {"margins": spec.margins}))
    lines = [f"plan: looks at {', '.join(map(str, schedule))} seeds ({runs_per_seed} runs per seed, "
             f"{cfg.train.steps} steps each); tests {_claim_numbers(tested)}",
             f"this machine: {step_s:.3g} s per training step ({threads} thread{'s' * (threads > 1)}, "
             f"--jobs {jobs}, timed with {jobs} at once): about {_hours(first['total'])} to the first look "
             f"({costs_text(first)}), {_hours(last['total'])} if it runs to {schedule[-1]} seeds"]
    if HEADLINE.number in tested:
        margin = m[HEADLINE.number]
        needed = pairs_needed(PRIOR_FCD_SD, analysis_margin(HEADLINE.number, margin), ALPHA / max(1, len(tested)), POWER)
        lines.append(f"pairs likely needed for the sample-quality verdict: about {needed} (an effect of one margin, "
                     f"{margin:.0%} in FCD, at the seed-to-seed spread seen on Fashion-MNIST and mnist5k); "
                     "a larger effect decides at an earlier look, a smaller one may need every seed")
    return "\n".join(lines)


########################################################################################
# every cost of a study: the feature network, training steps, probes, evaluations, starting each run


def run_costs(pieces: dict[str, float], cfg) -> dict[str, float]:
    """Seconds one run of `cfg` spends, by part, from time_pieces' measured pieces (gan/train/step_time.py):
    training steps; probes (every train.probe_every steps, the data view on some of them as the loop does);
    evaluations (every eval.every steps and at the end, plus the evaluator's setup); starting (interpreter, torch,
    data)."""
    from gan.measure.probes import data_view_due

    t, steps = cfg.train, cfg.train.steps
    probes = [s for s in range(t.probe_every, steps + 1, t.probe_every)] if t.probe_every else []
    views = sum(data_view_due(s, t.probe_every, steps) for s in probes)
    every = cfg.eval.every
    evals = (len(range(every, steps + 1, every)) + (steps % every != 0) if every else 1) if cfg.eval.enabled else 0
    return {"train": steps * pieces["step"], "probe": (len(probes) - views) * pieces["probe"]
            + views * pieces["probe_view"], "eval": evals * pieces["eval"] + (evals > 0) * pieces["eval_setup"],
            "startup": pieces.get("startup", 0.0)}


def study_costs(pieces: dict[str, float], cfg, runs: int, jobs: int, feature_s: float | None) -> dict[str, float]:
    """Wall seconds of `runs` runs of cfg at --jobs `jobs`, by part, and "total": the feature network first (trained
    once on every core before any run), then the runs in waves of `jobs` (the pieces were timed with `jobs`
    processes at once, so sharing the CPU is in them)."""
    per_run = run_costs(pieces, cfg)
    waves = math.ceil(runs / max(jobs, 1))
    out = {k: v * waves for k, v in per_run.items()}
    out["feature_net"] = feature_s or 0.0
    out["total"] = sum(out.values())
    return out


def costs_text(costs: dict[str, float]) -> str:
    """'the feature network: cached; training 9 min, evaluations 3 min, probes 1 min, starting runs 1 min'."""
    parts = [("training", "train"), ("evaluations", "eval"), ("probes", "probe"), ("starting runs", "startup")]
    text = ", ".join(f"{name} {_hours(costs[k])}" for name, k in parts if costs.get(k))
    net = f"training the feature network first {_hours(costs['feature_net'])}" if costs.get("feature_net") else \
        "the feature network: cached"
    return f"{net}; {text}"
