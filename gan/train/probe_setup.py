"""The fixed probe batch and held-out sets a run's Probe measures on (gan/measure/probes.py), built once per run."""

from __future__ import annotations

import torch

from gan.data.dataset import load_split

from gan.data.images import to_float
from gan.measure.probes import HELD_OUT, Probe
from gan.nets.models import unwrap
from gan.nets.sampling import fixed_noise
from gan.train.run import Run, memory_format


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
    return Probe(unwrap(run.G), unwrap(run.D), images, z, held_real=held_real,
                 held_z=held_z, train_real=train_real, autocast_dtype=dtype)
