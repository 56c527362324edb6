"""Is D over-strong? Pure statistics of D's logits on real training images, real held-out images and fakes.

    overfit_metrics(train_logits, held_logits, fake_logits)   # each (N,) -> {probe/overfit/r_t: ..., ...}

Definitions (docs/metrics.md "Over-strong D"); logits l = D(x) before the sigmoid, means over the samples:
- r_t = E[sign(l(x_train))]: the over-fitting heuristic of Karras et al. 2020 (ADA). 0: D undecided on the
  images it trains on; 1: it calls every one of them real. sign(0) = 0.
- r_v = (E[l(x_train)] - E[l(x_held)]) / (E[l(x_train)] - E[l(G(z))]): where held-out reals sit between training
  reals (0) and fakes (1) on D's logit scale (ADA's validation heuristic). NaN when the denominator is 0; it
  is not clipped (early in training, before D separates reals from fakes, it can be far from [0, 1]).
- heldout_gap = BCE(l(x_held), 1) - BCE(l(x_train), 1), each a mean over samples: how much worse D's real
  loss is on images it never trained on (> 0: D memorises its training images).
- saturated = 1 when D saturates on the probe batch (metric_keys.is_saturated, the one test, on mean
  sigmoid(l(x_train)) and mean sigmoid(l(G(z))); its thresholds: metric_keys.SATURATED_TEXT), else 0: D separates
  nearly perfectly. Its mean over a run's probes (summary.json mean/probe/overfit/saturated) is the share of
  probes with a saturated D.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gan.measure import metric_keys as mk


def overfit_metrics(train_logits: torch.Tensor, held_logits: torch.Tensor,
                    fake_logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """The four over-strong-D numbers (module docstring) as 0-d float64 tensors; inputs (N,) logits each."""
    t, h, f = (x.detach().to(torch.float64).flatten() for x in (train_logits, held_logits, fake_logits))
    denominator = t.mean() - f.mean()
    r_v = (t.mean() - h.mean()) / denominator if bool(denominator != 0) else torch.tensor(float("nan"), dtype=t.dtype)
    real = lambda x: F.binary_cross_entropy_with_logits(x, torch.ones_like(x))  # noqa: E731 - mean over samples
    saturated = mk.is_saturated(torch.sigmoid(t).mean(), torch.sigmoid(f).mean())  # the one test (metric_keys)
    return {mk.OVERFIT_R_T: torch.sign(t).mean(), mk.OVERFIT_R_V: r_v,
            mk.OVERFIT_HELDOUT_GAP: real(h) - real(t), mk.OVERFIT_SATURATED: torch.tensor(float(saturated),
                                                                                         dtype=torch.float64)}
