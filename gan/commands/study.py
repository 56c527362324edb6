"""`gan study STUDY.yaml [key=value ...]`: run (or continue) a grid of seeded runs, then analyse and report.

Stages, each handing the next a file: the runner (local processes, or Slurm job arrays) writes the run folders and
results.csv; the analysis writes analysis.json; the report renders it (gan/commands/report.py's chain).
`--plan` runs nothing (gan/analysis/plan.py); `--until-decided` adds seeds in rounds (gan/analysis/sequential.py).
"""

from __future__ import annotations

import argparse
import os
import re

from gan.errors import UserError
from gan.study.slurm_options import add_slurm_arguments

EPILOG = ("Overrides after the study file change every run, e.g. `gan study configs/study/compare.yaml "
          "data.root=~/my_images` (an axis key cannot be overridden). Exit codes: 0 done, 1 a run failed, 2 bad "
          "input, 3 the --budget ran out before every run started (rerun to continue), 130 stopped (rerun resumes).")


def register(sub: argparse._SubParsersAction) -> None:
    st = sub.add_parser("study", help="run (or continue) a grid of seeded runs, then write the report", epilog=EPILOG)
    st.add_argument("study", metavar="STUDY.yaml", help="study file: name, base config, overrides, axes or grids")
    st.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides for every run")
    st.add_argument("--jobs", type=int, default=None, help="runs trained at once as local processes (default: "
                    f"the number of cores, {default_jobs()} here, each run on cores / jobs threads; --jobs 1 trains "
                    "one run at a time on every core)")
    st.add_argument("--threads", type=int, metavar="N", help="torch threads per local run (default: the cores "
                    "shared out over --jobs); keep the count earlier runs used when a study must match them")
    st.add_argument("--out", help="study directory (default: studies/<name>)")
    st.add_argument("--budget", metavar="TIME", help="wall-time budget, e.g. 90m or 10h: no run starts after it "
                    "(running ones finish; the same command continues later)")
    st.add_argument("--plan", action="store_true", help="run nothing: print the pairs each claim needs and the "
                    "wall time, from a pilot's analysis")
    st.add_argument("--until-decided", action="store_true", help="add seeds in rounds (8, 16, ...) until every "
                    "claim is decided, with O'Brien-Fleming alpha spending across the looks")
    st.add_argument("--max-seeds", type=int, metavar="N", help="with --until-decided: the most seeds")
    st.add_argument("--pilot", metavar="DIR", help="with --plan: the pilot study folder (default: --out, else "
                    "studies/<name>)")
    add_slurm_arguments(st)
    st.set_defaults(fn=run)


def default_jobs() -> int:
    """--jobs when not given: one run per core. On a CPU one run leaves cores idle (its small convolutions do not
    scale), so a study finishes sooner with runs side by side on one thread each than one at a time on all."""
    return os.cpu_count() or 1


def check_study(study_yaml: str, overrides: tuple[str, ...]) -> None:
    """The study file's and its runs' config mistakes, and a data.root folder that cannot be trained on, found
    before anything imports torch (seconds on a busy machine): a typo is answered at once."""
    from gan.data.folder import check_root
    from gan.config.load import load_config
    from gan.study.spec import as_overrides, read_study_spec

    spec = read_study_spec(study_yaml, overrides)  # every run's config is checked here
    seen = set()
    for run in spec.runs:  # one folder check per distinct set of data.* settings (an axis may vary them)
        data = tuple(sorted((k, str(v)) for k, v in run.settings.items() if k.startswith("data.")))
        if data not in seen:
            seen.add(data)
            cfg = load_config(spec.base, as_overrides(run.settings)).data
            if cfg.name == "folder":
                check_root(cfg.root)


def parse_budget(text: str | None) -> float | None:
    """'90m' -> 5400.0 s; '10h', '1.5h', '45s', '3600' (seconds); None -> None."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(text))
    if not m or float(m.group(1)) <= 0:
        raise UserError(f"--budget '{text}' is not a positive duration; write e.g. 90m, 10h or 3600 (seconds)")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def run(a: argparse.Namespace) -> int:
    a.jobs = default_jobs() if a.jobs is None else a.jobs
    if a.jobs <= 0:
        raise UserError(f"--jobs must be positive, got {a.jobs}")
    if a.threads is not None and a.threads <= 0:
        raise UserError(f"--threads must be positive, got {a.threads}")
    budget_s = parse_budget(a.budget)
    if a.plan:  # nothing runs: size the study from a pilot (gan/analysis/plan.py)
        from gan.analysis.plan import plan_study

        return plan_study(a.study, pilot=a.pilot or a.out, jobs=a.jobs)
    check_study(a.study, tuple(a.overrides))
    if a.pilot:
        raise UserError("--pilot only goes with --plan (it names the pilot study folder the plan reads)")
    if a.until_decided:  # looks at growing seed counts with alpha spending (gan/analysis/sequential.py)
        from gan.analysis.sequential import run_until_decided

        if a.max_seeds is None:
            raise UserError("--until-decided needs --max-seeds N (the most seeds it may add up to, e.g. 32)")
        from gan.study.runner import study_dir_of
        from gan.study.spec import read_study_spec

        code = run_until_decided(a.study, a.max_seeds, jobs=a.jobs, out=a.out, overrides=tuple(a.overrides))
        if code != 130:
            from gan.commands.report import analyse_and_report

            analyse_and_report(study_dir_of(read_study_spec(a.study, tuple(a.overrides)), a.out))
        return code
    if a.max_seeds is not None:
        raise UserError("--max-seeds only goes with --until-decided")
    if a.executor == "slurm":
        code, study_dir = _run_on_slurm(a)
    else:
        from gan.study.runner import run_study, study_dir_of
        from gan.study.spec import read_study_spec

        if a.detach:
            raise UserError("--detach only goes with --executor slurm (local runs are this process's children)")
        code = run_study(a.study, jobs=a.jobs, out=a.out, overrides=tuple(a.overrides), budget_s=budget_s,
                         threads=a.threads)
        study_dir = study_dir_of(read_study_spec(a.study, tuple(a.overrides)), a.out)
    if code in (0, 1, 3) and study_dir is not None:  # a stopped study (130) is reported once it finishes
        from gan.commands.report import analyse_and_report

        analyse_and_report(study_dir)
    return code


def _run_on_slurm(a: argparse.Namespace):
    """The runs as Slurm job-array tasks (gan/study/slurm.py): (exit code, study dir or None when detached)."""
    from gan.files.lock import FolderLock
    from gan.study.collect import collect_results
    from gan.study.runner import study_dir_of, tally, write_study_file
    from gan.study.slurm import run_on_slurm
    from gan.study.slurm_options import slurm_flags, study_slurm_options
    from gan.study.spec import read_study_spec

    spec = read_study_spec(a.study, tuple(a.overrides))
    options = study_slurm_options(a.study, slurm_flags(a))
    study_dir = study_dir_of(spec, a.out)
    with FolderLock(study_dir, "study folder"):
        write_study_file(spec, a.study, study_dir)
        statuses = run_on_slurm(spec, study_dir, spec.runs, options, detach=a.detach)
        if a.detach:
            print(f"submitted {len(statuses)} run(s) to Slurm; run the same command again to wait and report")
            return 0, None
        print(tally(study_dir, statuses, len(spec.runs) - len(statuses)))
        print(f"results: {collect_results(study_dir, spec, spec.runs)}")
    if any(s == "failed" for s in statuses.values()):
        return 1, study_dir
    return (130 if any(s in ("interrupted", "skipped") for s in statuses.values()) else 0), study_dir
