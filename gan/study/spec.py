"""A study file: read and validate it, and expand it into runs (one PlannedRun per resolved config).

A study YAML names a base config, fixed overrides and axes; runs are the product of the axes:

    name: quick
    base: configs/fashion_mnist.yaml
    overrides: {train.steps: 1500, model.ngf: 32, model.ndf: 32}
    axes:
      model.d_act: [relu, "leaky_relu:0.2"]
      train.seed: [0, 1]

Instead of one `axes:`, a study may give `grids:`, a list of sub-grids that share arms (issue 21):

    grids:
      - name: baseline                      # optional, for the reader
        axes: {model.d_act: [relu, "leaky_relu:0.2"], train.seed: [0, 1]}
      - name: no-norm
        overrides: {model.d_norm: none}     # optional, on top of the study's overrides
        axes: {model.d_act: [relu, "leaky_relu:0.2"], train.seed: [0, 1]}

The runs are the union of the grids' products, deduplicated by resolved config: a run two grids share
(here none; with `d_norm: [batch, none]` in the second grid, the batch runs) trains once.
Folder names of a `grids:` study (`_grid_name`): `d_act-<v>` first, then every other key some grid varies
(an axis or a grid override) whose value differs from the base (base config + the study's overrides) as
`<short key>-<v>`, in sorted key order, then `seed-<v>`. A key no grid of the run changed is left out, so
adding a grid never renames an existing run. A single-`axes` study keeps its names: the axis values in
the file's axis order (`d_act-relu__ndf-8__seed-0`).

"""

from __future__ import annotations

import dataclasses
import itertools
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import yaml

from gan.config.load import config_to_dict, load_config, parse_overrides

from gan.config.schema import D_ACT, DATA_NAME, G_ACT, SEED, run_name
from gan.errors import UserError
from gan.files.yaml_file import read_yaml_mapping


@dataclass(frozen=True)
class PlannedRun:
    name: str  # directory name under runs/, from the axis values: `d_act-relu__seed-0`
    settings: dict[str, Any]  # overrides + this run's axis values (dotted keys)
    wandb_name: str  # docs/design.md's `<dataset>-D_<act>-G_<act>-s<seed>`, then any other axis values
    grids: tuple[str, ...] = ()  # a `grids:` study: the grids that hold this run (grid_label), first grid first


NAMED_BY_RUN_NAME = (DATA_NAME, D_ACT, G_ACT, SEED)  # already in config.run_name


@dataclass(frozen=True)
class Grid:
    """One sub-grid: its own overrides (on top of the study's) and axes; `name` is only for the reader."""

    name: str | None
    overrides: dict[str, Any]
    axes: dict[str, list[Any]]


@dataclass(frozen=True)
class StudySpec:
    name: str
    base: str | None
    overrides: dict[str, Any]
    axes: dict[str, list[Any]]  # a `grids:` study: every value any grid gives each axis key (for the reader)
    runs: tuple[PlannedRun, ...] = ()  # plan(spec), filled in by read_study_spec once every run is validated
    grids: tuple[Grid, ...] = ()  # empty: the single-`axes` form (the product of `axes`)
    margins: dict[str, Any] = dataclasses.field(default_factory=dict)  # `margins:` (checked by gan/analysis/claims/registry.py)
    slurm: dict[str, Any] = dataclasses.field(default_factory=dict)  # `slurm:` resources (gan/study/slurm.py checks)
    raw: dict[str, Any] = dataclasses.field(default_factory=dict)  # the file as read, command-line overrides merged


STUDY_KEYS = ("name", "base", "overrides", "axes", "grids", "description", "margins", "slurm", "claim12", "prediction")
# claim12: an intervention study's prediction, written before its runs: {base: STUDY_DIR, direction: lower | higher}
# (read by `gan answer --intervention`, gan/analysis/answer_analysis.py; checked here so a typo fails before training)
# prediction: the advise.json (claim 11) the study tests, committed before its runs (gan/analysis/saturation_rule.py)
CLAIM12_DIRECTIONS = ("lower", "higher")


