"""Shared fixtures: tiny configs on `fake` data, and a CLI runner (subprocess, like a user)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
TINY = ["data.name=fake", "model.ngf=8", "model.ndf=8", "train.batch_size=16", "train.log_every=2",
        "train.sample_every=4", "train.ckpt_every=4", "train.probe_every=0", "eval.enabled=false",
        "track.wandb=disabled", "model.nz=16"]

# How long a test waits for a process or a condition before it calls it hung: a guard, never a speed requirement.
# Far above any wait of the suite on a loaded 2-core machine, so that only a real hang fails on it; what a test
# waits for is a marker or a state, never a fixed sleep (tests/pausing_gan.py pauses a run where a test needs it).
HANG_S = 900

torch.set_num_threads(1)  # the CI machine has 2 cores; tests stay predictable


@pytest.fixture(autouse=True)
def _isolate_env(monkeypatch, tmp_path):
    """Keep W&B and caches inside the test's tmp dir; never touch the network."""
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_ERROR_REPORTING", "false")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb_home"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb_home"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb_home"))
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "gan_cache"))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)


def run_cli(*args: str, cwd: Path | None = None, timeout: float = HANG_S, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m gan ARGS` in a subprocess; returns the completed process (stdout/stderr captured)."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "gan", *args], cwd=cwd or REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
