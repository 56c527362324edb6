"""Claim 6's data: ReLU vs LeakyReLU step times measured side by side in one process (benchmarks/bench_act_step.py).

    steps = {"relu": make_step(cfg, "relu"), "leaky_relu:0.2": make_step(cfg, "leaky_relu:0.2")}
    ms = time_arms(steps, rounds=10, steps=20)       # {arm: [median ms of round 1, round 2, ...]}
    write_step_time(study_dir, record(cfg, ms, "relu", "leaky_relu:0.2", steps=20, warmup=3))
    time_pieces_together(cfg, threads=1, jobs=2)  # a step, a probe, an evaluation, as a study's runs share the CPU

Why this shape: study runs share the CPU with each other, so their step times measure the load, not the
activation. Here both arms live in one process, alternate every round (the order flips each round, so a
slow drift or a neighbour's burst lands on both), and each round's value is the median of its steps (robust
to a stray slow step). Claim 6 (gan/analysis/claims/rules.py's timing rule) pairs the two arms' medians by round: n = rounds.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

from gan.files.atomic import write_text_atomic
from gan.files import layout

from gan.train import machine
from gan.config.schema import D_ACT, RunConfig
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
    from gan.train.run import memory_format
    from gan.train.step import autocast, d_step, g_step

    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
    cfg = apply_overrides(cfg, {D_ACT: d_act})
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


########################################################################################
# what a run costs here, piece by piece (what `gan advise` and `gan study --until-decided` plan with)


def _median_s(fn: Callable[[], Any], repeats: int, warmup: int = 1,
              clock: Callable[[], float] = time.perf_counter) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times)


TIMED_IMAGES, TIMED_SAMPLES, WARMUP_SAMPLES = 2000, 512, 64


def eval_seconds(evaluate: Callable[[int], Any], n_samples: int,
                 clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds of one evaluation of n_samples samples, from evaluate(n) (one evaluation of n samples): a small
    untimed evaluation first, then one of up to TIMED_SAMPLES samples, scaled linearly to n_samples.

    The warm-up matters: a process's first evaluation pays once for imports (scipy, torchmetrics, prdc),
    thread pools and the allocator, seconds that a linear scale-up would multiply into every evaluation (the
    letters pilot planned 31 s per evaluation and measured 3.5 s)."""
    n = min(n_samples, TIMED_SAMPLES)
    evaluate(min(n, WARMUP_SAMPLES))
    return _median_s(lambda: evaluate(n), 1, warmup=0, clock=clock) * n_samples / n


def time_pieces(cfg: RunConfig, threads: int, steps: int = 6) -> dict[str, float]:
    """Seconds, on this machine with `threads` torch threads, of: one training step ("step"); one probe without and
    with the held-out data view ("probe", "probe_view"; 0 when probes are off); the evaluator's setup (embedding the
    held-out images once per run, "eval_setup") and one evaluation of eval.n_samples samples ("eval"; 0 when
    evaluation is off). The model and data are cfg's; the feature network has random weights (its cost does not
    depend on them), so nothing is trained or cached here. Inception features are not timed (NaN)."""
    from gan.data.dataset import load_split, num_classes
    from gan.measure.classifier import build_classifier
    from gan.measure.features import resolve
    from gan.measure.probes import HELD_OUT, Probe
    from gan.measure.quality import Evaluator

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        out = {"step": _median_s(make_step(cfg, cfg.model.d_act), steps)}
        torch.manual_seed(0)
        nc, size, t = channels(cfg.data), cfg.data.image_size, cfg.train
        G, D = build_models(cfg.model, nc, size)
        out["probe"] = out["probe_view"] = 0.0
        if t.probe_every:
            real = torch.rand(t.probe_batch, nc, size, size) * 2 - 1
            probe = Probe(G, D, real, torch.randn(t.probe_batch, cfg.model.nz, 1, 1),
                          held_real=torch.rand(HELD_OUT, nc, size, size) * 2 - 1,
                          held_z=torch.randn(HELD_OUT, cfg.model.nz, 1, 1), train_real=real.clone())
            out["probe"] = _median_s(lambda: probe.measure(data_view=False), 2)
            out["probe_view"] = _median_s(lambda: probe.measure(data_view=True), 1, warmup=0)
        out["eval"] = out["eval_setup"] = 0.0
        if cfg.eval.enabled:
            kind = resolve(cfg)
            if kind == "inception":
                out["eval"] = out["eval_setup"] = math.nan
            else:
                # timed on parts and scaled (linear: generating and embedding dominate), to keep the plan short:
                # the setup on up to TIMED_IMAGES held-out images, an evaluation on up to TIMED_SAMPLES samples
                classes = num_classes(cfg.data) if kind == "classifier" else 4
                test = load_split(cfg.data, train=False).images
                part = test[:TIMED_IMAGES]
                t0 = time.perf_counter()
                ev = Evaluator(cfg, classifier=build_classifier(nc, classes), real_images=part,
                               classes=kind == "classifier")
                out["eval_setup"] = (time.perf_counter() - t0) * len(test) / len(part)
                with warnings.catch_warnings():  # "metrics from 512 samples are biased": true, and beside the point
                    warnings.simplefilter("ignore", UserWarning)
                    out["eval"] = eval_seconds(lambda n: ev.evaluate(G, cfg.model.nz, n), cfg.eval.n_samples)
        return out
    finally:
        torch.set_num_threads(before)


