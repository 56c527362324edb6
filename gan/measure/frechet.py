"""The Frechet distance between two sets of features (torchmetrics' FID math), and what the quality metrics
hand torchmetrics so that it computes on features extracted once, by us, on this rank alone.

    d = frechet_distance(real, fake)   # float (N, D) features -> ||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r S_f)^1/2)

Below gan/measure/quality.py (which scores samples with it) and gan/measure/rotation_features.py (which ranks
blurred and noisy images with it), so that neither imports the other.
"""

from __future__ import annotations

import torch
import torch.nn as nn

# Under torchrun only rank 0 evaluates: torchmetrics' compute() would all-gather its state across ranks and
# wait for peers that never call it (gloo: "Connection closed by peer"). The metrics here are rank-local.
RANK_LOCAL = {"sync_on_compute": False, "dist_sync_on_step": False}


class Given(nn.Module):
    """A torchmetrics "feature network" that returns its input: features are extracted once, by us."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r S_f)^1/2) of features (N, D) (torchmetrics FID)."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    fid = FrechetInceptionDistance(feature=Given(real.shape[1]), **RANK_LOCAL)
    fid.update(real, real=True)
    fid.update(fake, real=False)
    return float(fid.compute())
