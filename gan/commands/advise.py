"""`gan advise CONFIG_OR_DATA [key=value ...]`: ReLU or LeakyReLU in *your* D? A short pilot, read by claim 11.

Trains ReLU and LeakyReLU(0.2) in D on a few paired seeds for 2000 steps (a small study, gan/study/runner.py, in
studies/advise-<data>-<hash> unless --out: rerunning the command resumes it), then prints, and writes as advise.md and
advise.json with the figure advise.png: what the ReLU D does beside the committed studies' range; the paired
LeakyReLU / ReLU FCD and KID ratio at each evaluation; the saturation rule's prediction (docs/claims.md, claim 11)
for your training length and whether a compare study is needed (its command and planned time); the rule's track
record read from the committed studies. The numbers are gan/analysis/advice.py's; the text gan/report/advice.py's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from gan.errors import UserError
from gan.config import schema

REPO = Path(__file__).resolve().parents[2]
COMPARE = REPO / "configs" / "study" / "compare.yaml"
SEEDS, STEPS = 3, 2000
# the pilot's cadence: the committed studies' (log every 50, probes every 100, quality every 500 on 2048 samples)
PILOT = {schema.LOG_EVERY: 50, schema.PROBE_EVERY: 100, schema.CKPT_EVERY: 250, schema.EVAL_ENABLED: True,
         schema.EVAL_EVERY: 500, schema.EVAL_N_SAMPLES: 2048}
SIZE_KEYS = (schema.NGF, schema.NDF)  # the compare preset's size, unless the user's setup says otherwise
NOT_SETUP = ("name", schema.D_ACT, schema.SEED, schema.LOG_EVERY, schema.PROBE_EVERY, schema.SAMPLE_EVERY,
             schema.CKPT_EVERY, schema.EVAL_EVERY, schema.EVAL_N_SAMPLES, schema.EVAL_ENABLED)  # how a study runs, not what it trains
MAX_SEEDS, COMPARE_JOBS = 24, 2

EPILOG = ("Examples: `gan advise configs/fashion_mnist.yaml`, `gan advise ~/my_images` (a folder or .zip of images), "
          "`gan advise data.name=folder data.root=~/my_images model.d_norm=none`. The pilot is a study folder: the same "
          "command resumes it. Exit codes: 0 done, 1 a pilot run failed (the advice uses the runs that completed), "
          "2 bad input, 130 stopped (rerun resumes).")


def register(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser("advise", help="a short pilot of your setup: what its ReLU D does, what the saturation rule "
                       "predicts, and its track record", epilog=EPILOG)
    a.add_argument("setup", metavar="CONFIG_OR_DATA", help="a config YAML, a folder or .zip of images, or the first "
                   "key=value override")
    a.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides of your setup (width, "
                   "depth, normalization, learning rates, image size, train.steps: the length you will train)")
    a.add_argument("--seeds", type=int, default=SEEDS, help=f"paired seeds of the pilot (default {SEEDS}: each trains "
                   "ReLU and LeakyReLU(0.2) in D from the same start)")
    a.add_argument("--steps", type=int, default=STEPS, help=f"pilot length (default and minimum {STEPS}: the rule reads "
                   f"steps 1001-2000)")
    a.add_argument("--jobs", type=int, help="pilot runs trained at once (default: the cores, at most 2)")
    a.add_argument("--out", help="pilot folder (default: studies/advise-<data>-<hash of the setup>)")
    a.set_defaults(fn=run)


def _setup(first: str, rest: list[str]) -> tuple[str | None, list[str]]:
    """(base config file or None, the user's overrides) from CONFIG_OR_DATA and the overrides after it."""
    if "=" in first:
        return None, [first, *rest]
    path = Path(first).expanduser()
    if path.is_dir() or path.suffix.lower() == ".zip":
        return None, ["data.name=folder", f"data.root={path}", *rest]
    if path.is_file():
        return str(path), list(rest)
    raise UserError(f"'{first}' is not a config file, a folder or .zip of images, or a key=value override; give e.g. "
                    "configs/fashion_mnist.yaml, ~/my_images or data.name=folder data.root=~/my_images")


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _given_keys(base: str | None, overrides: list[str]) -> set[str]:
    """The keys the user's config file and overrides set (the rest are defaults)."""
    from gan.config.load import parse_overrides
    from gan.files.yaml_file import read_yaml_mapping

    keys = set(_flat(read_yaml_mapping(base, "config file"))) if base else set()
    return keys | set(parse_overrides(overrides))


def _size_defaults(given: set[str]) -> dict[str, Any]:
    """The compare preset's model size (ngf = ndf = 32) for the keys the user did not set."""
    from gan.files.yaml_file import read_yaml_mapping

    preset = read_yaml_mapping(COMPARE, "study file").get("overrides") or {}
    return {k: preset[k] for k in SIZE_KEYS if k in preset and k not in given}


def _settings(cfg) -> dict[str, Any]:
    from gan.config.load import config_to_dict

    return _flat(config_to_dict(cfg))


def _show(v: Any) -> str:
    """A value as a command-line override would spell it."""
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_show(x) for x in v) + "]"
    if isinstance(v, float) and v.is_integer():
        return str(int(v)) if abs(v) < 1e6 else str(v)
    return str(v)


