"""The dataset classifier that gan/measure/quality.py uses as its feature network: trained once per dataset, cached.

    net, meta = load_classifier(cfg.data, device)   # cached in cache_dir(cfg.data); trained on first use
    meta["sha256"], meta["test_acc"]                # content hash of the weights; accuracy measured on load

The cache is classifier-<key>.pt plus classifier-<key>.json (identity: dataset, split sizes, architecture,
recipe, sha256 of the weights). A file that fails any check, or scores below its dataset's min_test_acc, is replaced.
A cache without the pair first looks for it among the shipped files (gan.files.layout.shipped_cache_file: the
classifiers the committed studies used); one that passes the same checks is copied in instead of training.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval
from tqdm.auto import tqdm

from gan.config.datasets import FOLDER, builtin_dataset
from gan.config.schema import DataConfig
from gan.data.images import ImageSet, to_float
from gan.data.dataset import cache_root, data_key, is_folder, load_split
from gan.errors import UserError
from gan.files.atomic import write_atomic, write_json_atomic
from gan.files.layout import shipped_cache_file
from gan.files.lock import wait_lock

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


# per channel count: architecture (per dataset: its record's classifier_epochs and min_test_acc)
ARCHS: dict[int, dict[str, Any]] = {
    1: {"widths": (32, 64, 128), "convs_per_block": 1, "augment": False},
    3: {"widths": (32, 64, 128), "convs_per_block": 2, "augment": True},  # crop + flip
}
FOLDER_STEPS = 2000  # a labelled folder's classifier trains for about this many batches (epochs_for)
TRAIN_SEED, TRAIN_BATCH = 0, 128  # part of the cache identity: another recipe is another classifier


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
    """The dataset's cache folder (gan.data.dataset.cache_root owns the rule)."""
    return cache_root(data_cfg)


def cache_key(data_cfg: DataConfig) -> str:
    """"<dataset>-<S>px-v<ARCH_VERSION>" (a folder: "folder-<its contents' key>-<S>px-v..."): the part of a cache
    file name that says what it was built for."""
    return f"{data_key(data_cfg)}-v{ARCH_VERSION}"


def cache_path(data_cfg: DataConfig) -> Path:
    """The cached weights: cache_dir / classifier-<cache_key>.pt (its identity JSON beside it)."""
    return cache_dir(data_cfg) / f"classifier-{cache_key(data_cfg)}.pt"