def read_study_spec(path: str | Path, extra: Sequence[str] = ()) -> StudySpec:
    """Parse and validate a study file (every run's config is validated before anything runs).

    extra: `key=value` overrides from the command line (`gan study STUDY.yaml data.root=DIR`), applied on top of
    the file's `overrides:` (an axis key cannot be overridden: the axis would not vary)."""
    path = Path(path)
    raw = read_yaml_mapping(path, "study file", "see configs/study/quick.yaml for an example")
    unknown = {str(k) for k in raw} - set(STUDY_KEYS)
    if unknown:  # margins: per-claim equivalence margins, read by gan/analysis/claims/registry.py
        found = ", ".join(sorted(unknown)) or type(raw).__name__
        raise UserError(f"study file '{path}' may only hold name, base, overrides, axes or grids, margins, slurm, "
                        f"claim12, prediction and description (found {found})")
    _check_claim12(path, raw.get("claim12"))
    if raw.get("prediction") is not None and not isinstance(raw.get("prediction"), str):
        raise UserError(f"study file '{path}': 'prediction' must be the path of the advise.json the study tests "
                        "(written by `gan advise` and committed before the study's runs)")
    if extra:
        given = parse_overrides(list(extra))
        raw = {**raw, "overrides": {**(raw.get("overrides") or {}), **given}}
    if raw.get("axes") and raw.get("grids"):
        raise UserError(f"study file '{path}' gives both 'axes' and 'grids'; move the axes into one of the grids")
    if not raw.get("axes") and raw.get("grids") is None:  # one run named `run` is what `gan train` is for
        raise UserError(f"study file '{path}' has no 'axes:' or 'grids:' (so it would train one run named 'run'); "
                        "add axes, e.g. `axes: {train.seed: [0, 1]}`, or train one run with `gan train`")
    axes = _axes(path, raw.get("axes") or {}, "'axes'")
    overrides = raw.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise UserError(f"study file '{path}': 'overrides' must map config keys to values")
    grids = _grids(path, raw.get("grids"))
    if grids:
        axes = {}
        for g in grids:
            for k, vs in g.axes.items():
                axes.setdefault(k, [])
                axes[k] += [v for v in vs if v not in axes[k]]
    base = _resolve_base(path, raw.get("base"))
    if extra:
        varied = sorted(set(parse_overrides(list(extra))) & set(axes))
        if varied:
            raise UserError(f"'{varied[0]}' is an axis of study file '{path}'; it cannot be overridden on the command "
                            "line (edit the axis instead)")
    spec = StudySpec(str(raw.get("name") or path.stem), base, overrides, axes, grids=grids,
                     margins=raw.get("margins") or {}, slurm=raw.get("slurm") or {}, raw=raw)
    if spec.name in (".", "..") or not all(c.isalnum() or c in "._:-" for c in spec.name):
        raise UserError(f"study file '{path}': study name '{spec.name}' may only hold letters, digits, '.', '_', "
                        "':' and '-' (it names the folder studies/<name>)")
    runs = plan(spec)
    names = [r.name for r in runs]
    if len(set(names)) < len(names):
        twice = sorted({n for n in names if names.count(n) > 1})[0]
        raise UserError(f"study file '{path}': two runs would share the folder '{twice}' (axis values that differ "
                        "only in characters a folder name cannot hold); make the values distinct")
    return dataclasses.replace(spec, runs=tuple(runs))


def _axes(path: Path, axes: Any, where: str) -> dict[str, list[Any]]:
    if not isinstance(axes, dict) or not all(isinstance(v, list) and v for v in axes.values()):
        raise UserError(f"study file '{path}': {where} must map config keys to non-empty lists of values")
    for key, values in axes.items():
        twice = [v for i, v in enumerate(values) if v in values[:i]]
        if twice:
            raise UserError(f"study file '{path}': {where}: axis '{key}' lists {twice[0]!r} more than once; "
                            "remove the duplicate value")
    return axes


def grid_label(grid: Grid, index: int) -> str:
    """A grid's name in results.csv's `grids` column: its `name`, else grid<index> (1-based, file order)."""
    return grid.name or f"grid{index}"


