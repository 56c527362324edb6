"""The dataset a config names, behind one interface, whichever kind it is.

    split = load_split(cfg.data, train=True)   # ImageSet: uint8 (N, C, S, S), labels (-1 when unlabelled)
    nc = channels(cfg.data)                    # what G makes and D reads
    key = data_key(cfg.data)                   # names the feature networks cached for this data

Built-in datasets (mnist, fashion_mnist, cifar10, mnist5k, fake) are gan/data/builtin.py's; data.name=folder is
the folder or .zip at data.root (gan/data/folder.py), prepared once into a cache. A folder's cache and the
feature networks trained on it live in $GAN_CACHE_DIR, else data/.gan_cache under the working folder: never
inside the user's images (a .zip has no inside, a folder may be read-only).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch

from gan.config.datasets import FOLDER, builtin_dataset
from gan.config.schema import DataConfig
from gan.data import builtin
from gan.data.images import ImageSet
from gan.errors import UserError
from gan.files.layout import cache_dir

FOLDER_CACHE = "data/.gan_cache"  # relative to the working folder, as gan.files.layout.cache_dir("data")


def is_folder(cfg: DataConfig) -> bool:
    return cfg.name == FOLDER


def cache_root(cfg: DataConfig) -> Path:
    """Where the dataset's prepared files and its feature networks are cached."""
    return Path(os.environ.get("GAN_CACHE_DIR") or FOLDER_CACHE) if is_folder(cfg) else cache_dir(cfg.root)


def open_folder(cfg: DataConfig):
    """The prepared folder (gan.data.folder.FolderDataset): decoded on first use, then read from its cache.

    A run asks for it several times (channels, classes, the feature networks' key, each split); each time
    load_folder would list and stat every file to check the cache, so one process opens it once per state of the
    folder (`_fingerprint`) and reuses it."""
    root = Path(cfg.root).expanduser()
    if not root.exists():  # said in the config's words: the key to set
        raise UserError(f"data.root '{cfg.root}' does not exist; pass data.root=DIR with a folder of your images "
                        "or a .zip of them (data.name=folder)")
    requested = cfg.channels if cfg.channels == "auto" else int(cfg.channels)
    return _open_folder(str(cfg.root), cfg.image_size, requested, str(cache_root(cfg)), _fingerprint(root))


def _fingerprint(root: Path) -> tuple[int, ...]:
    """Cheap signs that a folder (or .zip) changed: the modification times of the path and of its first-level
    subfolders (a file added, removed or renamed there changes them). An image rewritten in place under the same
    name is seen by the next process, whose load_folder lists every file again."""
    try:
        subfolders = [e.stat().st_mtime_ns for e in os.scandir(root) if e.is_dir()] if root.is_dir() else []
        return (root.stat().st_mtime_ns, root.stat().st_size, *sorted(subfolders))
    except OSError:
        return ()  # unreadable: load_folder says so in one sentence


@functools.lru_cache(maxsize=4)
def _open_folder(root: str, image_size: int, channels: str | int, cache: str, fingerprint: tuple[int, ...]):
    from gan.data.folder import load_folder

    return load_folder(root, image_size, channels, cache_root=Path(cache))


def _builtin_channels(cfg: DataConfig) -> int:
    nc = builtin_dataset(cfg.name).channels
    if cfg.channels not in ("auto", str(nc)):
        raise UserError(f"data.channels={cfg.channels} does not apply to '{cfg.name}' (it has {nc} channel"
                        f"{'s' * (nc > 1)}); data.channels is for data.name=folder: leave it at auto")
    return nc


def channels(cfg: DataConfig) -> int:
    """Image channels of the data (1 or 3): a built-in dataset's own, a folder's as asked or as found."""
    if not is_folder(cfg):
        return _builtin_channels(cfg)
    return open_folder(cfg).channels if cfg.channels == "auto" else int(cfg.channels)


def num_classes(cfg: DataConfig) -> int:
    """Labelled classes (0: unlabelled, a flat folder)."""
    return open_folder(cfg).num_classes if is_folder(cfg) else builtin_dataset(cfg.name).classes


def data_key(cfg: DataConfig) -> str:
    """What feature-network cache files are named by: the dataset and size, and for a folder its contents' key
    (a folder that changed gets networks of its own)."""
    if is_folder(cfg):
        return f"folder-{open_folder(cfg).key[:16]}-{cfg.image_size}px"
    generated = not builtin_dataset(cfg.name).real  # `fake`: data.fake_size images, part of what it is
    name = f"{cfg.name}{cfg.fake_size}" if generated else cfg.name
    return f"{name}-{cfg.image_size}px"


def load_split(cfg: DataConfig, train: bool, device: str | torch.device = "cpu") -> ImageSet:
    """The whole train or held-out split at cfg.image_size, uint8 on `device` (a large prepared folder stays
    memory-mapped on the CPU)."""
    if not is_folder(cfg):
        _builtin_channels(cfg)
        return builtin.load_split(cfg, train, device)
    ds = open_folder(cfg)
    images, labels = (ds.train_images, ds.train_labels) if train else (ds.test_images, ds.test_labels)
    return ImageSet(images.to(device), labels.to(device), ds.num_classes)
