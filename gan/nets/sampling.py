"""Generating images without leaving a trace on G, and sample grids (PNG and uint8 for W&B)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.utils import make_grid, save_image

from gan.data.images import MEASURE_RANGE, to_measure
from gan.files.atomic import write_atomic


@torch.no_grad()
def generate(G: nn.Module, z: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """G(z) in batches, as G trains (BatchNorm on batch statistics) but with its buffers and mode restored.

    z: (N, nz, 1, 1) -> float (N, nc, S, S) in [-1, 1], the measuring scale, whatever G's data.range.
    """
    was_training = G.training
    buffers = {name: b.clone() for name, b in G.named_buffers()}
    G.train()
    try:
        out = torch.cat([G(chunk).float() for chunk in z.split(batch_size)])
        out = to_measure(out, getattr(G, "value_range", MEASURE_RANGE))
    finally:
        for name, b in G.named_buffers():
            b.copy_(buffers[name])
        G.train(was_training)
    return out


def grid_uint8(images: torch.Tensor, nrow: int = 8) -> torch.Tensor:
    """float (N, C, S, S) in [-1, 1] -> uint8 (3, H, W) grid (a float grid would log as black in W&B)."""
    grid = make_grid(images.detach().float().cpu(), nrow=nrow, padding=2, normalize=True, value_range=(-1, 1))
    return (grid * 255).round().to(torch.uint8)


def save_grid(images: torch.Tensor, path: Path, nrow: int = 8) -> torch.Tensor:
    """Write a PNG grid of `images` (float in [-1, 1]); returns the uint8 grid."""
    grid = grid_uint8(images, nrow)
    write_atomic(path, lambda f: save_image(grid.float() / 255, f, format="png"))
    return grid


def fixed_noise(n: int, nz: int, seed: int, device: str | torch.device = "cpu") -> torch.Tensor:
    """The same z for every run with this seed, so grids compare across steps and arms. (n, nz, 1, 1)"""
    g = torch.Generator().manual_seed(10_000 + seed)
    return torch.randn(n, nz, 1, 1, generator=g).to(device)
