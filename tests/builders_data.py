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


def _rgba(w: int, h: int, colour: tuple[int, int, int], box: tuple[int, int, int, int] | None = None) -> Image.Image:
    """A w x h RGBA image: transparent black (0, 0, 0, 0) with an opaque rectangle of `colour` in `box`."""
    x = np.zeros((h, w, 4), np.uint8)
    x0, y0, x1, y1 = box or (w // 4, h // 4, 3 * w // 4, 3 * h // 4)
    x[y0:y1, x0:x1] = (*colour, 255)
    return Image.fromarray(x, "RGBA")


def write_clipart(root: Path) -> Path:
    """openclipart-png's layout in little: ROOT/<category>/**/*.png, most with alpha, 3 categories. With
    --min-images 3 the expected build is animals 3, food 4; art (2: brush, shared) is dropped, and then its
    shared.png (the same pixels as food/shared.png) stays in food; food/apple_copy.png (a byte copy) is removed;
    skipped: a fully transparent image, a corrupt file, a 20 px image, a loose file in ROOT, one file each in the
    excluded shapes/stars and unsorted. With --min-images 1: animals 3, art 2, food 3 (shared kept in art)."""
    shapes = {"animals/cat.png": _rgba(64, 64, (255, 0, 0)),  # red square on transparent black
              "animals/dog.png": _rgba(80, 80, (0, 0, 255), (10, 10, 30, 70)),
              "animals/tiny.png": _rgba(20, 20, (0, 90, 90)),
              "art/brush.png": _rgba(70, 70, (128, 128, 128), (5, 5, 20, 60)),
              "art/shared.png": _rgba(64, 64, (200, 200, 0)),
              "food/apple.png": _rgba(100, 100, (0, 160, 0), (0, 0, 50, 50)),
              "food/pear.png": _rgba(60, 60, (120, 60, 0), (30, 0, 60, 60)),
              "food/plum.png": _rgba(90, 90, (90, 0, 90), (20, 20, 40, 80)),
              "food/shared.png": _rgba(64, 64, (200, 200, 0)),
              "food/clear.png": Image.fromarray(np.zeros((50, 50, 4), np.uint8), "RGBA"),  # nothing drawn
              "loose.png": _rgba(64, 64, (1, 2, 3)),
              "shapes/stars/star_05pt02step.png": _rgba(64, 64, (50, 50, 50)),
              "unsorted/thing.png": _rgba(64, 64, (9, 9, 9))}
    # 192 x 64, opaque: blue | green | blue thirds; the centred square is the green third
    wide = np.zeros((64, 192, 3), np.uint8)
    wide[:, :64, 2] = wide[:, 128:, 2] = 255
    wide[:, 64:128, 1] = 255
    shapes["animals/birds/owl.png"] = Image.fromarray(wide, "RGB")
    for rel, im in shapes.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        im.save(root / rel)
    (root / "food" / "apple_copy.png").write_bytes((root / "food" / "apple.png").read_bytes())
    (root / "food" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return root


def write_fonts(root: Path) -> Path:
    """A font folder from the TTF files matplotlib ships (no apt needed): three DejaVu faces with A-J, a byte copy
    of one (10 exact duplicates), a link to one (read once), a STIX size-variant font without Unicode A-J, a
    corrupt .ttf and a text file."""
    import matplotlib

    ttf = Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf"
    root.mkdir(parents=True, exist_ok=True)
    for name in ("DejaVuSans.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSansMono-Oblique.ttf", "STIXSizOneSymReg.ttf"):
        (root / name).write_bytes((ttf / name).read_bytes())
    (root / "copy").mkdir()
    (root / "copy" / "SansAgain.ttf").write_bytes((ttf / "DejaVuSans.ttf").read_bytes())
    (root / "link.ttf").symlink_to(root / "DejaVuSans.ttf")
    (root / "broken.ttf").write_bytes(b"\x00\x01\x00\x00 not a font")
    (root / "README.txt").write_text("fonts for a test")
    return root
