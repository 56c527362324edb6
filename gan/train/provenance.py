"""Where a run's numbers came from: code version, library versions, machine, threads, device, precision.

    record(cfg, device)   # {"code_version": "git:0123456789ab-dirty", "torch": "2.14.1", "python": "3.11.9",
                          #  "cpu": "AMD EPYC ...", "cpu_kind": "AuthenticAMD 23.49 AVX2 avx2", "threads": 2,
                          #  "device": "cpu", "precision": "fp32"}

Computed once at run start (git runs once, with a short timeout) and written to summary.json and the W&B
config, so every curve and every results.csv row can be traced to the code that made it. `cpu` names the model
only ("AMD EPYC" is sold with and without AVX-512); `cpu_kind` (gan.train.machine.cpu_kind) tells the machines
apart whose kernels round differently: a run retrains bit for bit only on its own CPU kind.
"""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

from gan.train import machine
from gan.config.schema import RunConfig

GIT_TIMEOUT_S = 2.0  # a hung git (network file system, lock) must not delay training
SOURCE_ROOT = Path(__file__).resolve().parents[2]  # the checkout holding the gan package (gan/train/provenance.py)
UNKNOWN = "unknown"


def code_version(root: Path = SOURCE_ROOT, timeout: float = GIT_TIMEOUT_S) -> str:
    """`git:<12 hex>`, plus `-dirty` when tracked files differ from that commit; `unknown` outside a checkout.

    One `git status --porcelain=v2 --branch` call gives both the commit and the changes. Untracked files
    are not counted: run folders and caches inside a checkout would mark every run dirty.
    """
    if not (root / ".git").exists():  # e.g. installed in site-packages (which may sit inside some other repo)
        return UNKNOWN
    try:
        done = subprocess.run(["git", "-C", str(root), "status", "--porcelain=v2", "--branch", "--untracked-files=no"],
                              capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):  # no git binary, or it timed out
        return UNKNOWN
    if done.returncode != 0:
        return UNKNOWN
    lines = done.stdout.splitlines()
    oid = next((line.split()[2] for line in lines if line.startswith("# branch.oid ")), "")
    if len(oid) < 12 or not all(c in "0123456789abcdef" for c in oid):  # "(initial)": no commit yet
        return UNKNOWN
    dirty = any(not line.startswith("#") for line in lines)
    return f"git:{oid[:12]}" + ("-dirty" if dirty else "")


def record(cfg: RunConfig, device: torch.device | str) -> dict[str, Any]:
    """The provenance of one run (see the module docstring); JSON-safe."""
    return {"code_version": code_version(), "torch": torch.__version__, "python": platform.python_version(),
            "cpu": machine.cpu_model(), "cpu_kind": machine.cpu_kind(), "threads": torch.get_num_threads(),
            "device": str(device), "precision": cfg.train.precision}
