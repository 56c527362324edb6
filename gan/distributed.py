"""torchrun / DDP helpers: who am I (rank, world, device), wrap and unwrap models."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import nn


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")


@lru_cache(maxsize=1)
def context() -> DistContext:
    """Rank 0 of 1 unless launched by torchrun (WORLD_SIZE > 1): then init the process group once."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return DistContext()
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return DistContext(dist.get_rank(), dist.get_world_size(), device)


def wrap(model: nn.Module, sync_bn: bool) -> nn.Module:
    """DistributedDataParallel under torchrun (optionally with SyncBatchNorm); the model itself otherwise."""
    ctx = context()
    if ctx.world == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    if sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DDP(model, device_ids=ids, broadcast_buffers=False)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside DDP / torch.compile wrappers (what checkpoints and probes see)."""
    while hasattr(model, "module") or hasattr(model, "_orig_mod"):
        model = getattr(model, "module", None) or model._orig_mod
    return model
