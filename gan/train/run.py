"""A training run's state (`Run`: nets, optimizers, data stream, z generator, step) and how it is built, seeded, in
the memory layout its weights and batches use (`memory_format`).

Everything that makes a run reproducible lives in `Run.state()`, one checkpoint, so N + N steps with a resume in
between equal 2N straight steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gan.config.schema import RunConfig

from gan.config.load import config_to_dict
from gan.data.stream import BatchStream
from gan.data.training_set import load_training_set
from gan.errors import UserError
from gan.nets.models import build_models, unwrap
from gan.train import distributed, machine


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
        return {"G": unwrap(self.G).state_dict(), "D": unwrap(self.D).state_dict(),
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "z_gen": self.z_gen.get_state(), "torch_rng": torch.get_rng_state(),
                "stream": self.stream.state_dict(), "step": self.step,
                "config": config_to_dict(self.cfg), "wandb_run_id": self.wandb_run_id}

    def load_state(self, state: dict[str, Any]) -> None:
        try:
            unwrap(self.G).load_state_dict(state["G"])
            unwrap(self.D).load_state_dict(state["D"])
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_d.load_state_dict(state["opt_d"])
        except (RuntimeError, ValueError, KeyError) as err:
            raise UserError(f"checkpoint in '{self.dir}' does not fit this architecture "
                            f"({str(err).splitlines()[0][:100]}); resume with the config it was written with") from None
        self.z_gen.set_state(state["z_gen"])
        torch.set_rng_state(state["torch_rng"])
        self.stream.load_state_dict(state["stream"])
        self.step, self.wandb_run_id = int(state["step"]), state.get("wandb_run_id")


def memory_format(cfg: RunConfig) -> torch.memory_format:
    """The layout of weights and batches: channels_last (faster convolutions, exact) unless switched off."""
    return torch.channels_last if cfg.train.channels_last else torch.contiguous_format


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
