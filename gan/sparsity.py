"""Sparsity metrics on tensors: pure functions of their inputs (no hooks, no state; gan/probes.py applies them).

Metric definitions (contracts, pinned by tests/test_probes.py):

- `neg_frac(pre)`: share of pre-activation entries < 0 (for ReLU: share of zero outputs).
- `dead_frac(pre)`: share of channels whose pre-activation is < 0 at every position of every sample.
- `zero_frac(x)`: share of exact zeros.
- `hoyer(x)` = (sqrt(n) - |x|_1/|x|_2) / (sqrt(n) - 1): 0 for a constant vector, 1 for a one-hot.
- `gini(x)` (Hurley & Rickard 2009): sort |x| ascending into c, G = 1 - 2 sum_k (c_k/|c|_1)((n - k + 1/2)/n).
  Both are 1.0 for an all-zero vector (and for n = 1).

The building blocks the probe uses on batched gradients, without a host sync: `abs_flat` (|x| of several
tensors as one vector), `dense_stats` + `zero_and_hoyer` (zero_frac and Hoyer from order-free sums),
`ginis` (Gini of a whole vector and, from the same single sort, of its two halves), `subset` (a fixed
uniform random subset for a Gini too large to sort) and `channel_max` (per-channel max, for dead_frac).
"""

from __future__ import annotations

import math

import torch

F64 = torch.float64


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


def ginis(a: torch.Tensor, split: int | None = None, cache: dict | None = None) -> dict[str, torch.Tensor]:
    """Gini of the non-negative float32/64 values a (n,): scope "" is all of a; with split = m also "real" = a[:m]
    and "fake" = a[m:] (one sort serves all three: a half's ranks count its own members in the merged order)."""
    n = a.numel()
    # Non-negative floats sort exactly like their integer bit patterns, and an integer sort is a radix
    # sort on CPU (4x faster than sorting floats); the order is exact.
    bits, idx = torch.sort(a.view(torch.int64 if a.dtype == F64 else torch.int32))
    c = bits.view(a.dtype).to(F64)  # (n,) ascending
    k = _ranks(n, a.device, cache)
    s, w = c.sum(), torch.dot(c, k)
    if split is None:
        return {"": _gini_t(n, s, w)}
    is_real = (idx < split).to(F64)  # (n,) 1 where the sorted value is a real one
    b = c * is_real  # the real values, 0 elsewhere
    r = torch.cumsum(is_real, 0)  # rank among the real values, at each sorted position
    s_r, w_r = b.sum(), torch.dot(b, r)
    w_f = w - torch.dot(b, k) - (torch.dot(r, c) - w_r)  # a fake value at position k has rank k - r_k
    return {"": _gini_t(n, s, w), "real": _gini_t(split, s_r, w_r), "fake": _gini_t(n - split, s - s_r, w_f)}


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


def subset(n_real: int, n_fake: int, cap: int, device: torch.device, cache: dict) -> tuple[torch.Tensor, int]:
    """A fixed uniform random subset of cap positions of a = [real (n_real), fake (n_fake)], drawn from each
    half in proportion with a private generator (no global RNG use), sorted; and its real count."""
    key = ("subset", n_real, n_fake, cap, str(device))
    if key not in cache:
        g = torch.Generator().manual_seed(n_real * 1_000_003 + n_fake)
        k_real = round(cap * n_real / (n_real + n_fake))
        real = torch.randperm(n_real, generator=g)[:k_real].sort().values
        fake = torch.randperm(n_fake, generator=g)[:cap - k_real].sort().values + n_real
        cache[key] = (torch.cat([real, fake]).to(device), k_real)
    return cache[key]


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
    return ginis(abs_flat([x]))[""].item()


def zero_frac(x: torch.Tensor) -> float:
    """Share of exact zeros in x."""
    _check(x, "zero_frac")
    return (x.numel() - torch.count_nonzero(x).item()) / x.numel()


def neg_frac(pre: torch.Tensor) -> float:
    """Share of pre-activation entries < 0."""
    _check(pre, "neg_frac")
    return torch.count_nonzero(pre < 0).item() / pre.numel()


def channel_max(pre: torch.Tensor) -> torch.Tensor:
    """Max over every dim but the channel dim 1: (N, C, ...) -> (C,)."""
    dims = [0] + list(range(2, pre.dim()))
    return pre.detach().amax(dim=dims)


def dead_frac(pre: torch.Tensor) -> float:
    """Share of channels of pre (N, C, H, W) or (N, C) that are < 0 at every position of every sample."""
    _check(pre, "dead_frac")
    return (channel_max(pre) < 0).to(F64).mean().item()
