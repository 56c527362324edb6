"""Gradient-sparsity and dead-unit probes: a `Probe` that hooks D and G and measures them with gan.measure.sparsity
(the metric definitions live there).

`Probe(G, D, real, z).measure()` runs, on the fixed probe batch, the D loss (BCE-with-logits, real -> 1,
fake -> 0) and the non-saturating G loss (fake -> 1) with D and G in training mode, exactly as they train
(D sees the real and the fake batch in two forward calls, like `d_step`). Losses are summed over samples,
so gradients are per-sample gradients whatever the probe batch size. It returns `(scalars, histograms)`:

  probe/D/<layer>/<m>         D's ConvBlock <layer> (e.g. conv2) under the D loss, real + fake together;
                              "grad" = dLoss/d(pre-activation); "param_grad" = dLoss/d(the block's conv
                              weight, the trainable tensor under spectral norm). Training view (D in train
                              mode, as a training step sees it):
                              neg_frac              share of pre-activation entries <= 0
                              dead_frac             share of channels <= 0 at every position of every sample
                                                    of both calls (primary metric of claim 3)
                              grad_hoyer, grad_gini sparsity of dLoss/dpre per sample, then the mean over samples
                              grad_zero_frac        share of exact zeros in dLoss/dpre. Descriptive only: under
                                                    ReLU it is neg_frac by construction, under LeakyReLU 0
                              param_grad_zero_frac  share of exact zeros in the weight gradient
  probe/D/<split>/<layer>/<m> split in real, fake: the same but only that call (every m except
                              param_grad_zero_frac, which has no split)
  probe/D/<layer>/dead_frac_eval   data view: D in eval mode (BatchNorm running statistics) over a fixed
                              held-out set (HELD_OUT = 1024 real test images and 1024 fakes G(z_held), G as it
                              trains), in chunks, forward passes only; share of channels <= 0 everywhere on all
                              of them (the classic "dying ReLU"). Only on probes called with data_view=True
                              (see `data_view_due`) and when the Probe was given the held-out set.
  probe/D/<m>, probe/D/<split>/<m>   unweighted mean of the above over D's layers
                              grad_gini needs a sort: when a D layer's gradient (real + fake) has more than
                              GINI_MAX = 2^16 entries, each sample's Gini comes from a fixed uniform random
                              subset of GINI_MAX / (2 B) of its positions (drawn once per sample). Every other
                              metric is exact; Probe(gini_max=None) makes Gini exact.
  probe/G/<layer>/<m>, probe/G/<m>   G's ConvBlocks under the G loss: neg_frac, dead_frac, grad_zero_frac,
                              grad_hoyer (no split; no grad_gini and no weight gradient, to keep a probe cheap)
  probe/input_grad/...        what G receives: g_i = dL_G/dx at x_i = G(z_i), per fake sample i
                              norm        mean over samples of |g_i|_2 (per-sample loss)
                              norm_cv     population SD / mean of the |g_i|_2
                              starved_frac share of samples with |g_i|_2 < STARVED_REL = 1% of the batch median
                              hoyer, gini per sample, then the mean (hoyer: primary metric of claim 1)
                              hoyer_pooled, gini_pooled   over the whole batch at once (the pre-issue-14
                                          definition; it also grows with how unequal the norms are)
                              zero_frac   share of exact zeros over the batch. Descriptive only (~0 always)
  probe/loss/D, probe/loss/G  the two losses on the probe batch, averaged over samples as in training
  probe/overfit/...           is D over-strong (definitions: gan/measure/overfit.py): r_t, r_v, heldout_gap, saturated,
                              from D's logits on the Probe's `train_real` (fixed real training images), the probe
                              batch's real test images (held out) and G(z_probe); D and G in train mode, one
                              forward call per set (as d_step), forward passes only. Only when given train_real.
  histograms: probe/input_grad/abs   |dL_G/dx| flattened, every k-th entry so at most `hist_max` values

Layer names are the ConvBlock names inside `.blocks` (D: conv1.., extra1..; G: block1..). The weight
gradient comes from the D loss, and `torch.autograd.grad` computes every gradient, so no `.grad` is written.
A probe leaves no trace: parameter .grad, requires_grad, train/eval flags, every buffer (BatchNorm running
stats, spectral-norm u/v) and the torch CPU/CUDA RNG states are exactly as before, and the hooks are removed,
even on an exception. A run with probes on is bit-identical to the same run with probes off. BatchNorm is
the plain per-process kind during a probe (gan.train.distributed's SyncBatchNorm2d only syncs inside training steps).
"""

