"""Claim 6's data: ReLU vs LeakyReLU step times measured side by side in one process (benchmarks/bench_act_step.py).

    steps = {"relu": make_step(cfg, "relu"), "leaky_relu:0.2": make_step(cfg, "leaky_relu:0.2")}
    ms = time_arms(steps, rounds=10, steps=20)       # {arm: [median ms of round 1, round 2, ...]}
    write_step_time(study_dir, record(cfg, ms, "relu", "leaky_relu:0.2", steps=20, warmup=3))

Why this shape: study runs share the CPU with each other, so their step times measure the load, not the
activation. Here both arms live in one process, alternate every round (the order flips each round, so a
slow drift or a neighbour's burst lands on both), and each round's value is the median of its steps (robust
to a stray slow step). Claim 6 (gan/analysis/claims.py) pairs the two arms' medians by round: n = rounds.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import torch

from gan.files.atomic import write_text_atomic
from gan.files import layout

from gan.train import machine
from gan.config.schema import RunConfig
from gan.config.load import apply_overrides
from gan.data.dataset import channels
from gan.nets.models import build_models

STEP_TIME_FILE = layout.STEP_TIME_FILE  # what gan/study/read.py's read_step_time reads
PHASES = ("d", "full")  # "d": the D update alone (where D's activation acts twice); "full": D then G update


def time_arms(steps: dict[str, Callable[[], Any]], rounds: int, steps_per_round: int, warmup: int = 1,
              clock: Callable[[], float] = time.perf_counter,
              progress: Callable[[int, dict[str, list[float]]], Any] | None = None) -> dict[str, list[float]]:
    """Median milliseconds per round of each arm's step; arms alternate, their order reversed every other round.

    Each arm runs `warmup` untimed steps before its timed ones in every round (caches, allocator, thread pool).
    Returns {arm: [median ms of round 0, ..., round rounds-1]}; `progress(round, so_far)` after each round.
    """
    if rounds < 1 or steps_per_round < 1:
        raise ValueError("rounds and steps_per_round must be at least 1")
    arms = list(steps)
    out: dict[str, list[float]] = {a: [] for a in arms}
    for r in range(rounds):
        for arm in (arms if r % 2 == 0 else arms[::-1]):
            step = steps[arm]
            for _ in range(warmup):
                step()
            times = []
            for _ in range(steps_per_round):
                t0 = clock()
                step()
                times.append((clock() - t0) * 1e3)
            out[arm].append(float(statistics.median(times)))
        if progress:
            progress(r, out)
    return out


def make_step(cfg: RunConfig, d_act: str, phase: str = "full", seed: int = 0) -> Callable[[], None]:
    """One training step of cfg's model with D's activation `d_act`, on a fixed random batch (CPU).

    phase "d": the D update (G's forward, D on real and fake, backward, Adam); "full": that, then the G update.
    The batch is random: the step's cost does not depend on the pixel values.
    """
    from gan.train.step import autocast, d_step, g_step, memory_format

    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
    cfg = apply_overrides(cfg, {"model.d_act": d_act})
    torch.manual_seed(seed)
    device = torch.device("cpu")
    nc = channels(cfg.data)
    G, D = build_models(cfg.model, nc, cfg.data.image_size)
    G, D = G.to(device, memory_format=memory_format(cfg)), D.to(device, memory_format=memory_format(cfg))
    betas = (cfg.train.beta1, cfg.train.beta2)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.train.lr_g_value, betas=betas, foreach=True)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.train.lr_d_value, betas=betas, foreach=True)
    b, s = cfg.train.batch_size, cfg.data.image_size
    real = torch.rand(b, nc, s, s).mul_(2).sub_(1).contiguous(memory_format=memory_format(cfg))
    z = torch.randn(b, cfg.model.nz, 1, 1)
    amp = autocast(cfg, device)

    def step() -> None:
        _, fake = d_step(G, D, opt_d, real, z, amp)
        if phase == "full":
            g_step(D, opt_g, fake, amp)

    return step


def record(cfg: RunConfig, ms: dict[str, list[float]], relu: str, leaky: str, steps: int, warmup: int,
           phase: str = "full", threads: int | None = None) -> dict[str, Any]:
    """The step_time.json record: the two arms' per-round medians, what was timed, at which size, on which CPU."""
    threads = threads or torch.get_num_threads()
    m = cfg.model
    return {
        "relu_ms": ms[relu], "leaky_ms": ms[leaky], "leaky": leaky, "steps": steps, "warmup": warmup,
        "rounds": len(ms[relu]), "phase": "D step" if phase == "d" else "full G+D step",
        "model": {"ngf": m.ngf, "ndf": m.ndf, "d_norm": m.d_norm, "d_extra_layers": m.d_extra_layers,
                  "g_act": m.g_act, "batch": cfg.train.batch_size, "image_size": cfg.data.image_size,
                  "precision": cfg.train.precision, "channels_last": cfg.train.channels_last},
        "cpu": machine.cpu_model(), "capability": machine.cpu_capability(), "threads": threads,
        "machine": f"{machine.cpu_model()}, torch {machine.cpu_capability()}, {threads} thread"
                   f"{'s' if threads > 1 else ''}, {os.cpu_count()} cores",
        "torch": torch.__version__,
    }


def write_step_time(study_dir: str | Path, data: dict[str, Any]) -> Path:
    """<study_dir>/step_time.json (written via a temp file, so a kill never leaves a torn one)."""
    path = layout.StudyDir(study_dir).step_time
    write_text_atomic(path, json.dumps(data, indent=1) + "\n")
    return path
