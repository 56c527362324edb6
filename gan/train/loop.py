"""The training loop: `train_step` each step, then the scheduled probes, evaluations, sample grids and checkpoints.

Reads top to bottom: one step, then what is due at this step (a metrics row, a probe, an evaluation, a grid, a
checkpoint), then a stop request between steps. Returns the run's status.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from gan.config.schema import run_name
from gan.errors import UserError
from gan.files.layout import RunDir
from gan.measure import metric_keys as mk
from gan.measure.probes import Probe, data_view_due
from gan.measure.quality import Evaluator
from gan.nets.models import unwrap
from gan.nets.sampling import fixed_noise, generate, save_grid
from gan.tracking.tracker import Tracker
from gan.train import distributed
from gan.train.checkpoint import CheckpointWriteError, save_checkpoint
from gan.train.run import Run
from gan.train.step import autocast, step_modules, train_step
from gan.train.stopping import StopRequest


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
                row.update(evaluator.evaluate(unwrap(run.G), cfg.model.nz))
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


def _save_samples(run: Run, tracker: Tracker, z: torch.Tensor, path: Path, log: bool = True) -> None:
    if distributed.context().rank != 0:
        return
    grid = save_grid(generate(unwrap(run.G), z), path)
    if log:
        tracker.log_image(mk.SAMPLES, grid, run.step)


def _checkpoint(run: Run, tracker: Tracker) -> bool:
    """Save last.pt (rank 0) unless the weights hold a non-finite value; returns whether they were finite.

    The losses of a step are checked only at log steps and stops; the weights are checked here too, so a
    checkpoint written at any step (a stop between log steps included) never holds NaN or inf.
    """
    params = [*unwrap(run.G).parameters(), *unwrap(run.D).parameters()]
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