from __future__ import annotations

import contextlib
import math
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from gan.measure import metric_keys as mk
from gan.measure.overfit import overfit_metrics
from gan.measure.sparsity import (F64, abs_flat, channel_max, dense_stats, gini_rows, hoyer_rows, norm_cv,
                          positions, rows, starved_frac, zero_and_hoyer)

GINI_MAX = 2 ** 16  # entries per D layer beyond which grad_gini uses a fixed subset (the sort is most of the metric cost)
HELD_OUT = 1024  # real test images and fixed-noise fakes (each) of the data view (dead_frac_eval)
DATA_VIEW_EVERY = 20  # the data view runs on every DATA_VIEW_EVERY-th probe and on a run's last probe
_LAYER_METRICS, _SPLITS = mk.LAYER_METRICS, mk.SPLITS


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
    try:
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
    """Metrics of one layer: scope -> metric -> 0-d tensor. pres/grads: one (pre-activation (B, C, H, W),
    dLoss/dpre) pair, or the real and the fake pair (scopes "", "real", "fake"; "" is both calls together).
    grad_gini uses a fixed subset of each sample's positions when the layer has more than gini_max entries;
    ranked=False leaves it out."""
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(pres, grads)]
    g_rows = [rows(g.detach()) for g in grads]  # (B, M) per call, each sample's entries in memory order
    sizes = [r.shape[0] for r in g_rows]
    hoyers = [hoyer_rows(r) for r in g_rows]  # (B,) per call
    zeros = [r.numel() - torch.count_nonzero(r) for r in g_rows]
    negs = [torch.count_nonzero(p.detach() <= 0) for p in pres]  # 0 counts as off: ReLU'(0) = 0
    cmaxs = [channel_max(p) for p in pres]  # (C,) per call
    gini_parts: list[torch.Tensor] = []
    if ranked:
        n, m = sum(sizes), g_rows[0].shape[1]
        if gini_max is not None and n * m > gini_max:  # each sample keeps its own fixed gini_max // n positions
            index = positions(n, m, max(1, gini_max // n), g_rows[0].device, cache).split(sizes)
            g_rows = [r.gather(1, i) for r, i in zip(g_rows, index)]
        a = torch.cat(g_rows) if len(g_rows) > 1 else g_rows[0]  # (2B, M') or (B, M')
        gini_parts = list(gini_rows(a.to(F64 if a.dtype == F64 else torch.float32).abs(), cache).split(sizes))
    n_all = float(sum(p.numel() for p in pres))
    parts = {"": (sum(negs), n_all, torch.stack(cmaxs).amax(0), sum(zeros), torch.cat(hoyers),
                  torch.cat(gini_parts) if gini_parts else None)}
    if len(grads) == 2:
        for i, scope in enumerate(_SPLITS):
            parts[scope] = (negs[i], float(pres[i].numel()), cmaxs[i], zeros[i], hoyers[i],
                            gini_parts[i] if gini_parts else None)
    out = {}
    for scope, (neg, n, cmax, zero, hoyer_s, gini_s) in parts.items():
        out[scope] = {"neg_frac": neg.to(F64) / n, "dead_frac": (cmax <= 0).to(F64).mean(),
                      "grad_zero_frac": zero.to(F64) / n, "grad_hoyer": hoyer_s.mean()}
        if gini_s is not None:
            out[scope]["grad_gini"] = gini_s.mean()
    return out


def _param_zero_frac(w_grad: torch.Tensor | None, w: torch.Tensor) -> torch.Tensor:
    """Share of exact zeros in a weight gradient (all of it when the loss does not reach the weight)."""
    if w_grad is None:
        return torch.ones((), dtype=F64, device=w.device)
    return (w_grad.numel() - torch.count_nonzero(w_grad)).to(F64) / w_grad.numel()


def data_view_due(step: int, probe_every: int, steps: int) -> bool:
    """Whether the probe at `step` also runs the data view: every DATA_VIEW_EVERY-th probe and the run's last
    one (a function of the step only, so a resumed run measures at the same steps as a straight one)."""
    return (step // probe_every) % DATA_VIEW_EVERY == 0 or step + probe_every > steps


class Probe:
    """Measures gradient sparsity and dead units of D and G on a fixed probe batch.

    real: float (B, nc, S, S) in [-1, 1]; z: (B, nz, 1, 1), the fixed z_probe. held_real (N, nc, S, S) and
    held_z (M, nz, 1, 1): the fixed held-out set of the data view (dead_frac_eval; None: no data view), held
    here so each probe costs forward passes only, in chunks of B. train_real (B', nc, S, S): fixed real training
    images for the over-strong-D probes (None: those probes are off). Build once per run, then call `measure()`
    on probe steps. autocast_dtype (e.g. torch.bfloat16) runs the forward passes under autocast like a bf16
    training run; metrics are always computed in float32/float64. gini_max: a D layer's grad_gini (real and
    fake together) uses a fixed subset of each sample's positions when the layer has more entries than this
    (None: always exact); hist_max: most values in a histogram.
    """

    def __init__(self, G: nn.Module, D: nn.Module, real: torch.Tensor, z: torch.Tensor, *,
                 held_real: torch.Tensor | None = None, held_z: torch.Tensor | None = None,
                 train_real: torch.Tensor | None = None, autocast_dtype: torch.dtype | None = None, gini_max: int | None = GINI_MAX,
                 hist_max: int = 65536):
        self.G, self.D = _unwrap(G), _unwrap(D)
        self.real, self.z = real.detach(), z.detach()
        self.held = None if held_real is None or held_z is None else (held_real.detach(), held_z.detach())
        self.train_real = None if train_real is None else train_real.detach()
        self.autocast_dtype = autocast_dtype
        self.gini_max, self.hist_max = gini_max, hist_max
        self._cache: dict = {}  # rank vectors and Gini positions per tensor size (sizes are fixed for a run)

    def measure(self, data_view: bool = True) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
        """One probe: (scalars keyed as in the module docstring, histogram values as 1-D CPU tensors).
        data_view=False skips the held-out pass (dead_frac_eval) on this call."""
        dead_eval = self._dead_eval() if data_view and self.held is not None else {}
        overfit = self._overfit() if self.train_real is not None else {}
        captured = self._gradients()
        with torch.no_grad():
            return self._summarize(captured, dead_eval, overfit)

    def _amp(self) -> contextlib.AbstractContextManager:
        return (torch.autocast(self.real.device.type, dtype=self.autocast_dtype) if self.autocast_dtype
                else contextlib.nullcontext())

    def _dead_eval(self) -> dict[str, torch.Tensor]:
        """Data view: layer -> share of D's channels <= 0 everywhere on the held-out set, D in eval mode
        (BatchNorm running statistics), G as it trains (batch statistics, like gan.nets.sampling.generate)."""
        G, D = self.G, self.D
        held_real, held_z = self.held
        cmax: dict[str, torch.Tensor] = {}  # layer -> (C,) running max of the pre-activation over all inputs

        def keep_max(name: str, pre: torch.Tensor) -> None:
            m = channel_max(pre)
            cmax[name] = m if name not in cmax else torch.maximum(cmax[name], m)

        blocks = _blocks(D)
        handles = [b.act.register_forward_pre_hook(lambda _m, args, name=name: keep_max(name, args[0]))
                   for name, b in blocks]
        chunk = len(self.z)
        try:
            with _untouched((G, D)), torch.no_grad(), self._amp():
                D.eval()  # (_untouched restores every mode)
                for x in held_real.split(chunk):  # (chunk, nc, S, S)
                    D(x)
                for z in held_z.split(chunk):  # (chunk, nz, 1, 1)
                    D(G(z))
        finally:
            for h in handles:
                h.remove()
        return {name: (cmax[name] <= 0).to(F64).mean() for name, _ in blocks}

    def _overfit(self) -> dict[str, torch.Tensor]:
        """D's logits on training reals, held-out reals (the probe batch's test images) and fakes, one forward
        call each, D and G in train mode as a D step runs them (BatchNorm on each call's batch statistics)."""
        with _untouched((self.G, self.D)), torch.no_grad(), self._amp():
            fake = self.G(self.z)  # (B, nc, S, S)
            logits = [self.D(x).float() for x in (self.train_real, self.real, fake)]  # 3 x (B,)
        return overfit_metrics(*logits)

    def _gradients(self) -> dict:
        """Both losses on the probe batch and the gradients the metrics need (hooks only live in here)."""
        G, D = self.G, self.D
        d_blocks, g_blocks = _blocks(D), _blocks(G)
        amp = self._amp()
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
                mk.LOSS_D: loss_d.detach() / n, mk.LOSS_G: loss_g.detach() / n}

    def _summarize(self, cap: dict, dead_eval: dict[str, torch.Tensor], overfit: dict[str, torch.Tensor]
                   ) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
        """Scalars (one host sync for all of them) and histograms from what _gradients, _dead_eval and _overfit
        found."""
        out = {mk.PROBE_LOSS_D: cap[mk.LOSS_D], mk.PROBE_LOSS_G: cap[mk.LOSS_G], **overfit}
        layers: dict[str, dict[str, dict]] = {"D": {}, "G": {}}  # net -> layer -> scope -> metric -> 0-d tensor
        for name, (pres, grads, w_grad, w) in cap["D"].items():
            layers["D"][name] = _layer(pres, grads, self._cache, self.gini_max)
            layers["D"][name][""]["param_grad_zero_frac"] = _param_zero_frac(w_grad, w)
            if name in dead_eval:
                layers["D"][name][""]["dead_frac_eval"] = dead_eval[name]
        for name, (pres, grads) in cap["G"].items():
            layers["G"][name] = _layer(pres, grads, self._cache, ranked=False)
        for net, per_layer in layers.items():
            for scope in ("", *_SPLITS):
                split = scope or None
                found = [m[scope] for m in per_layer.values() if scope in m]
                for name, m in per_layer.items():
                    if scope in m:
                        out.update({mk.probe(net, key, name, split): v for key, v in m[scope].items()})
                for key in _LAYER_METRICS:
                    if found and key in found[0]:
                        out[mk.probe(net, key, split=split)] = torch.stack([r[key] for r in found]).mean()

        g_x = cap["x_grad"]  # dL_G/dx, (B, nc, S, S)
        a = abs_flat([g_x])  # (B * nc * S * S,) sample-major: small, so every figure here is exact
        zero_t, hoyer_pooled = zero_and_hoyer(dense_stats(a))
        norms = torch.linalg.vector_norm(rows(g_x), 2, dim=1, dtype=F64)  # (B,) per-sample |dL_G/dx|_2
        out.update({mk.IG_NORM: norms.mean(), mk.IG_NORM_CV: norm_cv(norms),
                    mk.IG_STARVED_FRAC: starved_frac(norms),
                    mk.IG_HOYER: hoyer_rows(rows(g_x)).mean(),
                    mk.IG_GINI: gini_rows(a.view(len(g_x), -1), self._cache).mean(),
                    mk.IG_HOYER_POOLED: hoyer_pooled,
                    mk.IG_GINI_POOLED: gini_rows(a.view(1, -1), self._cache)[0],
                    mk.IG_ZERO_FRAC: zero_t})
        hist = {mk.IG_ABS: a[::max(1, math.ceil(a.numel() / self.hist_max))].cpu()}
        keys = list(out)
        values = torch.stack([out[k].to(F64) for k in keys]).tolist()
        return dict(zip(keys, values)), hist