def epochs_for(data_cfg: DataConfig, n_train: int) -> int:
    """A built-in dataset's classifier_epochs (gan/config/datasets.py); a folder's: enough epochs for FOLDER_STEPS
    batches (at least 4, at most 100)."""
    if is_folder(data_cfg):
        return max(4, min(100, -(-FOLDER_STEPS * TRAIN_BATCH // max(n_train, 1))))
    return builtin_dataset(data_cfg.name).classifier_epochs


class Interrupted(KeyboardInterrupt):
    """Ctrl-C while the classifier trains; the message says what to run next (the CLI prints it, exit 130)."""


class _Rejected(Exception):
    """Why a cached classifier is not used (the message completes "classifier cache 'PATH' ...")."""


def min_test_acc(dataset: str, num_classes: int = 10) -> float:
    """The lowest test accuracy at which a classifier's features are trusted (measured on every load): a built-in
    dataset's min_test_acc (gan/config/datasets.py); a folder's (classes of unknown difficulty): halfway from chance
    to 1."""
    if dataset == FOLDER:
        return 0.5 + 0.5 / max(num_classes, 1)
    return builtin_dataset(dataset).min_test_acc


def state_hash(state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 of the weights themselves (names, dtypes, shapes, bytes; sorted by name), not of a file's encoding."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _generated(data_cfg: DataConfig) -> bool:
    """A generated built-in dataset (`fake`): its data.fake_size is part of what it is."""
    return not is_folder(data_cfg) and not builtin_dataset(data_cfg.name).real


def identity(data_cfg: DataConfig, train: ImageSet, test: ImageSet) -> dict[str, Any]:
    """What a cached classifier must have been trained on and with: dataset, split sizes, architecture, recipe."""
    arch = ARCHS[train.nc]
    return {"dataset": data_cfg.name, "image_size": data_cfg.image_size,
            **({"fake_size": data_cfg.fake_size} if _generated(data_cfg) else {}),
            **({"data": data_key(data_cfg)} if is_folder(data_cfg) else {}),
            "n_train": len(train), "n_test": len(test), "nc": train.nc, "num_classes": train.num_classes,
            "arch_version": ARCH_VERSION, "widths": list(arch["widths"]), "convs_per_block": arch["convs_per_block"],
            "augment": arch["augment"], "epochs": epochs_for(data_cfg, len(train)), "seed": TRAIN_SEED,
            "batch_size": TRAIN_BATCH}


def identity_path(weights: Path) -> Path:
    """The identity JSON beside the weights: classifier-<key>.json."""
    return weights.with_suffix(".json")


def _timed_accuracy(net: Classifier, test: ImageSet) -> tuple[float, float]:
    start = time.perf_counter()
    acc = accuracy(net, test.images, test.labels)
    return acc, time.perf_counter() - start


def _load_cached(path: Path, expected: dict[str, Any], test: ImageSet,
                 device: torch.device | str) -> tuple[Classifier, dict[str, Any]]:
    """The cached classifier if its identity, hash and measured test accuracy all check out; else _Rejected."""
    try:
        record = json.loads(identity_path(path).read_text())
    except FileNotFoundError:
        raise _Rejected(f"has no identity file '{identity_path(path).name}' beside it") from None
    except (OSError, ValueError):
        raise _Rejected("has an unreadable identity file") from None
    if not isinstance(record, dict) or record.get("identity") != expected:
        got = record.get("identity") if isinstance(record, dict) else None
        diff = sorted(k for k in expected if not isinstance(got, dict) or got.get(k) != expected[k])
        raise _Rejected(f"was made for another {', '.join(diff) or 'identity'}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
        digest = state_hash(state)
    except Exception as err:  # missing, truncated or foreign file
        raise _Rejected(f"is unreadable ({err.__class__.__name__})") from None
    if digest != record.get("sha256"):
        raise _Rejected("does not match the sha256 in its identity file (changed or half-written)")
    net = build_classifier(expected["nc"], expected["num_classes"])
    try:
        net.load_state_dict(state)
    except RuntimeError:
        raise _Rejected("does not fit the classifier's architecture") from None
    net = net.to(device)
    acc, secs = _timed_accuracy(net, test)  # measured, never read from the file
    floor = min_test_acc(expected["dataset"], expected["num_classes"])
    if acc < floor:
        raise _Rejected(f"reaches only {acc:.4f} test accuracy (below {floor:.2f} for {expected['dataset']})")
    return net, {**expected, "sha256": digest, "test_acc": acc, "test_acc_s": secs,
                 "test_acc_when_trained": record.get("test_acc"), "train_time_s": record.get("train_time_s")}


def _write_cache(path: Path, net: Classifier, meta: dict[str, Any], expected: dict[str, Any]) -> None:
    """Weights, then the identity JSON, each written atomically (gan.files.atomic); the identity goes first and
    comes back last, so a stop or error midway leaves no usable half pair."""
    ident = identity_path(path)
    record = {"identity": expected, "sha256": meta["sha256"], "test_acc": meta["test_acc"],
              "train_time_s": meta["train_time_s"]}
    try:
        ident.unlink(missing_ok=True)  # an old identity never pairs with the new weights
        write_atomic(path, lambda f: torch.save({"state_dict": {k: v.cpu() for k, v in net.state_dict().items()},
                                                 "meta": meta}, f))
        write_json_atomic(ident, record, indent=1)  # the pair is complete (and its hash checks) from here on
    except BaseException as err:
        if not ident.exists():
            path.unlink(missing_ok=True)
        if isinstance(err, (OSError, RuntimeError)):  # disk full (torch's zip writer raises RuntimeError), read-only
            warnings.warn(f"could not cache the classifier in '{path.parent}' ({str(err).splitlines()[0][:80]}); "
                          "it is trained again next time", stacklevel=3)
            return
        raise


def _from_shipped(path: Path, expected: dict[str, Any], test: ImageSet,
                  device: torch.device | str) -> tuple[Classifier, dict[str, Any]] | None:
    """The shipped classifier of this cache name, checked as a cache file is, then copied into the cache (weights
    first, identity last, as _write_cache); None when none is shipped or it fails a check (then it is trained)."""
    weights, ident = shipped_cache_file(path), shipped_cache_file(identity_path(path))
    if weights is None or ident is None:
        return None
    try:
        net, meta = _load_cached(weights, expected, test, device)
    except _Rejected as why:
        warnings.warn(f"shipped classifier '{weights}' {why}; training one instead", stacklevel=3)
        return None
    print(f"quality classifier: the shipped one ({weights}, sha256 {meta['sha256'][:12]}, test accuracy "
          f"{meta['test_acc']:.4f} measured now), not trained again", file=sys.stderr, flush=True)
    try:
        write_atomic(path, lambda f: f.write(weights.read_bytes()))
        write_atomic(identity_path(path), lambda f: f.write(ident.read_bytes()))
    except OSError as err:  # a read-only cache: the shipped file is used from where it is, every time
        path.unlink(missing_ok=True)
        warnings.warn(f"could not copy the shipped classifier into '{path.parent}' ({err.strerror or err})",
                      stacklevel=3)
    return net, meta


def load_classifier(data_cfg: DataConfig,
                    device: torch.device | str = "cpu") -> tuple[Classifier, dict[str, Any]]:
    """The dataset's classifier from the cache if it proves what it is, else trained (and cached) now.

    meta: the identity, "sha256" of the weights, "test_acc" measured now on the test split ("test_acc_s": its
    cost) and "path". A cache whose identity, hash or accuracy fails is reported in one warning and replaced.
    """
    path = cache_path(data_cfg)
    train, test = load_split(data_cfg, train=True), load_split(data_cfg, train=False)
    expected = identity(data_cfg, train, test)
    with wait_lock(path):
        net = None
        if not path.is_file() and not identity_path(path).is_file():
            net, meta = _from_shipped(path, expected, test, device) or (None, {})
        if net is None and (path.is_file() or identity_path(path).is_file()):
            try:
                net, meta = _load_cached(path, expected, test, device)
            except _Rejected as why:
                warnings.warn(f"classifier cache '{path}' {why}; training it again", stacklevel=2)
        if net is None:
            try:
                net, info = train_classifier(train, test, expected["epochs"], device, seed=TRAIN_SEED,
                                             batch_size=TRAIN_BATCH, desc=f"classifier {data_cfg.name} (once, cached)")
            except KeyboardInterrupt:
                raise Interrupted(f"stopped while training the {data_cfg.name} quality classifier (nothing was "
                                  "cached); rerun the same command: the classifier is trained again") from None
            floor = min_test_acc(data_cfg.name, train.num_classes)
            if info["test_acc"] < floor:
                raise UserError(f"the {data_cfg.name} quality classifier reached only {info['test_acc']:.4f} test "
                                f"accuracy (below {floor:.2f}): its features would not measure sample quality; "
                                f"check the dataset with `gan data {data_cfg.name}`")
            meta = {**expected, "sha256": state_hash(net.state_dict()), **info}
            meta["test_acc_s"] = None  # measured as part of training
            _write_cache(path, net, meta, expected)
    meta["path"] = str(path)
    return net.eval().requires_grad_(False), meta
