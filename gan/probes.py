"""Gradient-sparsity and dead-unit probes: a `Probe` that hooks D and G and measures them with gan.sparsity
(the metric definitions live there).

`Probe(G, D, real, z).measure()` runs, on the fixed probe batch, the D loss (BCE-with-logits, real -> 1,
fake -> 0) and the non-saturating G loss (fake -> 1) with D and G in training mode, exactly as they train
(D sees the real and the fake batch in two forward calls, like `d_step`). Losses are summed over samples,
so gradients are per-sample gradients whatever the probe batch size. It returns `(scalars, histograms)`:

  probe/D/<layer>/<m>         D's ConvBlock <layer> (e.g. conv2) under the D loss, real + fake together;
                              m in neg_frac, dead_frac, grad_zero_frac, grad_hoyer, grad_gini,
                              param_grad_zero_frac ("grad" = dLoss/d(pre-activation); "param_grad" =
                              dLoss/d(the block's conv weight, the trainable tensor under spectral norm))
  probe/D/<split>/<layer>/<m> split in real, fake: the same but only that half of the batch
                              (every m except param_grad_zero_frac, which has no split)
  probe/D/<m>, probe/D/<split>/<m>   unweighted mean of the above over D's layers
                              grad_gini needs a sort: a D layer with more than GINI_MAX = 2^18 gradient
                              entries (real + fake) gets it from a fixed uniform random subset of that
                              many (drawn once, in proportion from each half; standard error ~0.001).
                              Every other metric is always exact; Probe(gini_max=None) makes Gini exact too.
  probe/G/<layer>/<m>, probe/G/<m>   G's ConvBlocks under the G loss: neg_frac, dead_frac, grad_zero_frac,
                              grad_hoyer (no split; no grad_gini and no weight gradient, to keep a probe
                              cheaper than 1.5 train steps)
  probe/input_grad/norm       mean over samples of the L2 norm of dL_G/dx at x = G(z) (per-sample loss)
  probe/input_grad/{hoyer,gini,zero_frac}   sparsity of dL_G/dx over the whole fake batch (exact)
  probe/loss/D, probe/loss/G  the two losses on the probe batch, averaged over samples as in training
  histograms: probe/input_grad/abs   |dL_G/dx| flattened, every k-th entry so at most `hist_max` values

Layer names are the ConvBlock names inside `.blocks` (D: conv1.., extra1..; G: block1..). The weight
gradient comes from the D loss, and `torch.autograd.grad` computes every gradient, so no `.grad` is written.
A probe leaves no trace: parameter .grad, requires_grad, train/eval flags, every buffer (BatchNorm running
stats, spectral-norm u/v) and the torch CPU/CUDA RNG states are exactly as before, and the hooks are removed,
even on an exception. A run with probes on is bit-identical to the same run with probes off.
SyncBatchNorm normalizes with this process's batch statistics during a probe (one rank measures; a
synchronizing forward on one rank alone would hang).
"""

from __future__ import annotations

import contextlib
import math
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from gan.sparsity import F64, abs_flat, channel_max, dense_stats, ginis, subset, zero_and_hoyer

GINI_MAX = 2 ** 18  # entries per D layer beyond which grad_gini is computed on a fixed subset (sort cost)
_LAYER_METRICS = ("neg_frac", "dead_frac", "grad_zero_frac", "grad_hoyer", "grad_gini", "param_grad_zero_frac")
_SPLITS = ("real", "fake")


def _unwrap(net: nn.Module) -> nn.Module:
    """The plain module under torch.compile (`_orig_mod`) and DDP (`module`) wrappers."""
    while not hasattr(net, "blocks"):
        inner = getattr(net, "_orig_mod", None) or getattr(net, "module", None)
        if inner is None:
            raise TypeError(f"{type(net).__name__} has no `.blocks` of ConvBlocks to probe")
        net = inner
    return net


