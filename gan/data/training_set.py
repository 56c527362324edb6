"""What G and D train on: the whole training split, or a fixed subset of it (data.train_size): class-stratified
when the data has labels, a seeded random choice when it has none (a flat folder)."""

from __future__ import annotations

import hashlib

import torch

from gan.config.schema import DataConfig
from gan.data.dataset import load_split
from gan.data.images import ImageSet
from gan.errors import UserError


SUBSET_SEED = 2024  # the data seed: independent of train.seed, so every run of a study sees the same N images


def stratified_subset(labels: torch.Tensor, n: int, num_classes: int, seed: int = SUBSET_SEED,
                      name: str = "dataset") -> torch.Tensor:
    """Sorted indices of n images, n / num_classes of each class, each class's share a seeded random choice.

    labels: int64 (N,). UserError when n is not a multiple of the classes or a class has too few images.
    """
    if n % num_classes:
        raise UserError(f"data.train_size={n} is not a multiple of the {num_classes} classes of '{name}'; "
                        f"pass a multiple such as {max(num_classes, n - n % num_classes)}")
    per_class = n // num_classes
    counts = torch.bincount(labels.cpu(), minlength=num_classes)
    if n > len(labels) or int(counts.min()) < per_class:
        raise UserError(f"data.train_size={n} asks for {per_class} images per class, but the training split of "
                        f"'{name}' has {len(labels)} images and its smallest class {int(counts.min())}; "
                        f"pass at most {num_classes * int(counts.min())}")
    g = torch.Generator().manual_seed(seed)
    chosen = [torch.nonzero(labels.cpu() == c).flatten()[torch.randperm(int(counts[c]), generator=g)[:per_class]]
              for c in range(num_classes)]
    return torch.cat(chosen).sort().values


def fixed_subset(n_images: int, n: int, seed: int = SUBSET_SEED, name: str = "dataset") -> torch.Tensor:
    """Sorted indices of n of n_images unlabelled images, a seeded random choice (the same for every train.seed)."""
    if n > n_images:
        raise UserError(f"data.train_size={n} is more than the {n_images} training images of '{name}'; "
                        f"pass at most {n_images}")
    return torch.randperm(n_images, generator=torch.Generator().manual_seed(seed))[:n].sort().values


def indices_hash(idx: torch.Tensor) -> str:
    """'sha256:<12 hex>' of int64 indices: two runs trained on the same images show the same hash."""
    return "sha256:" + hashlib.sha256(idx.to(torch.int64).cpu().numpy().tobytes()).hexdigest()[:12]


def content_hash(images: torch.Tensor) -> str:
    """'sha256:<12 hex>' of uint8 images (N, C, S, S) as trained on: their shape, then their bytes in order.

    Unlike `indices_hash`, it changes when the images behind the same indices change (a decoder, a resize,
    a package version): two runs that show the same content hash trained on the same pixels."""
    digest = hashlib.sha256(("x".join(map(str, images.shape)) + ";").encode())
    digest.update(images.detach().to("cpu", torch.uint8).contiguous().numpy().tobytes())
    return "sha256:" + digest.hexdigest()[:12]


def load_training_set(cfg: DataConfig, batch_size: int, device: str | torch.device = "cpu"
                      ) -> tuple[ImageSet, dict[str, object]]:
    """What G and D train on: the train split, or its data.train_size subset; and its record for summary.json
    ({"train_images": N, "train_hash": hash of the chosen indices, "train_content_hash": hash of their pixels}).
    The quality classifier and the test split never change with data.train_size: they are the instruments."""
    split = load_split(cfg, train=True, device=device)
    if cfg.train_size is None:
        idx = torch.arange(len(split))
    else:
        name = cfg.root if cfg.name == "folder" else cfg.name
        idx = (stratified_subset(split.labels, cfg.train_size, split.num_classes, name=name) if split.num_classes
               else fixed_subset(len(split), cfg.train_size, name=name))
        split = ImageSet(split.images[idx.to(split.images.device)].contiguous(),
                         split.labels[idx.to(split.labels.device)], split.num_classes)
    if len(split) < batch_size:
        subset = f" (data.train_size={cfg.train_size})" if cfg.train_size is not None else ""
        raise UserError(f"train.batch_size={batch_size} is larger than the dataset ({len(split)} training images"
                        f"{subset}); lower train.batch_size" + (" or raise data.train_size" if subset else ""))
    return split, {"train_images": len(split), "train_hash": indices_hash(idx),
                   "train_content_hash": content_hash(split.images)}