def _pieces_worker(cfg_dict: dict[str, Any], threads: int, started: float) -> dict[str, float]:
    """time_pieces in a worker process; "startup": seconds from the parent's submit to this worker's first line
    (the interpreter and torch starting, as each run of a study pays)."""
    from gan.config.load import config_from_dict

    startup = time.time() - started
    return {**time_pieces(config_from_dict(cfg_dict), threads), "startup": startup}


def time_pieces_together(cfg: RunConfig, threads: int, jobs: int) -> dict[str, float]:
    """time_pieces in `jobs` processes at once, as a study's runs share this CPU (each job slows the others;
    timing one process alone would miss that): the mean over the workers of each piece, plus "startup"."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from gan.config.load import config_to_dict

    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        done = [f.result() for f in [pool.submit(_pieces_worker, config_to_dict(cfg), threads, time.time())
                                      for _ in range(jobs)]]
    return {k: statistics.fmean(d[k] for d in done) for k in done[0]}


def feature_net_s(cfg: RunConfig, threads: int) -> float | None:
    """Seconds to train the quality feature network of cfg's data here, when it is not cached yet (None when it is,
    or with Inception features): a few timed training steps of the network, scaled to its recipe's steps, plus its
    sanity check's embeddings. A cache file that later fails its identity check is retrained: not counted."""
    from gan.data.dataset import cache_root, data_key, load_split, num_classes
    from gan.measure import rotation_features as rf
    from gan.measure.classifier import TRAIN_BATCH, build_classifier, cache_dir, cache_key, epochs_for
    from gan.measure.features import resolve

    kind = resolve(cfg) if cfg.eval.enabled else "none"
    if kind == "rotation":
        path, batch, classes = rf.cache_path_for(cache_root(cfg.data), data_key(cfg.data)), rf.BATCH * 4, 4
    elif kind == "classifier":
        path, batch, classes = cache_dir(cfg.data) / f"classifier-{cache_key(cfg.data)}.pt", TRAIN_BATCH, \
            num_classes(cfg.data)
    else:
        return None
    if path.is_file():
        return None
    n_train = len(load_split(cfg.data, train=True))
    total = rf.STEPS if kind == "rotation" else epochs_for(cfg.data, n_train) * max(n_train // TRAIN_BATCH, 1)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        nc, size = channels(cfg.data), cfg.data.image_size
        net = build_classifier(nc, classes).to(memory_format=torch.channels_last)
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
        x = (torch.rand(batch, nc, size, size) * 2 - 1).contiguous(memory_format=torch.channels_last)
        y = torch.randint(classes, (batch,))

        def step() -> None:
            loss = torch.nn.functional.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        per_step = _median_s(step, 5)
        with torch.inference_mode():  # the sanity check embeds 4 sets of up to SANITY_N images and the test split
            embed = _median_s(lambda: net.eval().features(x[:min(batch, 128)]), 3) / min(batch, 128)
        return total * per_step + embed * (5 * rf.SANITY_N + len(load_split(cfg.data, train=False)))
    finally:
        torch.set_num_threads(before)
