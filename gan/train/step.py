"""One training step: (1) update D, (2) update G, each returning detached stats; the precision they run in (the
layout of their weights and batches is gan/train/run.py's memory_format).

Non-saturating GAN loss with BCE-with-logits, Adam (2e-4, betas (0.5, 0.999)) as in DCGAN.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from gan.config.schema import RunConfig
from gan.measure import metric_keys as mk
from gan.nets.models import unwrap
from gan.train import distributed
from gan.train.run import Run, memory_format


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


def autocast(cfg: RunConfig, device: torch.device) -> contextlib.AbstractContextManager:
    if cfg.train.precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def step_modules(run: Run) -> tuple[nn.Module, nn.Module, nn.Module]:
    """(G, D, D_local) as the loop calls them, each under torch.compile when train.compile.

    D_local is D without the DDP wrapper, for the G step (see g_step).
    """
    nets = (run.G, run.D, unwrap(run.D))
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
