"""`gan study STUDY.yaml --until-decided --max-seeds N`: add seeds in rounds, stop once every claim is decided.

    run_until_decided("configs/study/quick.yaml", max_seeds=32, jobs=2)   # looks at 8, 16, 24, 32 seeds

Looks: the study's own seed count first (at least 8: fewer pairs cannot reach an interim level), then the
same number more each round, up to N. Each look trains the missing seeds (`gan study` on the study file with
its train.seed list extended; finished runs are kept), then decides the claims at that look's level.
Levels: O'Brien-Fleming-type alpha spending (Lan-DeMets), alpha(t) = 2 - 2 Phi(z_{1-alpha/2} / sqrt(t)) at
information t = seeds / N; look k spends alpha(t_k) - alpha(t_{k-1}), and Holm runs at that level. Each
verdict (supported, contradicted, equivalent) can be reached at any look, so the levels add up (Bonferroni
over looks) to at most ALPHA: looking more than once does not inflate the error rate (conservative, since
the looks are correlated). Early looks spend almost nothing (8 of 32 seeds: 0.0001), so only large
effects stop a study early. Every look is written to STUDY_DIR/sequential.json. The study's report.md
reads its claims at the fixed-sample 0.05; after early stopping, the sequential verdicts here are the
ones with the stated error rate.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

import yaml
from scipy import stats as sps

from gan.errors import UserError
from gan.files.atomic import write_text_atomic
from gan.files.layout import StudyDir
from gan.analysis.stats import ALPHA
from gan.study.results import SEED

MIN_FIRST_LOOK = 8
# prefixes; inconclusive is not. "no variation" (every pair equal, e.g. no dead unit in any run) counts: more seeds
# of a measure that is exactly constant would only repeat it
DECIDED = ("supported", "contradicted", "equivalent", "uninformative", "no variation")


def looks(first: int, max_seeds: int) -> list[int]:
    """Seed counts at each look: first, 2 x first, ..., and max_seeds last."""
    first = max(first, MIN_FIRST_LOOK)
    if max_seeds < first:
        raise UserError(f"--max-seeds {max_seeds} is below the first look ({first} seeds); pass at least {first}")
    out = list(range(first, max_seeds, first))
    return out + [max_seeds]


def spent(t: float, alpha: float = ALPHA) -> float:
    """O'Brien-Fleming-type spending function of Lan and DeMets: alpha spent by information fraction t."""
    if t <= 0:
        return 0.0
    return float(min(alpha, 2 - 2 * sps.norm.cdf(sps.norm.ppf(1 - alpha / 2) / math.sqrt(min(t, 1.0)))))


def look_levels(seeds: list[int], alpha: float = ALPHA) -> list[float]:
    """Each look's level: the alpha spent since the previous look; they sum to alpha."""
    total = seeds[-1]
    cum = [spent(n / total, alpha) for n in seeds]
    return [c - p for c, p in zip(cum, [0.0, *cum[:-1]])]


def with_seeds(raw: dict[str, Any], n: int) -> dict[str, Any]:
    """The study file with train.seed = [0, ..., n-1] in its axes (or in every grid that has a seed axis)."""
    out = dict(raw)
    if out.get("grids"):
        out["grids"] = [{**g, "axes": {**g["axes"], SEED: list(range(n))}} if SEED in (g.get("axes") or {}) else g
                        for g in out["grids"]]
        if not any(SEED in (g.get("axes") or {}) for g in out["grids"]):
            raise UserError("--until-decided needs a train.seed axis in at least one grid of the study file")
    else:
        if SEED not in (out.get("axes") or {}):
            raise UserError("--until-decided needs a train.seed axis in the study file (the seeds it adds)")
        out["axes"] = {**out["axes"], SEED: list(range(n))}
    return out


def _first_seeds(raw: dict[str, Any]) -> int:
    axes = [raw.get("axes") or {}] + [g.get("axes") or {} for g in raw.get("grids") or []]
    return max((len(a[SEED]) for a in axes if isinstance(a, dict) and isinstance(a.get(SEED), list)), default=0)


def decided(verdict: str) -> bool:
    return verdict.startswith(DECIDED)


def run_until_decided(study_yaml: str, max_seeds: int, jobs: int = 1, out: str | None = None,
                      run: Callable[..., int] | None = None, overrides: tuple[str, ...] = (),
                      plan: bool | None = None) -> int:
    """Train look by look until every tested primary claim is decided at its spent level, or N seeds."""
    from gan.analysis.claims.evaluate import evaluate_claims
    from gan.study.spec import read_study_spec
    from gan.study.runner import run_study, study_dir_of
    from gan.study.read import load_study_results

    run = run or run_study
    path = Path(study_yaml)
    spec = read_study_spec(path, overrides)  # validates the file (UserError before anything runs)
    raw = spec.raw  # the command line's overrides merged in: every look file carries them
    study_dir = study_dir_of(spec, out)
    layout = StudyDir(study_dir)
    schedule = looks(_first_seeds(raw), max_seeds)
    levels = look_levels(schedule)
    if plan or (plan is None and run is run_study):  # first: what will run, about how long it takes here
        from gan.analysis.plan import sequential_plan

        print(sequential_plan(spec, schedule, jobs), flush=True)
    record: dict[str, Any] = {"max_seeds": max_seeds, "looks": []}
    code = 0
    for k, (n, level) in enumerate(zip(schedule, levels), 1):
        study_dir.mkdir(parents=True, exist_ok=True)
        look_file = layout.look_yaml(n)
        look = {**with_seeds(raw, n), "name": spec.name, "base": spec.base}  # base: resolved, from any folder
        write_text_atomic(look_file, yaml.safe_dump({k: v for k, v in look.items() if v is not None}, sort_keys=False))
        print(f"look {k}/{len(schedule)}: {n} seeds, level {level:.3g} (O'Brien-Fleming spending of {ALPHA})")
        code = run(str(look_file), jobs=jobs, out=str(study_dir))
        if code == 130:  # stopped: the same command resumes the look
            return code
        study = load_study_results(study_dir)
        claims = [c for c in evaluate_claims(study.results, study.step_time, alpha=level) if c.primary]
        tested = [c for c in claims if c.verdict != "not tested"]
        for c in tested:
            print(f"  claim {c.number}: {c.verdict} (Holm p {c.p_adjusted:.3g}, {c.n_pairs} pairs)")
        record["looks"].append({"seeds": n, "level": level,
                                "verdicts": {str(c.number): c.verdict for c in tested}})
        write_text_atomic(layout.sequential_json, json.dumps(record, indent=1) + "\n")
        if tested and all(decided(c.verdict) for c in tested):
            print(f"every tested claim is decided at {n} seeds: stopping ({layout.sequential_json})")
            return code
    print(f"{max_seeds} seeds reached with claims still inconclusive ({layout.sequential_json})")
    return code
