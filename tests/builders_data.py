"""Tiny dataset files in their real formats (IDX, CIFAR pickles), written by tests."""

from __future__ import annotations

import pickle
import struct

import numpy as np

IDX = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
       "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}

def write_idx(raw_dir, n=20, magic=2051, truncate=False):
    raw_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, (img_name, lbl_name) in IDX.items():
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[:, 0, 0] = np.arange(n)  # a marker to check order and padding
        labels = (np.arange(n) % 10).astype(np.uint8)
        img_bytes = struct.pack(">IIII", magic, n, 28, 28) + images.tobytes()
        if truncate:
            img_bytes = img_bytes[: len(img_bytes) // 2]
        (raw_dir / img_name).write_bytes(img_bytes)
        (raw_dir / lbl_name).write_bytes(struct.pack(">II", 2049, n) + labels.tobytes())
    return images, labels


def write_cifar(root, n=12, shape=(3072,)):
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(base / name, "wb") as f:
            pickle.dump({"data": data, "labels": [i % 10 for i in range(n)]}, f)
    with open(base / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, f)
    return data
