"""Sparsity metrics on tensors: pure functions of their inputs (no hooks, no state; gan/measure/probes.py applies them).

Metric definitions (contracts, pinned by tests/measure/test_probes.py):

- `neg_frac(pre)`: share of pre-activation entries <= 0 (for ReLU: share of zero outputs; a ReLU unit at
  exactly 0 passes no gradient either, so 0 counts as off).
- `dead_frac(pre)`: share of channels whose pre-activation is <= 0 at every position of every sample.
- `zero_frac(x)`: share of exact zeros.
- `hoyer(x)` = (sqrt(n) - |x|_1/|x|_2) / (sqrt(n) - 1): 0 for a constant vector, 1 for a one-hot.
- `gini(x)` (Hurley & Rickard 2009): sort |x| ascending into c, G = 1 - 2 sum_k (c_k/|c|_1)((n - k + 1/2)/n).
  Both are 1.0 for an all-zero vector (and for n = 1).
- `hoyer_per_sample(x)`, `gini_per_sample(x)`: the same for each sample x[i] of a batch (N, ...) -> (N,).
  A batch's sparsity is the mean of these: pooled over a batch, Hoyer / Gini also grow with how unequal
  the samples' norms are (dense vectors whose norms spread over 100x score "sparse" pooled).
- `GAUSSIAN_HOYER` = 1 - sqrt(2/pi) = 0.202: the Hoyer of a large dense Gaussian vector, the reference
  line of every sparsity figure (E|x| / sqrt(E x^2) = sqrt(2/pi) for x ~ N(0, s^2)).
- `starved_frac(norms)`: share of samples whose gradient norm is below STARVED_REL = 1% of the batch median.
- `norm_cv(norms)`: coefficient of variation of the per-sample norms, population SD / mean.

The building blocks the probe uses on batched gradients, without a host sync: `abs_flat` (|x| of several
tensors as one vector), `dense_stats` + `zero_and_hoyer` (zero_frac and Hoyer from order-free sums),
`hoyer_rows` / `gini_rows` (per row of an (N, M) matrix), `rows` (a batch as (N, M) in memory order),
`positions` (a fixed uniform random subset of a sample's entries, for a Gini too large to sort) and
`channel_max` (per-channel max, for dead_frac).
"""

from __future__ import annotations

import math

import torch

F64 = torch.float64
GAUSSIAN_HOYER = 1 - math.sqrt(2 / math.pi)  # 0.2021: Hoyer of a dense Gaussian vector as n -> infinity
STARVED_REL = 0.01  # a sample is gradient-starved when its norm is below this share of the batch median


def _flat(x: torch.Tensor) -> torch.Tensor:
    """x as a 1-D tensor in memory order (every metric is order-free): a view for contiguous or channels_last."""
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return x.permute(0, 2, 3, 1).reshape(-1)
    return x.reshape(-1)


def abs_flat(xs: list[torch.Tensor]) -> torch.Tensor:
    """|x| of the tensors, flattened and concatenated: (n,) float32 (float64 if the input is)."""
    flat = [_flat(x.detach()).to(F64 if x.dtype == F64 else torch.float32) for x in xs]
    return torch.cat(flat).abs_() if len(flat) > 1 else flat[0].abs()


def _ranks(n: int, device: torch.device, cache: dict | None) -> torch.Tensor:
    """The ranks 1..n as float64 (n,), cached per size (a probe's sizes never change)."""
    key = ("ranks", n, str(device))
    if cache is not None and key in cache:
        return cache[key]
    k = torch.arange(1, n + 1, dtype=F64, device=device)
    if cache is not None:
        cache[key] = k
    return k


