"""Atomic checkpoint save and safe load (`weights_only=True`: a checkpoint can never run code)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

from gan.errors import UserError
from gan.layout import RunDir


class CheckpointWriteError(OSError):
    """The new checkpoint could not be written; the previous one is untouched."""


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write to a temp file beside `path`, fsync, then rename: a kill at any moment leaves old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:  # full disk, read-only folder, quota
        tmp.unlink(missing_ok=True)
        raise CheckpointWriteError(err.errno, f"could not write checkpoint '{path}' ({err.strerror or err}); "
                                              "the previous checkpoint is intact") from None


def find_checkpoint(run_dir_or_ckpt: str | Path) -> Path:
    """A run dir -> its checkpoints/last.pt; a file -> itself. UserError when absent."""
    p = Path(run_dir_or_ckpt)
    if p.is_dir():
        p = RunDir(p).ckpt_last
    if not p.is_file():
        raise UserError(f"no checkpoint at '{p}'; pass a run directory that holds checkpoints/last.pt or a .pt file")
    return p


def load_checkpoint(run_dir_or_ckpt: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Load with weights_only=True; truncated, foreign or code-carrying files raise UserError."""
    path = find_checkpoint(run_dir_or_ckpt)
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
