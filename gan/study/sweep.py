"""`gan sweep`: our sweep YAML (W&B's format plus `base`) -> a validated W&B grid sweep, printed.

Agents on many machines then run `gan train BASE key=value ...`. Also here: rendering an agent's
command line and registering the sweep with W&B (`--create`). The two bare W&B calls that needs
come from gan/tracking/tracker.py, the only module that imports wandb.
"""

from __future__ import annotations

import itertools
import os
import threading
from pathlib import Path
from typing import Any

import yaml

from gan.config.load import apply_overrides, load_config
from gan.errors import UserError
from gan.files.yaml_file import read_yaml_mapping
from gan.tracking.tracker import wandb_api_and_sweep, wandb_sweep_macros


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
    raw = read_yaml_mapping(path, "sweep file", "see configs/sweep/activations.yaml")
    if not isinstance(raw.get("base"), str):
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


########################################################################################
# the W&B side: an agent's command line, registering the sweep

def agent_command_line(sweep_cfg: dict[str, Any], params: dict[str, Any]) -> list[str]:
    """The argv a `wandb agent` builds for one parameter set: W&B's own macro rendering where available."""
    macros = wandb_sweep_macros(params)
    if macros is None:  # same rendering as wandb 0.31 (f"{param}={value}")
        macros = {"args": [f"--{k}={v}" for k, v in params.items()],
                  "args_no_hyphens": [f"{k}={v}" for k, v in params.items()]}
    macros.update(env=["/usr/bin/env"], interpreter=["python"], program=[str(sweep_cfg.get("program", ""))])
    argv: list[str] = []
    for c in map(str, sweep_cfg["command"]):
        if c.startswith("${") and c.endswith("}"):
            argv += macros.get(c[2:-1]) or []
        else:
            argv.append(c)
    return argv


def create_sweep(cfg: dict[str, Any]) -> str:
    """Register a sweep from `gan.study.sweep.load_sweep` with W&B; returns `ENTITY/PROJECT/SWEEP_ID` for `wandb agent`."""
    entity, project = cfg.get("entity"), cfg["project"]
    if os.environ.get("WANDB_MODE", "").lower() in ("offline", "dryrun", "disabled"):
        raise UserError("--create needs W&B online, but WANDB_MODE is set to "
                        f"'{os.environ['WANDB_MODE']}'; unset it, or drop --create to print the sweep")
    try:
        api, wandb_sweep = wandb_api_and_sweep()
    except ImportError:
        raise UserError("--create needs the wandb package; pip install wandb") from None
    except Exception:  # noqa: BLE001 - wandb raises UsageError without a key
        raise UserError("--create needs a W&B API key: run `wandb login` or set WANDB_API_KEY "
                        "(or drop --create to print the sweep)") from None
    result: dict[str, Any] = {}

    def _create() -> None:
        try:
            result["id"] = wandb_sweep({k: v for k, v in cfg.items() if k != "entity"}, entity=entity, project=project)
        except BaseException as err:  # noqa: BLE001
            result["err"] = err

    worker = threading.Thread(target=_create, daemon=True)  # W&B retries a dead network for a long time
    worker.start()
    worker.join(120)
    if "id" not in result:
        why = f"{type(result['err']).__name__}: {str(result['err']).splitlines()[0][:150]}" if "err" in result \
            else "no answer within 120 s"
        raise UserError(f"could not create the sweep on W&B ({why}); check the network and `wandb login`")
    entity = entity or getattr(api, "default_entity", None) or "ENTITY"
    return f"{entity}/{project}/{result['id']}"


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