def _grids(path: Path, raw: Any) -> tuple[Grid, ...]:
    """`grids:` validated: a non-empty list of mappings with optional name and overrides, and axes."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        raise UserError(f"study file '{path}': 'grids' must be a non-empty list of {{name, overrides, axes}} "
                        "mappings")
    out = []
    for i, g in enumerate(raw, 1):
        where = f"grid {i}" + (f" ('{g['name']}')" if isinstance(g, dict) and g.get("name") else "")
        if not isinstance(g, dict) or set(map(str, g)) - {"name", "overrides", "axes"} or not g.get("axes"):
            raise UserError(f"study file '{path}': {where} must be a mapping with 'axes' and optionally 'name' "
                            "and 'overrides'")
        overrides = g.get("overrides") or {}
        if not isinstance(overrides, dict):
            raise UserError(f"study file '{path}': {where}: 'overrides' must map config keys to values")
        out.append(Grid(None if g.get("name") is None else str(g["name"]), overrides,
                        _axes(path, g["axes"], f"{where}: 'axes'")))
    return tuple(out)


def _check_claim12(path: Path, block: Any) -> None:
    """`claim12:` absent, or {base: a study folder's path, direction: lower | higher} (UserError otherwise)."""
    if block is None:
        return
    if not isinstance(block, dict) or set(block) != {"base", "direction"} or not isinstance(block["base"], str) \
            or block["direction"] not in CLAIM12_DIRECTIONS:
        raise UserError(f"study file '{path}': claim12 must be {{base: STUDY_DIR, direction: lower | higher}} (the "
                        "base study and the predicted direction of the FCD ratio of ratios), e.g. "
                        "claim12: {base: results/answer/fashion_mnist, direction: lower}")


def _resolve_base(study_file: Path, base: Any) -> str | None:
    """`base:` from the current directory, else from the study file's folder or the nearest one above it.

    So `configs/study/tiny.yaml` (base `configs/fake.yaml`) runs from any directory; which file was used is said.
    """
    if base is None or Path(str(base)).is_file():
        return None if base is None else str(base)
    folder = study_file.resolve().parent
    for above in (folder, *folder.parents):
        if (above / str(base)).is_file():
            found = above / str(base)
            print(f"study file '{study_file}': base config '{base}' is not in the current directory; "
                  f"using '{found}' (found from the study file's folder)", file=sys.stderr)
            return str(found)
    raise UserError(f"study file '{study_file}': base config '{base}' does not exist, neither from the current "
                    f"directory nor from '{folder}' or a folder above it; fix the path")


def as_overrides(settings: dict[str, Any]) -> list[str]:
    return [f"{k}={json.dumps(v) if not isinstance(v, str) or _reads_as_number(v) else v}" for k, v in settings.items()]


def _reads_as_number(text: str) -> bool:
    """A quoted '3' in the study file stays a string (the config refuses it for an integer key, e.g. train.seed),
    instead of silently becoming the number 3 on the command line."""
    try:
        value = yaml.safe_load(text)
        return isinstance(value, int) and not isinstance(value, bool)
    except yaml.YAMLError:
        return False


def _slug(key: str, value: Any) -> str:
    short = key.split(".")[-1]
    if isinstance(value, (list, tuple)):  # data.range [0, 1] -> range-0_1
        value = "_".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    slug = f"{short}-{value}".replace("/", "_").replace(" ", "").replace("+", "")  # 1e+30 -> 1e30
    return "".join(c if c.isalnum() or c in "._:-" else "_" for c in slug)  # a valid run name (config.validate)


def plan(spec: StudySpec) -> list[PlannedRun]:
    """The product of the axes (or the deduplicated union of the grids' products), in a stable order; each
    run's config is validated (UserError names the key)."""
    if spec.grids:
        return _plan_grids(spec)
    keys = list(spec.axes)
    runs = []
    for values in itertools.product(*(spec.axes[k] for k in keys)):
        settings = {**spec.overrides, **dict(zip(keys, values))}
        name = "__".join(_slug(k, v) for k, v in zip(keys, values)) or "run"
        cfg = load_config(spec.base, as_overrides(settings))
        extra = [_slug(k, v) for k, v in zip(keys, values) if k not in NAMED_BY_RUN_NAME]
        runs.append(PlannedRun(name, settings, "-".join([run_name(cfg), *extra])))
    return runs


FIRST_KEY, LAST_KEY = D_ACT, SEED  # always in a grid run's folder name, first and last


def _value(cfg_dict: dict[str, Any], key: str) -> Any:
    section, leaf = key.split(".", 1)
    return cfg_dict[section][leaf]


def _grid_name(named: list[tuple[str, Any]]) -> str:
    """Folder name of a grid run from its (key, value) pairs: d_act first, seed last, the rest by key."""
    order = sorted(named, key=lambda kv: (kv[0] != FIRST_KEY, kv[0] == LAST_KEY, kv[0]))
    return "__".join(_slug(k, v) for k, v in order) or "run"


def _plan_grids(spec: StudySpec) -> list[PlannedRun]:
    """The union of the grids' products, one run per resolved config (the first grid's order wins).

    Every run's settings hold every key some grid varies, with its resolved value, so results.csv has a
    value in each axis column for each run (a baseline run of a d_norm grid says d_norm=batch).
    """
    base = config_to_dict(load_config(spec.base, as_overrides(spec.overrides)))
    varied = list(dict.fromkeys(k for g in spec.grids for k in (*g.overrides, *g.axes)))
    for k in (FIRST_KEY, LAST_KEY):
        varied += [] if k in varied else [k]
    runs, seen = [], {}
    for index, grid in enumerate(spec.grids, 1):
        keys = list(grid.axes)
        for values in itertools.product(*(grid.axes[k] for k in keys)):
            cfg = load_config(spec.base, as_overrides({**spec.overrides, **grid.overrides, **dict(zip(keys, values))}))
            resolved = config_to_dict(cfg)
            identity = json.dumps({k: v for k, v in resolved.items() if k != "name"}, sort_keys=True, default=str)
            label = grid_label(grid, index)
            if identity in seen:  # another grid already has this run: it trains once, and belongs to both
                i = seen[identity]
                if label not in runs[i].grids:
                    runs[i] = dataclasses.replace(runs[i], grids=(*runs[i].grids, label))
                continue
            seen[identity] = len(runs)
            named = [(k, _value(resolved, k)) for k in varied
                     if k in (FIRST_KEY, LAST_KEY) or _value(resolved, k) != _value(base, k)]
            settings = {**spec.overrides, **{k: _value(resolved, k) for k in varied}}
            extra = [_slug(k, v) for k, v in named if k not in NAMED_BY_RUN_NAME]
            runs.append(PlannedRun(_grid_name(named), settings, "-".join([run_name(cfg), *extra]), (label,)))
    return runs