def compare_command(user_cfg, length: int, jobs: int = COMPARE_JOBS) -> tuple[str, list[str]]:
    """The compare study for a decided answer on this setup at the user's length, and its overrides: every setup key
    where the user's differs from the preset's (so the study trains what the pilot trained)."""
    from gan.config.load import load_config
    from gan.files.yaml_file import read_yaml_mapping
    from gan.study.spec import as_overrides

    raw = read_yaml_mapping(COMPARE, "study file")
    preset = _settings(load_config(str(REPO / raw["base"]), as_overrides(raw.get("overrides") or {})))
    mine = {**_settings(user_cfg), schema.STEPS: length}
    keys = [k for k in mine if k not in NOT_SETUP and not k.startswith("track.") and mine[k] != preset.get(k)]
    overrides = [f"{k}={_show(mine[k])}" for k in keys]
    rel = os.path.relpath(COMPARE) if not os.path.relpath(COMPARE).startswith("..") else str(COMPARE)
    cmd = " ".join(["gan study", rel, *map(shlex.quote, overrides),
                    f"--until-decided --max-seeds {MAX_SEEDS} --jobs {jobs}"])
    return cmd, overrides


def pilot_dir(cfg, base: str | None, overrides: list[str], steps: int, out: str | None) -> Path:
    """--out, else studies/advise-<data>-<hash of the base file, the overrides and the pilot length>: the same
    command finds its pilot again (more --seeds add runs to it); another setup or length gets its own."""
    from gan.files.layout import STUDIES_ROOT

    if out:
        return Path(out)
    label = cfg.data.name if cfg.data.name != "folder" else Path(str(cfg.data.root)).expanduser().absolute().stem
    key = json.dumps([str(Path(base).absolute()) if base else None, sorted(overrides), steps])
    tag = hashlib.sha256(key.encode()).hexdigest()[:6]
    return STUDIES_ROOT / f"advise-{re.sub(r'[^A-Za-z0-9_.-]+', '_', label)[:40]}-{tag}"


def run(a: argparse.Namespace) -> int:
    from gan.config.load import load_config
    from gan.analysis.saturation_rule import HORIZON, WINDOW, no_prediction_why
    from gan.files.atomic import write_text_atomic
    from gan.study.spec import as_overrides

    if a.steps < WINDOW[1]:
        raise UserError(f"--steps {a.steps} is too short: the rule reads the ReLU D's steps {WINDOW[0] + 1}-{WINDOW[1]}, "
                        f"so the pilot must reach step {WINDOW[1]} (pass --steps {WINDOW[1]} or more)")
    if a.seeds < 2:
        raise UserError(f"--seeds {a.seeds}: the pilot needs at least 2 paired seeds for an interval (default {SEEDS})")
    cores = os.cpu_count() or 1
    jobs = a.jobs if a.jobs is not None else min(2, cores)
    if jobs <= 0:
        raise UserError(f"--jobs must be positive, got {jobs}")
    base, user = _setup(a.setup, list(a.overrides))
    given = _given_keys(base, user)
    user_cfg = load_config(base, user)  # a config that does not load is one sentence, before anything runs
    length = user_cfg.train.steps  # the length the user will train: what the prediction is for
    size = _size_defaults(given)
    cfg = load_config(base, as_overrides({**size}) + user + as_overrides({**PILOT, schema.STEPS: a.steps,
                                                                         schema.SAMPLE_EVERY: a.steps}))
    _check_data(cfg)
    folder = pilot_dir(cfg, base, user, a.steps, a.out)
    study = {"name": "advise",
             "description": f"gan advise pilot: ReLU vs LeakyReLU(0.2) in D, {a.seeds} paired seeds, {a.steps} steps",
             "base": str(Path(base).absolute()) if base else None,
             "overrides": {**size, **{k: _yaml_value(v) for k, v in (o.split("=", 1) for o in user)},
                           **PILOT, schema.STEPS: a.steps, schema.SAMPLE_EVERY: a.steps},
             "axes": {schema.SEED: list(range(a.seeds)), schema.D_ACT: ["relu", "leaky_relu:0.2"]}}
    folder.mkdir(parents=True, exist_ok=True)
    study_yaml = folder / "advise_study.yaml"
    import yaml

    write_text_atomic(study_yaml, "# written by `gan advise` (the pilot's study file; the same command resumes it)\n"
                      + yaml.safe_dump({k: v for k, v in study.items() if v is not None}, sort_keys=False))
    settings = _settings(cfg)
    why = no_prediction_why(settings, HORIZON)
    print(f"gan advise: {a.seeds} paired seeds x 2 arms x {a.steps} steps of your setup -> {folder}")
    if why:
        print(f"note: {why}; the pilot shows what your D does, but the rule will make no prediction")
    return _pilot(a, cfg, user_cfg, length, base, user, folder, study_yaml, jobs, cores)


