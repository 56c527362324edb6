"""`gan data NAME [--root DIR] [--download]`: locate, prepare, optionally download, then verify a dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

from gan.config.schema import DATASETS
from gan.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("data", help="locate / prepare / download / verify a dataset")
    d.add_argument("name", choices=DATASETS, help="dataset")
    d.add_argument("--root", default="data", help="data directory (default: data)")
    d.add_argument("--download", action="store_true", help="allow downloading with torchvision")
    d.set_defaults(fn=run)


def run(a: argparse.Namespace) -> int:
    return prepare(a.name, a.root, download=a.download)


def prepare(name: str, root: str, download: bool = False) -> int:
    """Locate, prepare, optionally download, then verify that both splits load; print what was found."""
    import torch

    from gan.config.schema import DataConfig
    from gan.data.builtin import CHANNELS, load_split
    from gan.data.mnist5k import _mnist5k_csv

    cfg = DataConfig(name=name, root=root, download=download)
    if name not in CHANNELS:
        raise UserError(f"unknown dataset '{name}'; valid: {', '.join(CHANNELS)}")
    for train in (True, False):
        split = load_split(cfg, train)
        counts = torch.bincount(split.labels, minlength=split.num_classes).tolist()
        print(f"{name} {'train' if train else 'test'}: {len(split)} images {tuple(split.images.shape[1:])}, "
              f"per class {counts}, " + (f"from {_mnist5k_csv()} (cached under {Path(root).resolve()})"
                                         if name == "mnist5k" else f"under {Path(root).resolve()}"))
    return 0
