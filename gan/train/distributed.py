"""torchrun / DDP: who am I (rank, world, device), wrap models (gan.nets.models.unwrap unwraps them), BatchNorm over
every rank.

One run on N processes (`torchrun --nproc_per_node N -m gan train ...`): every rank holds the same
weights, takes its share [rank::N] of each global batch (data.BatchStream, and z in train.py), and
DistributedDataParallel averages the gradients, so a step equals a 1-process step on the global batch
except for BatchNorm, whose statistics are per rank unless `train.sync_bn=true` (SyncBatchNorm2d below).
Rank 0 alone writes files and logs; logged losses are means over ranks (`mean_over_ranks`).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import inspect
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn

from gan.errors import UserError


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")


_CONTEXT: DistContext | None = None


def context() -> DistContext:
    """Rank 0 of 1 unless launched by torchrun (WORLD_SIZE > 1): then init the process group once.

    Under torchrun each process uses cuda:LOCAL_RANK when a GPU is visible (NCCL), else the CPU (gloo);
    gloo also carries the small CPU-side exchanges (`same_outcome`) on GPU machines.
    """
    global _CONTEXT
    if _CONTEXT is not None:
        return _CONTEXT
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        _CONTEXT = DistContext()
        return _CONTEXT
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "cpu:gloo,cuda:nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        # rank-0-only work (evaluation, probes, checkpoints) pauses the others in their next collective:
        # allow an hour for it rather than the backends' default (10 min for NCCL, 30 for gloo)
        dist.init_process_group(backend, timeout=timedelta(minutes=60))
        atexit.register(close)  # however the process ends (return, error, exit code)
    _CONTEXT = DistContext(dist.get_rank(), dist.get_world_size(), device)
    return _CONTEXT


def close(wait_for_peers: bool = False) -> None:
    """Destroy the process group (idempotent; registered with atexit by `context`).

    Gloo's worker threads free a finished collective's tensors a moment after the caller has been told
    it is done. If that moment falls in the interpreter's shutdown, the thread cannot take the GIL and
    the process aborts: SIGABRT after a successful run, ~1 in 15 two-process runs here (0 in 140 with
    this fix; torch's own fix, pytorch/pytorch#179291, was abandoned). destroy_process_group does not
    join those threads once a DistributedDataParallel has held the group (torch keeps a reference), so:
    collect garbage, and, when every rank ends the same way (`wait_for_peers`), meet the others in a
    barrier, so the last collective is long finished, and released, before anyone shuts down.
    """
    global _CONTEXT
    if dist.is_available() and dist.is_initialized():
        gc.collect()
        if wait_for_peers:
            dist.barrier()
        dist.destroy_process_group()
    _CONTEXT = None


@contextlib.contextmanager
def same_outcome() -> Iterator[None]:
    """Run a block on every rank; if it raised on any rank, raise on every rank.

    Without this, a user error seen by one rank only (a file missing on one node, a rank-0-only
    write) would leave the other ranks waiting forever in their next collective. A peer's UserError
    is raised as the same UserError (every rank prints it and exits 2); a peer's bug as RuntimeError.
    Every rank must enter the block, and the block itself must hold no collectives.
    """
    ctx = context()
    if ctx.world == 1:
        yield
        return
    error: Exception | None = None
    try:
        yield
    except Exception as err:  # noqa: BLE001 - re-raised below, after the other ranks have heard of it
        error = err
    mine = None if error is None else (isinstance(error, UserError), f"{type(error).__name__}: {error}", str(error))
    outcomes: list = [None] * ctx.world
    dist.all_gather_object(outcomes, mine)
    if error is not None:
        raise error
    for rank, outcome in enumerate(outcomes):
        if outcome is not None:
            is_user, described, message = outcome
            if is_user:
                raise UserError(message)
            raise RuntimeError(f"rank {rank} failed: {described}")


def mean_over_ranks(stats: dict[str, torch.Tensor]) -> dict[str, float]:
    """Scalar tensors -> floats averaged over ranks (one all-reduce; every rank must call it).

    With equal shares of the global batch, the mean of the ranks' batch means is the global-batch value,
    so the logged losses are the same numbers a 1-process run logs, and every rank agrees on divergence.
    """
    ctx = context()
    if ctx.world == 1:
        return {k: v.item() for k, v in stats.items()}
    keys = list(stats)
    values = torch.stack([stats[k].detach().float() for k in keys])  # (K,)
    dist.all_reduce(values)
    return dict(zip(keys, (values / ctx.world).tolist()))


def any_rank(flag: bool) -> bool:
    """True on every rank when `flag` is true on any rank (one tiny all-reduce; every rank must call it)."""
    ctx = context()
    if ctx.world == 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=ctx.device)
    dist.all_reduce(t)
    return bool(t.item() > 0)


########################################################################################
# BatchNorm over every rank

_SYNC_BN = False  # set by synced_batchnorm(): only training steps, which every rank runs, may all-reduce


@contextlib.contextmanager
def synced_batchnorm() -> Iterator[None]:
    """Inside: SyncBatchNorm2d layers normalise with statistics over all ranks. Outside (rank-0-only
    sampling, probes, evaluation), they are plain per-process BatchNorm, so rank 0 never waits for peers."""
    global _SYNC_BN
    previous, _SYNC_BN = _SYNC_BN, True
    try:
        yield
    finally:
        _SYNC_BN = previous


class _SumOverRanks(torch.autograd.Function):
    """all_reduce(SUM) with its gradient: d(sum over ranks)/d(local) passes the summed upstream gradient."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad)
        return grad


class SyncBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics span the batch of every rank (inside `synced_batchnorm()`).

    torch's nn.SyncBatchNorm runs on GPUs only; this one is written with two differentiable all-reduces
    per layer (sums, then squared deviations), so it runs on gloo/CPU as well and autograd supplies the
    cross-rank backward. Same parameters, buffers and state_dict keys as nn.BatchNorm2d.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N_local, C, H, W) -> same shape, normalised with the mean / biased var over all ranks' N."""
        if not (_SYNC_BN and self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        self._check_input_dim(x)
        xf, c = x.float(), x.shape[1]
        count = torch.full((1,), x.numel() // c, dtype=torch.float32, device=x.device)
        totals = _SumOverRanks.apply(torch.cat([xf.sum(dim=(0, 2, 3)), count]))  # (C + 1,): sums, global count
        n = totals[-1]
        mean = totals[:-1] / n  # (C,)
        centered = xf - mean.view(1, c, 1, 1)
        var = _SumOverRanks.apply(centered.square().sum(dim=(0, 2, 3))) / n  # (C,) biased, as BatchNorm uses
        y = centered * torch.rsqrt(var + self.eps).view(1, c, 1, 1)
        if self.affine:
            y = y * self.weight.view(1, c, 1, 1) + self.bias.view(1, c, 1, 1)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                f = 1.0 / self.num_batches_tracked.item() if self.momentum is None else self.momentum
                self.running_mean.mul_(1 - f).add_(mean.detach() * f)
                self.running_var.mul_(1 - f).add_(var.detach() * (n / (n - 1)) * f)  # unbiased, as BatchNorm
        return y.to(x.dtype)


def convert_sync_batchnorm(model: nn.Module) -> nn.Module:
    """Replace every nn.BatchNorm2d by a SyncBatchNorm2d sharing its parameters and buffers (optimizers stay valid)."""
    for name, child in model.named_children():
        if type(child) is nn.BatchNorm2d:
            bn = SyncBatchNorm2d(child.num_features, child.eps, child.momentum, child.affine,
                                 child.track_running_stats, device=child.running_mean.device
                                 if child.running_mean is not None else None)
            if child.affine:
                bn.weight, bn.bias = child.weight, child.bias
            if child.track_running_stats:
                bn.running_mean, bn.running_var = child.running_mean, child.running_var
                bn.num_batches_tracked = child.num_batches_tracked
            bn.train(child.training)
            setattr(model, name, bn)
        else:
            convert_sync_batchnorm(child)
    return model


########################################################################################
# wrapping

def pick_device(spec: str) -> torch.device:
    """train.device -> torch.device for a single process ("auto": CUDA when available); torchrun ranks use context()."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"train.device={spec} but no CUDA GPU is visible; use train.device=cpu")
    return torch.device(spec)


def wrap(model: nn.Module, sync_bn: bool) -> nn.Module:
    """DistributedDataParallel under torchrun (optionally with SyncBatchNorm2d); the model itself otherwise.

    No buffer broadcast in forward: BatchNorm buffers are not copied from rank 0 at every step (training
    normalises with batch statistics; per-rank running stats differ without sync_bn; rank 0's are checkpointed).
    """
    ctx = context()
    if ctx.world == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    if sync_bn:
        model = convert_sync_batchnorm(model)
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    # newer torch renamed broadcast_buffers (and still syncs buffers once at init: wanted, ranks start equal)
    new_name = "forward_sync_buffers" in inspect.signature(DDP.__init__).parameters
    no_buffer_sync = {"forward_sync_buffers" if new_name else "broadcast_buffers": False}
    return DDP(model, device_ids=ids, **no_buffer_sync)