def _yaml_value(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text


def _check_data(cfg) -> None:
    """The training images load (an unreadable or empty folder is one sentence here, before any plan or run)."""
    from gan.data.dataset import load_split

    load_split(cfg.data, train=True)


def _pilot(a, cfg, user_cfg, length, base, user, folder: Path, study_yaml: Path, jobs: int, cores: int) -> int:
    from gan.analysis.advice import ADVISE_JSON, advise
    from gan.analysis.plan import costs_text, study_costs, _hours
    from gan.analysis.study_analysis import write_analysis
    from gan.files.atomic import write_json_atomic
    from gan.files.layout import StudyDir
    from gan.tracking.summary_file import is_finished
    from gan.study.runner import run_study
    from gan.study.spec import read_study_spec
    from gan.train.machine import idle_cores
    from gan.train.step_time import feature_net_s, time_pieces_together

    spec = read_study_spec(study_yaml)
    todo = [r for r in spec.runs if not is_finished(StudyDir(folder).run(r.name).path)]
    plan_path = folder / "plan.json"
    plan = json.loads(plan_path.read_text()) if plan_path.is_file() else {}
    threads = max(1, cores // jobs)
    if todo:
        print(f"timing a training step, a probe and an evaluation here ({jobs} at once, {threads} thread"
              f"{'s' * (threads > 1)} each) to plan the pilot ...", flush=True)
        pieces = time_pieces_together(cfg, threads, jobs)
        feature = feature_net_s(cfg, idle_cores(cores))  # as the study runner will train it
        costs = study_costs(pieces, cfg, len(todo), jobs, feature)
        print(f"plan: {len(todo)} of {len(spec.runs)} pilot runs to train at --jobs {jobs}: about "
              f"{_hours(costs['total'])} here ({costs_text(costs)})", flush=True)
        plan = {"pieces": pieces, "feature_s": feature, "jobs": jobs, "threads": threads, "runs": len(todo),
                "estimate": costs, "measured_s": None}
        write_json_atomic(plan_path, plan)
    started = time.perf_counter()
    code = run_study(str(study_yaml), jobs=jobs, out=str(folder), threads=threads)
    if code == 130:
        return code
    if todo:
        plan["measured_s"] = time.perf_counter() - started
        write_json_atomic(plan_path, plan)
    write_analysis(folder)
    cmd, _ = compare_command(user_cfg_at_size(base, user, cfg), length)
    advice = advise(folder, {"command": "gan " + " ".join(map(shlex.quote, sys.argv[1:])) if sys.argv[1:] else "",
                             "base": base, "overrides": user, "settings": _settings(cfg), "length": length,
                             "seeds": a.seeds, "steps": a.steps, "jobs": jobs},
                    plan, REPO, cmd, compare_cfg(base, user, cfg, length))
    write_json_atomic(folder / ADVISE_JSON, advice)
    from gan.report.advice import write_advice

    text = write_advice(folder)
    print(text)
    return 1 if code == 1 else 0


def user_cfg_at_size(base: str | None, user: list[str], pilot_cfg):
    """The user's setup at the pilot's model size (the compare command must train what the pilot did)."""
    from gan.config.load import apply_overrides, load_config

    cfg = load_config(base, user)
    return apply_overrides(cfg, {k: getattr(pilot_cfg.model, k.split(".")[1]) for k in SIZE_KEYS})


def compare_cfg(base: str | None, user: list[str], pilot_cfg, length: int):
    """The config one run of the compare study would train (the preset's cadence, the user's setup and length)."""
    from gan.config.load import load_config
    from gan.files.yaml_file import read_yaml_mapping
    from gan.study.spec import as_overrides

    raw = read_yaml_mapping(COMPARE, "study file")
    _, overrides = compare_command(user_cfg_at_size(base, user, pilot_cfg), length)
    return load_config(str(REPO / raw["base"]), as_overrides(raw.get("overrides") or {}) + overrides)
