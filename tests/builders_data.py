"""Tiny dataset files in their real formats (IDX, CIFAR pickles, folders of PNGs), written by tests."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image

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


N = 48  # images per test folder (tests lower folder.MIN_IMAGES to 40; the real 400 is tested in test_folder_data.py)


def write_images(root: Path, n: int = N, labelled: bool = False, corrupt: int = 0) -> Path:
    """n 32x32 grey PNGs of a horizontal (class a) or vertical (class b) bar with noise; `corrupt` more broken ones."""
    rng = np.random.default_rng(0)
    for i in range(n):
        c = i % 2
        d = root / ("ab"[c] if labelled else "")
        d.mkdir(parents=True, exist_ok=True)
        x = rng.integers(0, 60, (32, 32))
        x[(slice(6, 26), slice(14, 18)) if c else (slice(14, 18), slice(6, 26))] = 255
        Image.fromarray(x.astype(np.uint8)).save(d / f"img{i:03d}.png")
    for i in range(corrupt):
        (root / f"broken{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return root
