"""`gan sweep`: our sweep YAML (W&B's format plus `base`) -> a validated W&B grid sweep, printed.

Agents on many machines then run `gan train BASE key=value ...`. Nothing here imports wandb:
rendering an agent's command line and registering the sweep with W&B (`--create`) live in
gan/tracking.py.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import yaml

from gan.config import apply_overrides, load_config
from gan.errors import UserError
from gan.tracking import agent_command_line, create_sweep


def _sweep_path(sweep_yaml: str) -> Path:
    p = Path(sweep_yaml)
    if not p.exists() and p.suffix == "" and "/" not in sweep_yaml:
        p = Path("configs") / "sweep" / f"{sweep_yaml}.yaml"  # `gan sweep activations`
    if not p.is_file():
        raise UserError(f"sweep file '{sweep_yaml}' does not exist; pass e.g. configs/sweep/activations.yaml")
    return p


def load_sweep(sweep_yaml: str) -> dict[str, Any]:
    """Our sweep YAML (W&B's format plus `base`) -> W&B sweep dict with `command`; every value is validated."""
    path = _sweep_path(sweep_yaml)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        raise UserError(f"sweep file '{path}' is not valid YAML; fix the syntax") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("base"), str):
        raise UserError(f"sweep file '{path}' needs `base: <config.yaml>` and `parameters:` (see configs/sweep/)")
    if not isinstance(raw.get("parameters"), dict) or not raw["parameters"]:
        raise UserError(f"sweep file '{path}' needs a non-empty `parameters:` mapping of dotted config keys")
    base = raw["base"]
    base_cfg = load_config(base)
    params: dict[str, dict[str, Any]] = {}
    for key, spec in raw["parameters"].items():
        if isinstance(spec, list):  # study-style `key: [a, b]`
            spec = {"values": spec}
        elif not isinstance(spec, dict):
            spec = {"value": spec}
        params[str(key)] = spec
    sweep = {k: v for k, v in raw.items() if k != "base"}
    sweep.setdefault("method", "grid")
    sweep["parameters"] = params
    sweep.setdefault("project", base_cfg.track.project)
    if base_cfg.track.entity and "entity" not in sweep:
        sweep["entity"] = base_cfg.track.entity
    sweep.setdefault("command", ["${env}", "gan", "train", base, "${args_no_hyphens}"])
    if "${args_no_hyphens}" not in sweep["command"]:
        raise UserError(f"sweep file '{path}': `command` must pass the parameters as ${{args_no_hyphens}} "
                        "(gan train takes key=value, not --key=value)")
    as_args = {"command": ["${args_no_hyphens}"]}
    for key, spec in params.items():  # each value as `gan train` will parse it from the agent's command line
        for value in spec.get("values", [spec["value"]] if "value" in spec else []):
            try:
                apply_overrides(base_cfg, agent_command_line(as_args, {key: value}))
            except UserError as err:
                raise UserError(f"sweep file '{path}': {err}") from None
    return sweep


def grid_points(sweep_cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """Every parameter set of a grid sweep, constants included (the server may hand them out in another order)."""
    keys = list(sweep_cfg["parameters"])
    choices = [s.get("values", [s.get("value")]) for s in sweep_cfg["parameters"].values()]
    return [dict(zip(keys, combo)) for combo in itertools.product(*choices)]


def sweep(sweep_yaml: str, create: bool) -> int:
    """`gan sweep`: print the W&B sweep and the agent command; with create=True register it with W&B."""
    cfg = load_sweep(sweep_yaml)
    points = grid_points(cfg) if cfg["method"] == "grid" else []
    entity, project = cfg.get("entity"), cfg["project"]
    if not create:
        print(yaml.safe_dump(cfg, sort_keys=False).rstrip())
        if points:
            print(f"# grid: {len(points)} runs; one agent runs e.g.: {' '.join(agent_command_line(cfg, points[0])[1:])}")
        print(f"# create it: gan sweep {sweep_yaml} --create   (or save the YAML above and `wandb sweep FILE`)")
        print(f"# then on every machine, from the repo root: wandb agent {entity or 'ENTITY'}/{project}/SWEEP_ID")
        return 0
    print(f"sweep created; on every machine, from the repo root: wandb agent {create_sweep(cfg)}")
    return 0
