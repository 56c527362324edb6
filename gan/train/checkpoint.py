"""Atomic checkpoint save and safe load (`weights_only=True`: a checkpoint can never run code), and the trained G
of a run folder as `gan eval` and `gan sample` load it.

    save_checkpoint(state, path); state = load_checkpoint(run_dir_or_ckpt)
    trained = load_generator(run_dir_or_ckpt, overrides)   # .G (on the CPU), .cfg, .nc, .step, .path
"""

from __future__ import annotations

import errno
import os
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path
import warnings
from typing import Any

import torch
from torch import nn

from gan.config.load import apply_overrides, config_from_dict
from gan.config.schema import RunConfig
from gan.errors import UserError
from gan.files.atomic import write_atomic
from gan.files.layout import PREV_CKPT, RunDir
from gan.nets.models import build_models, image_channels


LOADED_FROM = "_loaded_from"  # set (in memory only) when prev.pt stood in for a damaged last.pt
PREV_NAME = PREV_CKPT  # the checkpoint before last.pt, kept so that one damaged file does not end a run


class CheckpointWriteError(UserError):
    """The new checkpoint could not be written (disk full, read-only); the previous one is untouched."""


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write the new last.pt atomically (gan.files.atomic: temp file, fsync, rename), keeping the current one as
    prev.pt (a hard link) just before the rename: a kill at any moment leaves old or new (and the one before),
    never half.

    torch's zip writer reports a full disk as a RuntimeError ("file write failed"), not an OSError: both are
    caught here (the atomic writer has removed its temp file) and a UserError says what to do.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    prev_tmp = path.with_name(f".{PREV_NAME}.tmp")
    def keep_previous() -> None:  # prev.pt becomes a hard link to the current last.pt (no copy, no extra space)
        if path.exists():
            prev_tmp.unlink(missing_ok=True)
            os.link(path, prev_tmp)
            os.rename(prev_tmp, path.with_name(PREV_NAME))  # atomic on POSIX, replacing the older prev.pt

    try:  # last.pt: the old one or the new one, whole; prev.pt moves only once the new bytes are on disk
        write_atomic(path, lambda f: torch.save(state, f), before_replace=keep_previous)
    except (OSError, RuntimeError) as err:
        prev_tmp.unlink(missing_ok=True)
        raise CheckpointWriteError(write_failure(path, err) + "; the previous checkpoint is intact") from None


def write_failure(path: Path, err: BaseException) -> str:
    """'disk full writing PATH' (or the OS reason): the start of a one-sentence error about a failed write."""
    # the zip writer's words for a short write: "file write failed", "unexpected pos N vs M"
    full = getattr(err, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or \
        any(words in str(err) for words in ("write failed", "unexpected pos", "No space left")) or \
        _free_bytes(path.parent) < 16 * 2**20
    if full:
        return f"disk full writing '{path}'"
    reason = getattr(err, "strerror", None) or str(err).splitlines()[0][:100]
    return f"could not write '{path}' ({reason})"


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 2**62


def find_checkpoint(run_dir_or_ckpt: str | Path) -> Path:
    """A run dir -> its checkpoints/last.pt; a file -> itself. UserError when absent."""
    p = Path(run_dir_or_ckpt)
    if p.is_dir():
        p = RunDir(p).ckpt_last
    if not p.is_file():
        raise UserError(f"no checkpoint at '{p}'; pass a run directory that holds checkpoints/last.pt or a .pt file")
    return p


def load_checkpoint(run_dir_or_ckpt: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Load with weights_only=True; truncated, foreign or code-carrying files raise UserError.

    For a run directory whose last.pt is damaged or missing, prev.pt (the checkpoint before it) is loaded
    instead, with a one-line warning.
    """
    p = Path(run_dir_or_ckpt)
    prev = RunDir(p).ckpt_prev
    if p.is_dir() and prev.is_file():
        try:
            return _load(find_checkpoint(p), device)
        except UserError as err:
            reason = str(err).split("(")[-1].split(")")[0] if "(" in str(err) else "unreadable"
            warnings.warn(f"'{RunDir(p).ckpt_last}' is damaged or missing ({reason}); using the "
                          f"checkpoint before it, '{prev}'", stacklevel=2)
            return {**_load(prev, device), LOADED_FROM: str(prev)}
    return _load(find_checkpoint(p), device)


def _load(path: Path, device: str | torch.device) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights_only" in str(err) or "Unsupported" in str(err) or "global" in str(err).lower():
            raise UserError(f"checkpoint '{path}' holds objects other than tensors and plain data and was refused "
                            "without loading them; only load checkpoints written by `gan train`") from None
        raise UserError(f"checkpoint '{path}' is corrupted ({str(err).splitlines()[0][:80]}); "
                        "delete it or restore a copy") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError, IndexError) as err:
        raise UserError(f"checkpoint '{path}' is truncated or corrupted ({err.__class__.__name__}); "
                        "delete it or restore a copy") from None
    required = ("G", "D", "config", "step")
    if not isinstance(state, dict) or any(k not in state for k in required):
        raise UserError(f"checkpoint '{path}' was not written by `gan train` (it lacks {', '.join(required)})")
    return state


@dataclass(frozen=True)
class Trained:
    """A run's trained generator, as its checkpoint holds it."""

    G: nn.Module  # on the CPU, in training mode as saved (gan.nets.sampling.generate samples it without a trace)
    cfg: RunConfig  # the run's config, with the caller's overrides
    nc: int  # the image channels G makes, read from its weights
    step: int  # the step the checkpoint was saved at (-1: not recorded)
    path: Path  # the checkpoint file read (prev.pt when it stood in for a damaged last.pt)


def load_generator(run_dir_or_ckpt: str | Path, overrides: list[str] | None = None) -> Trained:
    """The trained G of a run folder or checkpoint file, built from the checkpoint's own config (with `overrides`,
    which must leave model.* alone) and as many image channels as its weights make (the run's data need not be
    at hand). UserError when the weights do not fit that config (a corrupted checkpoint)."""
    state = load_checkpoint(run_dir_or_ckpt)
    cfg = apply_overrides(config_from_dict(state["config"]), list(overrides or []))
    nc = image_channels(state["G"])
    G, _ = build_models(cfg.model, nc, cfg.data.image_size, cfg.data.range)
    try:
        G.load_state_dict(state["G"])
    except RuntimeError:
        raise UserError(f"checkpoint '{run_dir_or_ckpt}' does not match its own config; it is corrupted") from None
    path = Path(state[LOADED_FROM]) if LOADED_FROM in state else find_checkpoint(run_dir_or_ckpt)
    return Trained(G, cfg, nc, int(state.get("step", -1)), path)
