"""The training loop: setup, then `d_step` / `g_step` each step, then scheduled probes, evals, samples, checkpoints.

Non-saturating GAN loss with BCE-with-logits, Adam (2e-4, betas (0.5, 0.999)) as in DCGAN.
Everything that makes a run reproducible (weights, optimizers, z generator, batch stream, step)
lives in one checkpoint, so N + N steps with a resume in between equal 2N straight steps.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from gan.train import distributed

from gan.train import machine

from gan.train import provenance
from gan.measure import metric_keys as mk
from gan.train.checkpoint import CheckpointWriteError, save_checkpoint
from gan.config.schema import RunConfig, config_to_dict, run_name
from gan.data.builtin import BatchStream, load_split, load_training_set, to_float
from gan.errors import UserError
from gan.files.layout import RunDir
from gan.tracking.metrics_file import read_metrics, summarize, truncate_metrics
from gan.nets.models import build_models
from gan.measure.probes import HELD_OUT, Probe, data_view_due
from gan.measure.quality import Evaluator, reference_floor
from gan.train.run_folder import folder_to_lock, prepare_run_dir, write_config
from gan.files.lock import FolderLock
from gan.nets.sampling import fixed_noise, generate, save_grid
from gan.train.stopping import StopRequest
from gan.tracking.tracker import Tracker

STATUS_EXIT = {"completed": 0, "diverged": 1, "interrupted": 130}


########################################################################################
# the two phases of a step

def d_step(G: nn.Module, D: nn.Module, opt_d: torch.optim.Optimizer, real: torch.Tensor, z: torch.Tensor,
           amp: contextlib.AbstractContextManager) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """(1) Update D: maximize log D(x) + log(1 - D(G(z))). Returns detached stats and the fake batch.

    Under DDP, G and D are the DDP modules: D's two forwards feed one backward, so each D parameter's
    gradient is all-reduced once; G's forward here is all-reduced by the backward in g_step.
    """
    with amp, distributed.synced_batchnorm():  # every rank runs this: BatchNorm may span ranks (train.sync_bn)
        fake = G(z)  # (B, nc, S, S); kept with its graph for the G step
        real_logits = D(real)  # (B,)
        fake_logits = D(fake.detach())
        loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    opt_d.zero_grad(set_to_none=True)
    loss.backward()
    opt_d.step()
    stats = {mk.LOSS_D: loss.detach(), mk.D_REAL_PROB: torch.sigmoid(real_logits.detach().float()).mean(),
             mk.D_FAKE_PROB: torch.sigmoid(fake_logits.detach().float()).mean()}
    return stats, fake


def g_step(D: nn.Module, opt_g: torch.optim.Optimizer, fake: torch.Tensor,
           amp: contextlib.AbstractContextManager) -> dict[str, torch.Tensor]:
    """(2) Update G: maximize log D(G(z)) (non-saturating), reusing the D step's fake batch.

    D is frozen here: its weight gradients would be discarded by the next D step anyway, so they are
    not computed (and under DDP, D is the plain local module: no wasted all-reduce of D's gradients).
    """
    flags = [p.requires_grad for p in D.parameters()]
    D.requires_grad_(False)
    try:
        with amp, distributed.synced_batchnorm():
            logits = D(fake)
            loss = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
    finally:
        for p, flag in zip(D.parameters(), flags):
            p.requires_grad_(flag)
    opt_g.step()
    return {mk.LOSS_G: loss.detach()}


########################################################################################
# setup

@dataclass
class Run:
    """Everything a training run holds; `state()` / `load_state()` are its checkpoint."""

    cfg: RunConfig
    dir: Path
    device: torch.device
    G: nn.Module
    D: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    stream: BatchStream
    z_gen: torch.Generator
    train_record: dict[str, Any] | None = None  # data.load_training_set's: N images and the hash of their indices
    step: int = 0
    wandb_run_id: str | None = None

    def state(self) -> dict[str, Any]:
        return {"G": distributed.unwrap(self.G).state_dict(), "D": distributed.unwrap(self.D).state_dict(),
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "z_gen": self.z_gen.get_state(), "torch_rng": torch.get_rng_state(),
                "stream": self.stream.state_dict(), "step": self.step,
                "config": config_to_dict(self.cfg), "wandb_run_id": self.wandb_run_id}

    def load_state(self, state: dict[str, Any]) -> None:
        try:
            distributed.unwrap(self.G).load_state_dict(state["G"])
            distributed.unwrap(self.D).load_state_dict(state["D"])
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_d.load_state_dict(state["opt_d"])
        except (RuntimeError, ValueError, KeyError) as err:
            raise UserError(f"checkpoint in '{self.dir}' does not fit this architecture "
                            f"({str(err).splitlines()[0][:100]}); resume with the config it was written with") from None
        self.z_gen.set_state(state["z_gen"])
        torch.set_rng_state(state["torch_rng"])
        self.stream.load_state_dict(state["stream"])
        self.step, self.wandb_run_id = int(state["step"]), state.get("wandb_run_id")


def build_run(cfg: RunConfig, run_dir: Path) -> Run:
    """Data, models and optimizers for cfg, seeded; weights as initialised (a resume loads over them)."""
    dist = distributed.context()
    if cfg.train.batch_size % dist.world:
        raise UserError(f"train.batch_size={cfg.train.batch_size} is the global batch and must split evenly over "
                        f"{dist.world} processes; pass a multiple of {dist.world}")
    device = dist.device if dist.world > 1 else distributed.pick_device(cfg.train.device)
    with distributed.same_outcome():  # e.g. the data is missing on one node only: every rank stops, none hangs
        train_set, train_record = load_training_set(cfg.data, cfg.train.batch_size, device)
        # before allocating; a batch beyond the dataset is BatchStream's error (below), not a memory one
        machine.check_training_fits(cfg, train_set.nc, device, min(cfg.train.batch_size // dist.world, len(train_set)))
    torch.manual_seed(cfg.train.seed)
    G, D = build_models(cfg.model, train_set.nc, cfg.data.image_size, cfg.data.range)
    G, D = G.to(device, memory_format=memory_format(cfg)), D.to(device, memory_format=memory_format(cfg))
    betas = (cfg.train.beta1, cfg.train.beta2)
    fused = device.type == "cuda"  # fused Adam on GPU; foreach on CPU (the exact multi-tensor path)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.train.lr_g_value, betas=betas, foreach=not fused, fused=fused)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.train.lr_d_value, betas=betas, foreach=not fused, fused=fused)
    G, D = distributed.wrap(G, cfg.train.sync_bn), distributed.wrap(D, cfg.train.sync_bn)
    stream = BatchStream(train_set.images, cfg.train.batch_size, cfg.train.seed, dist.rank, dist.world,
                         value_range=cfg.data.range)
    z_gen = torch.Generator(device).manual_seed(cfg.train.seed * 7919)  # one stream for all ranks: see train()
    return Run(cfg, run_dir, device, G, D, opt_g, opt_d, stream, z_gen, train_record)


def memory_format(cfg: RunConfig) -> torch.memory_format:
    """The layout of weights and batches: channels_last (faster convolutions, exact) unless switched off."""
    return torch.channels_last if cfg.train.channels_last else torch.contiguous_format


def autocast(cfg: RunConfig, device: torch.device) -> contextlib.AbstractContextManager:
    if cfg.train.precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


########################################################################################
# the loop

def step_modules(run: Run) -> tuple[nn.Module, nn.Module, nn.Module]:
    """(G, D, D_local) as the loop calls them, each under torch.compile when train.compile.

    D_local is D without the DDP wrapper, for the G step (see g_step).
    """
    nets = (run.G, run.D, distributed.unwrap(run.D))
    return tuple(torch.compile(m) for m in nets) if run.cfg.train.compile else nets


def train_step(run: Run, nets: tuple[nn.Module, nn.Module, nn.Module],
               amp: contextlib.AbstractContextManager) -> dict[str, torch.Tensor]:
    """One step: train.d_steps D updates on fresh batches, then one G update; detached stats, no host sync."""
    cfg, t, dist = run.cfg, run.cfg.train, distributed.context()
    G, D, D_local = nets
    for _ in range(t.d_steps):
        real = run.stream.next().contiguous(memory_format=memory_format(cfg))
        # every rank draws the global z from one stream and keeps its share, as BatchStream does with
        # the images: N ranks together see exactly the z of a 1-process run, and resume stays exact
        z = torch.randn(t.batch_size, cfg.model.nz, 1, 1, device=run.device,
                        generator=run.z_gen)[dist.rank::dist.world]  # (B / N, nz, 1, 1)
        d_stats, fake = d_step(G, D, run.opt_d, real, z, amp)
    return {**d_stats, **g_step(D_local, run.opt_g, fake, amp)}


def train(run: Run, tracker: Tracker, probe: Probe | None = None, evaluator: Evaluator | None = None) -> str:
    """Train from run.step to cfg.train.steps; returns the status (completed | diverged | interrupted).

    `probe` (gradient sparsity, every train.probe_every steps) and `evaluator` (sample quality, every
    eval.every steps and at the end) are optional: pass them on rank 0 only.
    """
    cfg, t = run.cfg, run.cfg.train
    dist = distributed.context()
    amp = autocast(cfg, run.device)
    nets = step_modules(run)
    z_fixed = fixed_noise(64, cfg.model.nz, t.seed, run.device)

    bar = tqdm(total=t.steps, initial=run.step, desc=run_name(cfg), disable=dist.rank != 0,
               dynamic_ncols=True, mininterval=1.0)
    status, tick, tick_step = "completed", time.perf_counter(), run.step
    stop = StopRequest()
    try:
        while run.step < t.steps:
            stats = train_step(run, nets, amp)
            run.step += 1
            step, row = run.step, {}
            stopping = distributed.any_rank(stop.requested)  # Ctrl-C / SIGTERM, agreed by every rank, between steps
            due_ckpt = (t.ckpt_every and step % t.ckpt_every == 0) or step == t.steps
            due_row = step % t.log_every == 0 or due_ckpt  # a row of losses in metrics.jsonl

            # a step that ends in a checkpoint is always checked first: a non-finite loss never reaches last.pt
            if due_row or stopping:
                if run.device.type == "cuda":
                    torch.cuda.synchronize()
                now = time.perf_counter()
                step_ms = 1000 * (now - tick) / max(step - tick_step, 1)
                tick, tick_step = now, step
                # the only host syncs; under DDP the mean over ranks (= the global-batch value; every rank agrees)
                row = distributed.mean_over_ranks(stats)
                row.update({mk.STEP_MS: step_ms, mk.IMG_PER_S: 1000 * t.batch_size * t.d_steps / step_ms})
                if not all(math.isfinite(v) for v in row.values()):
                    tracker.log(row, step)
                    status = "diverged"
                    break
                if due_row:
                    bar.set_postfix({"D": f"{row[mk.LOSS_D]:.3f}", "G": f"{row[mk.LOSS_G]:.3f}",
                                     "D(x)": f"{row[mk.D_REAL_PROB]:.2f}", "D(G(z))": f"{row[mk.D_FAKE_PROB]:.2f}",
                                     "img/s": f"{row[mk.IMG_PER_S]:.0f}"}, refresh=False)
                else:  # a stop between log steps: checked, not logged, so that after a resume
                    row = {}  # metrics.jsonl holds the same rows as a straight run's
            if probe is not None and step % t.probe_every == 0:
                scalars, histograms = probe.measure(data_view=data_view_due(step, t.probe_every, t.steps))
                row.update(scalars)
                for key, values in histograms.items():
                    tracker.log_histogram(key, values, step)
            if evaluator is not None and ((cfg.eval.every and step % cfg.eval.every == 0) or step == t.steps):
                row.update(evaluator.evaluate(distributed.unwrap(run.G), cfg.model.nz))
            if row:
                tracker.log(row, step)
            if (t.sample_every and step % t.sample_every == 0) or step == t.steps:
                _save_samples(run, tracker, z_fixed, RunDir(run.dir).step_samples(step))
            if due_ckpt or stopping:
                with distributed.same_outcome():  # a full disk on rank 0 stops every rank (exit 2)
                    finite = _checkpoint(run, tracker)
                if not finite:  # never reaches last.pt: the previous checkpoint stays the last good one
                    status = "diverged"
                    break
            bar.update(1)
            if stopping:  # the checkpoint above is between steps: it resumes exactly
                status = "interrupted"
                if dist.rank == 0:
                    tqdm.write(f"stopped at step {step} ({stop.reason}); checkpoint saved: continue with "
                               f"`gan train --resume {run.dir}`", file=sys.stderr)
                break
    except KeyboardInterrupt:  # a second Ctrl-C: stop now; the last checkpoint (between steps) stays
        status = "interrupted"
    finally:
        stop.restore()
        bar.close()
    if status != "diverged" and dist.rank == 0:
        _save_samples(run, tracker, z_fixed, RunDir(run.dir).final_samples, log=False)
    return status


def make_probe(run: Run) -> Probe:
    """The fixed probe batch: probe_batch real test images (a seeded choice) and G(z_probe) with a fixed z_probe;
    the data view's fixed held-out set: HELD_OUT real test images (all if fewer) and HELD_OUT fixed z; and
    probe_batch real training images (a seeded choice of what the run trains on) for the over-fitting probes."""
    real = load_split(run.cfg.data, train=False, device=run.device).images
    fmt, value_range = memory_format(run.cfg), run.cfg.data.range
    idx = torch.randperm(len(real), generator=torch.Generator().manual_seed(4242))[:run.cfg.train.probe_batch]
    z = fixed_noise(len(idx), run.cfg.model.nz, 4242, run.device)  # (P, nz, 1, 1)
    images = to_float(real[idx.to(run.device)], value_range).contiguous(memory_format=fmt)  # (P, nc, S, S)
    held = torch.randperm(len(real), generator=torch.Generator().manual_seed(4343))[:HELD_OUT]
    held_real = to_float(real[held.to(run.device)], value_range).contiguous(memory_format=fmt)  # (<= HELD_OUT, nc, S, S)
    held_z = fixed_noise(HELD_OUT, run.cfg.model.nz, 4343, run.device)  # (HELD_OUT, nz, 1, 1)
    train = run.stream.images  # uint8 (N_train, nc, S, S): the images the run trains on
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(4444))[:len(idx)]
    train_real = to_float(train[pick.to(train.device)], value_range).contiguous(memory_format=fmt)  # (P, nc, S, S)
    dtype = torch.bfloat16 if run.cfg.train.precision == "bf16" else None
    return Probe(distributed.unwrap(run.G), distributed.unwrap(run.D), images, z, held_real=held_real,
                 held_z=held_z, train_real=train_real, autocast_dtype=dtype)


def _save_samples(run: Run, tracker: Tracker, z: torch.Tensor, path: Path, log: bool = True) -> None:
    if distributed.context().rank != 0:
        return
    grid = save_grid(generate(distributed.unwrap(run.G), z), path)
    if log:
        tracker.log_image(mk.SAMPLES, grid, run.step)


def _checkpoint(run: Run, tracker: Tracker) -> bool:
    """Save last.pt (rank 0) unless the weights hold a non-finite value; returns whether they were finite.

    The losses of a step are checked only at log steps and stops; the weights are checked here too, so a
    checkpoint written at any step (a stop between log steps included) never holds NaN or inf.
    """
    params = [*distributed.unwrap(run.G).parameters(), *distributed.unwrap(run.D).parameters()]
    if not bool(torch.stack([p.detach().isfinite().all() for p in params]).all()):
        return False
    if distributed.context().rank != 0:
        return True
    run.wandb_run_id = tracker.run_id
    try:
        save_checkpoint(run.state(), RunDir(run.dir).ckpt_last)
    except CheckpointWriteError as err:  # stop: training on without checkpoints would waste the time it takes
        raise UserError(f"{err}: free space and run `gan train --resume {run.dir}`") from None
    return True


########################################################################################
# entry point for `gan train`


def main_train(config_path: str | None, overrides: list[str], out: str | None, resume: str | None,
               restart: bool = False) -> int:
    """`gan train`: returns the exit code (0 completed, 1 diverged, 130 interrupted); one process per folder."""
    lock, folder = None, None
    if distributed.context().rank == 0:  # one writer per folder; the other ranks of a torchrun write nothing
        folder = folder_to_lock(config_path, overrides, out, resume)
        if folder is not None:
            lock, created = FolderLock(folder, "run folder"), not folder.exists()
    with distributed.same_outcome():
        if lock is not None:
            lock.acquire()
    try:
        return _train_locked(config_path, overrides, out, resume, restart)
    finally:
        if lock is not None:
            lock.release()
            if created and not any(folder.iterdir()):  # refused before any write: leave no folder behind
                folder.rmdir()


def _train_locked(config_path: str | None, overrides: list[str], out: str | None, resume: str | None,
                  restart: bool) -> int:
    # under torchrun, a user error seen by one rank only (a file missing on one node, a rank-0 write) must
    # stop every rank: same_outcome raises it everywhere instead of leaving the others in a collective
    with distributed.same_outcome():
        cfg, run_dir, state = prepare_run_dir(config_path, overrides, out, resume, restart)
    dist = distributed.context()
    run = build_run(cfg, run_dir)  # bad data or a checkpoint of another architecture fail before anything is written
    with distributed.same_outcome():
        if state is not None:
            run.load_state(state)  # every rank loads the same checkpoint (z stream and batch stream are global)
        if dist.rank == 0:
            write_config(cfg, run_dir)
            # rows after the checkpoint are recomputed identically;
            # a run killed before its first checkpoint starts afresh
            truncate_metrics(run_dir, run.step)
        prov = provenance.record(cfg, run.device) if dist.rank == 0 else {}  # git runs once, at the start
        tracker = Tracker(cfg, run_dir, run_id=run.wandb_run_id, enabled=dist.rank == 0, provenance=prov,
                          dataset=run.train_record)
    run.wandb_run_id = tracker.run_id
    started = time.perf_counter()
    probe = make_probe(run) if cfg.train.probe_every and dist.rank == 0 else None
    evaluator = Evaluator(cfg, run.device) if cfg.eval.enabled and dist.rank == 0 else None
    status = train(run, tracker, probe, evaluator)
    final, mean = summarize(read_metrics(run_dir)) if dist.rank == 0 else ({}, {})
    quality_ref = {}  # what real images score against the test split: the floor beside the run's quality
    if evaluator is not None and status == "completed":
        quality_ref = {**reference_floor(cfg, run.device, evaluator=evaluator),
                       mk.REF_CLASSIFIER_TEST_ACC: evaluator.classifier_meta.get("test_acc")}
    tracker.finish({"status": status, "step": run.step, "name": run_name(cfg),
                    "wall_time_s": time.perf_counter() - started, "config": config_to_dict(cfg),
                    mk.FINAL: final, mk.MEAN: mean, "quality_ref": quality_ref, "wandb_run_id": tracker.run_id,
                    mk.PROVENANCE: prov, mk.DATASET: run.train_record or {},
                    mk.CLASSIFIER: evaluator.classifier_record() if evaluator is not None else {}})
    if status == "diverged" and dist.rank == 0:
        print(f"run diverged at step {run.step} (non-finite loss); last good checkpoint kept in {run_dir}")
    distributed.close(wait_for_peers=True)  # every rank ended the loop alike: meet, then tear down
    return STATUS_EXIT[status]

