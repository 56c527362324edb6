"""The run folder a `gan train` writes: a new run, a resume or a restart, never overwriting a finished run.

    cfg, run_dir, state = prepare_run_dir("configs/fashion_mnist.yaml", ["train.steps=100"], "runs/x", None)

state is the checkpoint to continue from (None for a new run or a restart). A restart removes what the run
wrote as it trained (checkpoints, metrics, summary, samples) and keeps its config.yaml.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from gan.train.checkpoint import LOADED_FROM, load_checkpoint, write_failure
from gan.config.schema import RunConfig, run_name
from gan.config.load import apply_overrides, config_from_dict, load_config, save_config
from gan.errors import UserError
from gan.files.layout import RUNS_ROOT, RunDir
from gan.tracking.summary_file import stopped_before_first_checkpoint


def prepare_run_dir(config_path: str | None, overrides: list[str], out: str | None,
                    resume: str | None, restart: bool = False) -> tuple[RunConfig, Path, dict[str, Any] | None]:
    """Resolve config and run dir for a new run, a resume or a restart; never overwrites a finished run.

    A resume of a folder that holds no checkpoint (a run stopped before its first one) and `--restart`
    start the run again from scratch with the config saved in the folder, after saying so.
    """
    if resume:
        run_dir = Path(resume)
        if not run_dir.is_dir():
            if Path(resume).is_file():
                raise UserError(f"--resume takes the run directory that holds checkpoints/last.pt, "
                                f"not the file '{resume}'")
            raise UserError(f"--resume '{resume}' is not a run directory; pass the folder `gan train --out` wrote")
        if restart or stopped_before_first_checkpoint(run_dir):
            why = "--restart" if restart else "it was stopped before its first checkpoint"
            return restart_from_scratch(run_dir, overrides, why), run_dir, None
        state = load_checkpoint(resume)
        if LOADED_FROM in state:  # kept aside, so the next save does not rotate the damaged file into prev.pt
            last = RunDir(run_dir).ckpt_last
            if last.exists():
                os.replace(last, RunDir(run_dir).ckpt_damaged)
        cfg = config_from_dict(state["config"])
        new = apply_overrides(cfg, overrides)
        for section in ("data", "model"):
            if getattr(new, section) != getattr(cfg, section):
                raise UserError(f"'{section}.*' cannot change on --resume (the weights were trained with it); "
                                "start a new run instead")
        if new.train.steps < int(state["step"]):
            raise UserError(f"train.steps={new.train.steps} is below the {state['step']} steps this run has done; "
                            "pass a larger train.steps (or none) to --resume")
        return new, run_dir, state
    cfg = load_config(config_path, overrides)
    run_dir = target_dir(cfg, out)
    if restart:  # `gan train CONFIG --out DIR --restart`: DIR starts again, with this config
        if run_dir.is_dir():
            clear_progress(run_dir, "--restart")
        return cfg, run_dir, None
    if RunDir(run_dir).ckpt_last.exists() or RunDir(run_dir).summary.exists():
        raise UserError(f"'{run_dir}' already holds a run; continue it with `gan train --resume {run_dir}`, "
                        f"start it again with `gan train --resume {run_dir} --restart`, or pass another --out")
    return cfg, run_dir, None


def target_dir(cfg: RunConfig, out: str | None) -> Path:
    return Path(out) if out else RUNS_ROOT / run_name(cfg)


def restart_from_scratch(run_dir: Path, overrides: list[str], why: str) -> RunConfig:
    """The folder's config (with overrides), its progress removed: checkpoints, metrics, summary, samples."""
    config = RunDir(run_dir).config
    if not config.is_file():
        raise UserError(f"cannot restart '{run_dir}': it holds no config.yaml; start a new run with "
                        f"`gan train CONFIG --out {run_dir}` after removing the folder")
    cfg = load_config(str(config), overrides)
    clear_progress(run_dir, why)
    return cfg


def clear_progress(run_dir: Path, why: str) -> None:
    """Remove what a run wrote as it trained (checkpoints, metrics, summary, samples), saying so in one line."""
    for path in RunDir(run_dir).progress:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    print(f"restarting '{run_dir}' from scratch ({why}): its checkpoints, metrics and summary were removed",
          file=sys.stderr)


def folder_to_lock(config_path: str | None, overrides: list[str], out: str | None, resume: str | None) -> Path | None:
    """The folder this command will write, to lock before anything in it is read or written (None: not known
    yet because the command is wrong; prepare_run_dir says why)."""
    if resume:
        return Path(resume) if Path(resume).is_dir() else None
    try:
        return target_dir(load_config(config_path, overrides), out)
    except UserError:
        return None


def write_config(cfg: RunConfig, run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, RunDir(run_dir).config)
    except (OSError, RuntimeError) as err:  # the atomic writer has removed its temp file
        raise UserError(f"{write_failure(RunDir(run_dir).config, err)}; free space or pass a writable --out") from None
