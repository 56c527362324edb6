"""The real-image corruptions the measurements compare against: the feature sanity ranking (real < blurred < noise,
gan/measure/rotation_features.py) and the real-data floor's anchor for "far from the data" (gan/measure/quality.py).

    x_blurred = blur_sigma1(x)   # float (N, C, S, S) -> the same shape, Gaussian blur sigma 1, 7x7 kernel

Below both users, so that neither imports the other for it.
"""

from __future__ import annotations

import torch
from torchvision.transforms.functional import gaussian_blur

BLUR_SIGMA1 = {"kernel_size": 7, "sigma": 1.0}  # the feature sanity check's mildest corruption, and the floor's anchor


def blur_sigma1(x: torch.Tensor) -> torch.Tensor:
    """Float images (N, C, S, S) blurred with a Gaussian of sigma 1 (7x7 kernel): real images anyone would call
    near the data (gan/measure/rotation_features.py's sanity ranking; the real-data floor's anchor)."""
    return gaussian_blur(x, **BLUR_SIGMA1)