def _gini_t(n: int, s: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Gini from n, S = sum_k c_k and W = sum_k k c_k over c ascending: 1 - 2 sum_k (c_k/S)((n - k + 1/2)/n)
    = (2 W - (n + 1) S) / (n S); 1.0 when S = 0."""
    return torch.where(s > 0, (2 * w - (n + 1) * s) / (n * s), torch.ones_like(s))


def dense_stats(a: torch.Tensor) -> dict:
    """Order-free statistics of the non-negative values a (n,): n, exact zeros, sum, sum of squares."""
    a64 = a.to(F64)
    return {"n": float(a.numel()), "zeros": a.numel() - torch.count_nonzero(a), "s": a64.sum(),
            "q": torch.dot(a64, a64)}


def zero_and_hoyer(st: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(zero_frac, hoyer) from `dense_stats`; float64 0-d tensors, no host sync.

    Hoyer = (sqrt(n) - |x|_1/|x|_2)/(sqrt(n) - 1); 1.0 when x is all zero or n = 1."""
    n, s, q = st["n"], st["s"], st["q"]
    one = torch.ones_like(s)
    hoyer_t = torch.where(q > 0, (math.sqrt(n) - s / q.sqrt()) / (math.sqrt(n) - 1), one) if n > 1 else one
    return st["zeros"].to(F64) / n, hoyer_t


def rows(x: torch.Tensor) -> torch.Tensor:
    """x (N, ...) as (N, M) in memory order (every metric is order-free): a view for contiguous or channels_last."""
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
    return x.reshape(x.shape[0], -1)


def positions(n: int, m: int, cap: int, device: torch.device, cache: dict) -> torch.Tensor:
    """For each of n samples a fixed uniform random subset of cap of its m entries, drawn once with a private
    generator (no global RNG use; the same every call) and independently per sample, so that the errors of
    the per-sample figures average out over the batch: (n, cap) int64, each row sorted."""
    key = ("positions", n, m, cap, str(device))
    if key not in cache:
        g = torch.Generator().manual_seed(m * 1_000_003 + cap)
        cache[key] = torch.rand(n, m, generator=g).argsort(dim=1)[:, :cap].sort(dim=1).values.to(device)
    return cache[key]


def hoyer_rows(a: torch.Tensor) -> torch.Tensor:
    """Hoyer of each row of a (N, M) (any sign): (N,) float64, 1.0 for an all-zero row or M = 1; no host sync."""
    m = a.shape[1]
    s = torch.linalg.vector_norm(a, 1, dim=1, dtype=F64)
    q = torch.linalg.vector_norm(a, 2, dim=1, dtype=F64)
    if m == 1:
        return torch.ones_like(s)
    return torch.where(q > 0, (math.sqrt(m) - s / q.clamp_min(1e-300)) / (math.sqrt(m) - 1), torch.ones_like(s))


def gini_rows(a: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
    """Gini of each row of the non-negative float32/64 values a (N, M): (N,) float64, 1.0 for an all-zero row."""
    n, m = a.shape
    # Non-negative floats sort like their integer bit patterns. For float32 the row index goes in the high
    # 32 bits of an int64 key, so one flat radix sort sorts every row (2.4x faster on CPU than sort(dim=1)).
    if a.dtype == F64:
        c = torch.sort(a.contiguous().view(torch.int64), dim=1).values.view(F64)
    else:
        row = torch.arange(n, device=a.device, dtype=torch.int64).view(n, 1) << 32
        key = torch.sort((a.contiguous().view(torch.int32).to(torch.int64) + row).view(-1)).values
        c = (key & 0xFFFFFFFF).to(torch.int32).view(torch.float32).view(n, m)
    c = c.to(F64)  # (N, M), each row ascending
    s, w = c.sum(1), c @ _ranks(m, a.device, cache)
    return _gini_t(m, s, w)


def hoyer_per_sample(x: torch.Tensor) -> torch.Tensor:
    """Hoyer of each sample x[i] of a batch (N, ...): (N,) float64."""
    _check(x, "hoyer_per_sample")
    return hoyer_rows(rows(x.detach()))


def gini_per_sample(x: torch.Tensor) -> torch.Tensor:
    """Gini index of |x[i]| for each sample of a batch (N, ...): (N,) float64."""
    _check(x, "gini_per_sample")
    a = rows(x.detach())
    return gini_rows(a.to(F64 if a.dtype == F64 else torch.float32).abs())


def starved_frac(norms: torch.Tensor, rel: float = STARVED_REL) -> torch.Tensor:
    """Share of the per-sample gradient norms (N,) below rel x their median (interpolated for even N): 0-d float64."""
    norms = norms.to(F64)
    return (norms < rel * torch.quantile(norms, 0.5)).to(F64).mean()


def norm_cv(norms: torch.Tensor) -> torch.Tensor:
    """Coefficient of variation of the per-sample norms (N,): population SD / mean (0 when the mean is 0)."""
    norms = norms.to(F64)
    mean = norms.mean()
    return torch.where(mean > 0, norms.std(correction=0) / mean.clamp_min(1e-300), torch.zeros_like(mean))


def _check(x: torch.Tensor, name: str) -> None:
    if x.numel() == 0:
        raise ValueError(f"{name}() needs a non-empty tensor")


def hoyer(x: torch.Tensor) -> float:
    """Hoyer sparsity of x (any shape, flattened): 0 constant .. 1 one-hot; 1.0 when all zero."""
    _check(x, "hoyer")
    return zero_and_hoyer(dense_stats(abs_flat([x])))[1].item()


def gini(x: torch.Tensor) -> float:
    """Gini index of |x| (Hurley & Rickard 2009): 0 constant .. 1 - 1/n one-hot; 1.0 when all zero."""
    _check(x, "gini")
    return gini_rows(abs_flat([x]).view(1, -1))[0].item()


def zero_frac(x: torch.Tensor) -> float:
    """Share of exact zeros in x."""
    _check(x, "zero_frac")
    return (x.numel() - torch.count_nonzero(x).item()) / x.numel()


def neg_frac(pre: torch.Tensor) -> float:
    """Share of pre-activation entries <= 0."""
    _check(pre, "neg_frac")
    return torch.count_nonzero(pre <= 0).item() / pre.numel()


def channel_max(pre: torch.Tensor) -> torch.Tensor:
    """Max over every dim but the channel dim 1: (N, C, ...) -> (C,)."""
    dims = [0] + list(range(2, pre.dim()))
    return pre.detach().amax(dim=dims)


def dead_frac(pre: torch.Tensor) -> float:
    """Share of channels of pre (N, C, H, W) or (N, C) that are <= 0 at every position of every sample."""
    _check(pre, "dead_frac")
    return (channel_max(pre) <= 0).to(F64).mean().item()
