"""A split held whole as one uint8 tensor (`ImageSet`), and the pixel scales images move between.

Models see data.range ([-1, 1] or [0, 1]); the quality classifier, sample grids and `gan sample` read [-1, 1]
(MEASURE_RANGE): `to_float` goes from bytes to a range, `to_measure` from a model's range to [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ImageSet:
    """A whole split: images uint8 (N, C, S, S) on the training device, labels int64 (N,)."""

    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int

    @property
    def nc(self) -> int:
        return self.images.shape[1]

    def __len__(self) -> int:
        return self.images.shape[0]


MEASURE_RANGE = (-1.0, 1.0)  # the scale of the quality classifier, sample grids and DCGAN's default data.range


def to_float(images: torch.Tensor, value_range: tuple[float, float] = MEASURE_RANGE) -> torch.Tensor:
    """uint8 [0, 255] -> float32 in `value_range` (data.range; same device)."""
    if tuple(value_range) == MEASURE_RANGE:
        return images.float().div_(127.5).sub_(1.0)  # the exact arithmetic every earlier run used
    lo, hi = value_range
    return images.float().mul_((hi - lo) / 255.0).add_(lo)


def to_measure(images: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """float images in `value_range` -> the same images in [-1, 1], where quality features and grids read them."""
    if tuple(value_range) == MEASURE_RANGE:
        return images
    lo, hi = value_range
    return (images - lo) * (2.0 / (hi - lo)) - 1.0


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255]."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
