"""Seeded epochs of shuffled batches sliced from a device-resident uint8 split: no per-image PIL work."""

from __future__ import annotations

import torch

from gan.data.images import MEASURE_RANGE, to_float
from gan.errors import UserError


class BatchStream:
    """Seeded epochs of shuffled batches (drop-last) sliced from a device-resident uint8 split.

    The permutation of epoch e is a pure function of (seed, e), so the whole stream state is
    (epoch, position): a resumed run draws exactly the batches it would have drawn.
    Under DDP each rank takes its slice [rank::world] of every global batch.
    """

    def __init__(self, images: torch.Tensor, batch_size: int, seed: int, rank: int = 0, world: int = 1,
                 value_range: tuple[float, float] = MEASURE_RANGE):
        if batch_size > len(images):
            raise UserError(f"train.batch_size={batch_size} is larger than the dataset ({len(images)} images); "
                            "lower train.batch_size")
        self.images, self.batch_size, self.seed = images, batch_size, seed
        self.rank, self.world, self.value_range = rank, world, tuple(value_range)
        self.epoch, self.position = 0, 0
        self._perm: torch.Tensor | None = None

    def _permutation(self) -> torch.Tensor:
        if self._perm is None:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            self._perm = torch.randperm(len(self.images), generator=g).to(self.images.device)
        return self._perm

    def next(self) -> torch.Tensor:
        """float (B / world, C, S, S) in data.range."""
        if self.position + self.batch_size > len(self.images):
            self.epoch, self.position, self._perm = self.epoch + 1, 0, None
        idx = self._permutation()[self.position:self.position + self.batch_size]
        self.position += self.batch_size
        return to_float(self.images[idx[self.rank::self.world]], self.value_range)

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.position, self._perm = int(state["epoch"]), int(state["position"]), None
