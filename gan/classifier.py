"""The dataset classifier that gan/quality.py uses as its feature network: trained once per dataset, cached.

    net, meta = load_classifier(cfg.data, device)   # cached in cache_dir(cfg.data); trained on first use
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval
from tqdm.auto import tqdm

from gan.config import DataConfig
from gan.data import ImageSet, load_split, to_float

ARCH_VERSION = 1  # bump when Classifier or its training recipe changes: old caches are then ignored


class Classifier(nn.Module):
    """VGG-style CNN on 32x32 inputs; x: (N, nc, S, S) in [-1, 1] -> logits (N, K).

    `features(x)` is the penultimate layer (global-average-pooled last conv block, `num_features`-d).
    64x64 inputs are area-downsampled to 32x32 first: every dataset here is natively <= 32x32.
    """

    def __init__(self, nc: int, num_classes: int = 10, widths: tuple[int, ...] = (32, 64, 128),
                 convs_per_block: int = 1):
        super().__init__()
        layers: list[nn.Module] = []
        c = nc
        for w in widths:  # each block: convs at width w, then halve the resolution
            for _ in range(convs_per_block):
                layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
                c = w
            layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())  # (N, widths[-1])
        self.head = nn.Sequential(nn.Dropout(0.1), nn.Linear(c, num_classes))
        self.num_features = c  # torchmetrics reads this instead of probing with a 299x299 dummy

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[-1] != 32:
            x = F.adaptive_avg_pool2d(x, 32)
        f = self.body(x)
        return f, self.head(f)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_and_logits(x)[0]

    def fused(self) -> Classifier:
        """An inference copy with each BatchNorm folded into its conv (same outputs, ~30% faster on CPU)."""
        net = copy.deepcopy(self).eval()
        layers, out = list(net.body), []
        for layer in layers:
            if isinstance(layer, nn.BatchNorm2d) and isinstance(out[-1], nn.Conv2d):
                out[-1] = fuse_conv_bn_eval(out[-1], layer)
            else:
                out.append(layer)
        net.body = nn.Sequential(*out)
        return net.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_and_logits(x)[1]


# per channel count: architecture; per dataset: epochs (`fake`: 512 images, 32 steps)
ARCHS: dict[int, dict[str, Any]] = {
    1: {"widths": (32, 64, 128), "convs_per_block": 1, "augment": False},
    3: {"widths": (32, 64, 128), "convs_per_block": 2, "augment": True},  # crop + flip
}
EPOCHS = {"mnist": 3, "mnist5k": 15, "fashion_mnist": 4, "cifar10": 20, "fake": 8}  # mnist5k: 4000 images, 31 steps an epoch


def build_classifier(nc: int, num_classes: int = 10) -> Classifier:
    arch = ARCHS[nc]
    return Classifier(nc, num_classes, arch["widths"], arch["convs_per_block"])


def _augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random translation by up to 4 px (black border) and horizontal flip per image; x: (B, C, S, S)."""
    b, c, s, _ = x.shape
    pad = F.pad(x, (4, 4, 4, 4), value=-1.0)  # (B, C, S+8, S+8)
    oy, ox = (torch.randint(0, 9, (2, b, 1), generator=g)).to(x.device)
    rows = (oy + torch.arange(s, device=x.device))[:, None, :, None]  # (B, 1, S, 1)
    cols = (ox + torch.arange(s, device=x.device))[:, None, None, :]  # (B, 1, 1, S)
    out = pad[torch.arange(b, device=x.device)[:, None, None, None],
              torch.arange(c, device=x.device)[None, :, None, None], rows, cols]
    flip = (torch.rand(b, generator=g) < 0.5).to(x.device)[:, None, None, None]
    return torch.where(flip, out.flip(-1), out)