def _blocks(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, ConvBlock) for every child of net.blocks that has `.conv` and `.act`."""
    return [(n, b) for n, b in net.blocks.named_children() if hasattr(b, "act") and hasattr(b, "conv")]


def _weight(conv: nn.Module) -> torch.Tensor:
    """The trainable weight tensor of a conv (the `original` under a spectral-norm parametrization)."""
    if hasattr(conv, "parametrizations") and "weight" in conv.parametrizations:
        return conv.parametrizations.weight.original
    if hasattr(conv, "weight_orig"):  # the older torch.nn.utils.spectral_norm
        return conv.weight_orig
    return conv.weight


@contextlib.contextmanager
def _untouched(nets: tuple[nn.Module, ...]) -> Iterator[None]:
    """Put nets in training mode with every parameter requiring grad; restore everything on exit."""
    modules = [m for net in nets for m in net.modules()]
    params = [p for net in nets for p in net.parameters()]
    buffers = [b for net in nets for b in net.buffers()]
    modes = [m.training for m in modules]
    flags = [(p.requires_grad, p.grad) for p in params]
    saved = [b.detach().clone() for b in buffers]
    cuda = {b.device for b in buffers + params if b.device.type == "cuda"}
    rng_cpu = torch.get_rng_state()
    rng_cuda = {d: torch.cuda.get_rng_state(d) for d in cuda}
    sync_bns = [m for m in modules if isinstance(m, nn.SyncBatchNorm) and "forward" not in m.__dict__]
    try:
        for m in sync_bns:  # local batch statistics: only this process runs the probe
            m.forward = _BatchNorm.forward.__get__(m)
        for m in modules:
            m.training = True
        for p in params:
            p.requires_grad_(True)
        yield
    finally:
        with torch.no_grad():
            for b, s in zip(buffers, saved):
                b.copy_(s)
        for m, mode in zip(modules, modes):
            m.training = mode
        for m in sync_bns:
            del m.forward
        for p, (req, grad) in zip(params, flags):
            p.requires_grad_(req)
            p.grad = grad
        torch.set_rng_state(rng_cpu)
        for d, state in rng_cuda.items():
            torch.cuda.set_rng_state(state, d)


@contextlib.contextmanager
def _capture(blocks: list[tuple[str, nn.Module]]) -> Iterator[dict[str, list[torch.Tensor]]]:
    """name -> pre-activations (the `.act` inputs), one tensor per forward call; hooks removed on exit."""
    store: dict[str, list[torch.Tensor]] = {name: [] for name, _ in blocks}
    handles = [b.act.register_forward_pre_hook(lambda _m, args, name=name: store[name].append(args[0]))
               for name, b in blocks]
    try:
        yield store
    finally:
        for h in handles:
            h.remove()


def _layer(pres: list[torch.Tensor], grads: list[torch.Tensor | None], cache: dict,
           gini_max: int | None = None, ranked: bool = True) -> dict[str, dict]:
    """Metrics of one layer: scope -> metric -> 0-d tensor. pres/grads: one (pre-activation, dLoss/dpre)
    pair, or the real and the fake pair (scopes "", "real", "fake"; "" is both halves together).
    grad_gini uses a fixed subset of gini_max entries when there are more; ranked=False leaves it out."""
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(pres, grads)]
    a = abs_flat(grads)  # |dLoss/dpre| of every part, concatenated: (n,)
    sizes = [g.numel() for g in grads]
    halves = [a[:sizes[0]], a[sizes[0]:]] if len(grads) == 2 else [a]
    dense = [dense_stats(h) for h in halves]
    negs = [torch.count_nonzero(p.detach() < 0) for p in pres]
    cmaxs = [channel_max(p) for p in pres]
    parts = {"": (sum(negs), torch.stack(cmaxs).amax(0), {k: sum(d[k] for d in dense) for k in dense[0]})}
    if len(grads) == 2:
        parts.update({"real": (negs[0], cmaxs[0], dense[0]), "fake": (negs[1], cmaxs[1], dense[1])})
    scope_ginis = {}
    if ranked:
        split = sizes[0] if len(grads) == 2 else None
        if gini_max is not None and a.numel() > gini_max:
            index, split_s = subset(sizes[0], a.numel() - sizes[0], gini_max, a.device, cache)
            scope_ginis = ginis(a[index], split_s if split is not None else None, cache)
        else:
            scope_ginis = ginis(a, split, cache)
    out = {}
    for scope, (neg, cmax, st) in parts.items():
        zero_t, hoyer_t = zero_and_hoyer(st)
        out[scope] = {"neg_frac": neg.to(F64) / st["n"], "dead_frac": (cmax < 0).to(F64).mean(),
                      "grad_zero_frac": zero_t, "grad_hoyer": hoyer_t}
        if scope in scope_ginis:
            out[scope]["grad_gini"] = scope_ginis[scope]
    return out


def _param_zero_frac(w_grad: torch.Tensor | None, w: torch.Tensor) -> torch.Tensor:
    """Share of exact zeros in a weight gradient (all of it when the loss does not reach the weight)."""
    if w_grad is None:
        return torch.ones((), dtype=F64, device=w.device)
    return (w_grad.numel() - torch.count_nonzero(w_grad)).to(F64) / w_grad.numel()


class Probe:
    """Measures gradient sparsity and dead units of D and G on a fixed probe batch.

    real: float (B, nc, S, S) in [-1, 1]; z: (B, nz, 1, 1), the fixed z_probe. Build once per run, then
    call `measure()` on probe steps. autocast_dtype (e.g. torch.bfloat16) runs the forward passes under
    autocast like a bf16 training run; metrics are always computed in float32/float64. gini_max: a D
    layer's grad_gini (real and fake together) is computed on a fixed uniform subset of this many entries
    when the layer has more (None: always exact); hist_max: most values in a histogram.
    """

    def __init__(self, G: nn.Module, D: nn.Module, real: torch.Tensor, z: torch.Tensor, *,
                 autocast_dtype: torch.dtype | None = None, gini_max: int | None = GINI_MAX,
                 hist_max: int = 65536):
        self.G, self.D = _unwrap(G), _unwrap(D)
        self.real, self.z = real.detach(), z.detach()
        self.autocast_dtype = autocast_dtype
        self.gini_max, self.hist_max = gini_max, hist_max
        self._cache: dict = {}  # rank vectors and Gini subsets per tensor size (sizes are fixed for a run)

    def measure(self) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
        """One probe: (scalars keyed as in the module docstring, histogram values as 1-D CPU tensors)."""
        captured = self._gradients()
        with torch.no_grad():
            return self._summarize(captured)

    def _gradients(self) -> dict:
        """Both losses on the probe batch and the gradients the metrics need (hooks only live in here)."""
        G, D = self.G, self.D
        d_blocks, g_blocks = _blocks(D), _blocks(G)
        amp = (torch.autocast(self.real.device.type, dtype=self.autocast_dtype) if self.autocast_dtype
               else contextlib.nullcontext())
        with _untouched((G, D)), torch.enable_grad(), _capture(d_blocks) as d_pre, _capture(g_blocks) as g_pre:
            with amp:
                fake = G(self.z)  # (B, nc, S, S); kept in the graph for dL_G/dx and G's layers
                logit_real, logit_fake = D(self.real).float(), D(fake).float()  # (B,), (B,): two calls, as d_step
            loss_d = (F.binary_cross_entropy_with_logits(logit_real, torch.ones_like(logit_real), reduction="sum")
                      + F.binary_cross_entropy_with_logits(logit_fake, torch.zeros_like(logit_fake), reduction="sum"))
            loss_g = F.binary_cross_entropy_with_logits(logit_fake, torch.ones_like(logit_fake), reduction="sum")

            # (1) D loss -> D's pre-activations (real call, fake call) and D's conv weights; .grad untouched
            pre_r = [d_pre[n][0] for n, _ in d_blocks]
            pre_f = [d_pre[n][1] for n, _ in d_blocks]
            w_d = [_weight(b.conv) for _, b in d_blocks]
            k = len(d_blocks)
            grads = torch.autograd.grad(loss_d, pre_r + pre_f + w_d, retain_graph=True, allow_unused=True)
            d_layers = {name: ([pre_r[i], pre_f[i]], [grads[i], grads[k + i]], grads[2 * k + i], w_d[i])
                        for i, (name, _) in enumerate(d_blocks)}

            # (2) G loss -> the images x = G(z) and G's pre-activations
            pre_g = [g_pre[n][0] for n, _ in g_blocks]
            grads = torch.autograd.grad(loss_g, [fake] + pre_g, allow_unused=True)
            g_layers = {name: ([pre_g[i]], [grads[1 + i]]) for i, (name, _) in enumerate(g_blocks)}
        n = logit_real.numel()
        return {"D": d_layers, "G": g_layers, "x_grad": grads[0].detach(),
                "loss/D": loss_d.detach() / n, "loss/G": loss_g.detach() / n}

    def _summarize(self, cap: dict) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
        """Scalars (one host sync for all of them) and histograms from what _gradients captured."""
        out = {"probe/loss/D": cap["loss/D"], "probe/loss/G": cap["loss/G"]}
        layers: dict[str, dict[str, dict]] = {"D": {}, "G": {}}  # net -> layer -> scope -> metric -> 0-d tensor
        for name, (pres, grads, w_grad, w) in cap["D"].items():
            layers["D"][name] = _layer(pres, grads, self._cache, self.gini_max)
            layers["D"][name][""]["param_grad_zero_frac"] = _param_zero_frac(w_grad, w)
        for name, (pres, grads) in cap["G"].items():
            layers["G"][name] = _layer(pres, grads, self._cache, ranked=False)
        for net, per_layer in layers.items():
            for scope in ("", *_SPLITS):
                prefix = f"probe/{net}/{scope}/" if scope else f"probe/{net}/"
                rows = [m[scope] for m in per_layer.values() if scope in m]
                for name, m in per_layer.items():
                    if scope in m:
                        out.update({f"{prefix}{name}/{key}": v for key, v in m[scope].items()})
                for key in _LAYER_METRICS:
                    if rows and key in rows[0]:
                        out[f"{prefix}{key}"] = torch.stack([r[key] for r in rows]).mean()

        g_x = cap["x_grad"]  # dL_G/dx, (B, nc, S, S)
        a = abs_flat([g_x])
        zero_t, hoyer_t = zero_and_hoyer(dense_stats(a))
        gini_t = ginis(a, None, self._cache)[""]  # (B * nc * S * S) entries: small, always exact
        per_sample = torch.linalg.vector_norm(g_x.float(), 2, dim=tuple(range(1, g_x.dim())), dtype=F64)  # (B,)
        out.update({"probe/input_grad/norm": per_sample.mean(), "probe/input_grad/hoyer": hoyer_t,
                    "probe/input_grad/gini": gini_t, "probe/input_grad/zero_frac": zero_t})
        hist = {"probe/input_grad/abs": a[::max(1, math.ceil(a.numel() / self.hist_max))].cpu()}
        keys = list(out)
        values = torch.stack([out[k].to(F64) for k in keys]).tolist()
        return dict(zip(keys, values)), hist