@torch.inference_mode()
def accuracy(net: Classifier, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy; images uint8 (N, C, S, S)."""
    net.eval()
    dev = next(net.parameters()).device
    correct = sum(int((net(to_float(x.to(dev))).argmax(1) == y.to(dev)).sum())
                  for x, y in zip(images.split(batch_size), labels.split(batch_size)))
    return correct / max(len(labels), 1)


def train_classifier(train: ImageSet, test: ImageSet, epochs: int, device: torch.device | str = "cpu",
                     seed: int = 0, batch_size: int = 128,
                     desc: str = "classifier") -> tuple[Classifier, dict[str, float]]:
    """Adam + OneCycle on uint8 ImageSets; deterministic for a seed; returns (net in eval mode, info)."""
    device = torch.device(device)
    start = time.perf_counter()
    steps_per_epoch = max(len(train) // batch_size, 1)
    total = epochs * steps_per_epoch
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)  # init and dropout; the caller's RNG is left as it was
        g = torch.Generator().manual_seed(seed)  # batches and augmentation
        # channels_last: ~1.7x faster convolutions on this CPU, no harm on GPUs
        net = build_classifier(train.nc, train.num_classes).to(device, memory_format=torch.channels_last)
        opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=5e-4)
        sched = (torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=total, pct_start=0.25)
                 if total >= 8 else torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0))  # tiny test sets
        augment = ARCHS[train.nc]["augment"]
        net.train()
        bar = tqdm(total=total, desc=desc, unit="step", leave=True, mininterval=1.0)  # ~1 line a second in a log file
        for _ in range(epochs):
            perm = torch.randperm(len(train), generator=g)
            for i in range(steps_per_epoch):
                idx = perm[i * batch_size:(i + 1) * batch_size]
                x = to_float(train.images[idx.to(train.images.device)].to(device))  # (B, C, S, S)
                y = train.labels[idx.to(train.labels.device)].to(device)
                if augment:
                    x = _augment(x, g)
                x = x.contiguous(memory_format=torch.channels_last)
                loss = F.cross_entropy(net(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                bar.update()
                if i % 20 == 0:
                    bar.set_postfix(loss=f"{loss.item():.3f}")
        acc = accuracy(net, test.images, test.labels)
        bar.set_postfix(test_acc=f"{acc:.4f}")
        bar.close()
    info = {"test_acc": acc, "train_time_s": time.perf_counter() - start, "epochs": epochs}
    return net.eval(), info


def cache_dir(data_cfg: DataConfig) -> Path:
    """$GAN_CACHE_DIR, else <data.root>/.gan_cache."""
    return Path(os.environ.get("GAN_CACHE_DIR") or Path(data_cfg.root) / ".gan_cache")


def cache_key(data_cfg: DataConfig) -> str:
    """"<dataset>-<S>px-v<ARCH_VERSION>": the part of a cache file name that says what it was built for."""
    name = f"fake{data_cfg.fake_size}" if data_cfg.name == "fake" else data_cfg.name
    return f"{name}-{data_cfg.image_size}px-v{ARCH_VERSION}"


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Exclusive lock so parallel study jobs train (or write) a cache entry once, not once each."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(path.suffix + ".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def load_classifier(data_cfg: DataConfig,
                    device: torch.device | str = "cpu") -> tuple[Classifier, dict[str, Any]]:
    """The dataset's classifier from the cache, trained (and cached with its test accuracy) on first use."""
    path = cache_dir(data_cfg) / f"classifier-{cache_key(data_cfg)}.pt"
    with locked(path):
        net = None
        if path.is_file():
            try:
                blob = torch.load(path, map_location=device, weights_only=True)
                net = build_classifier(blob["meta"]["nc"], blob["meta"]["num_classes"]).to(device)
                net.load_state_dict(blob["state_dict"])
                meta = dict(blob["meta"])
            except Exception as err:  # truncated or foreign file: the cache is ours to rebuild
                warnings.warn(f"ignoring unreadable classifier cache '{path}' ({err.__class__.__name__}); "
                              "training it again", stacklevel=2)
                net = None
        if net is None:
            train, test = load_split(data_cfg, train=True), load_split(data_cfg, train=False)
            net, info = train_classifier(train, test, EPOCHS.get(data_cfg.name, 1), device,
                                         desc=f"classifier {data_cfg.name} (once, cached)")
            meta = {"dataset": data_cfg.name, "image_size": data_cfg.image_size, "arch_version": ARCH_VERSION,
                    "nc": train.nc, "num_classes": train.num_classes, **info}
            tmp = path.with_suffix(".tmp")
            torch.save({"state_dict": {k: v.cpu() for k, v in net.state_dict().items()}, "meta": meta}, tmp)
            tmp.replace(path)
    meta["path"] = str(path)
    return net.eval().requires_grad_(False), meta
