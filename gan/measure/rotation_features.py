"""Quality features without labels: a small CNN trained to predict rotations (Gidaris et al. 2018).

    net, meta = load_rotation_features(ds.train_images, ds.test_images, cache_path, device)
    f, logits = net.features_and_logits(x)   # x float (B, C, S, S) in [-1, 1] -> (B, 128), (B, 4)

An unlabelled folder (gan/data/folder.py) has no classes to train gan/measure/classifier.py's classifier on, so the
features come from a pretext task that needs none: which of 0 / 90 / 180 / 270 degrees was an image turned
by. The network is that classifier's architecture (ARCHS[nc]) with 4 outputs, so gan/measure/quality.py's Evaluator
reads it as it reads a classifier (`features_and_logits`, `num_features`, `fused`). Its logits are rotation
logits: the class metrics (IS, modes_covered, class_kl) mean nothing in them.

Recipe (part of the cache identity): STEPS steps of BATCH training images drawn with replacement, each shown
in all four rotations (Gidaris et al.'s best setting), random horizontal flips, AdamW + OneCycle, SEED.
The caller's RNG is left as it was.

Cache: one file at `cache_path` (name it with `cache_path_for(cache_dir, data_key)`), written atomically:
the weights, their sha256, and the identity they were made for (data_key, or a fingerprint of the images,
their shapes, ARCH_VERSION, the recipe). A file whose identity or hash does not match is replaced, with one
warning. Before a new network is cached, `sanity_distances` computes Frechet distances to the held-out
images' features of real training images, the same blurred (gaussian sigma 1, sigma 2) and uniform noise,
prints them, and a network whose four distances do not rise in that order is refused (UserError). The refusal
is remembered beside the cache file (`failure_path`: the identity and the four distances, as JSON), so the same
data and recipe are refused again at once, with the ranking and what to change, instead of after training anew.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torchvision.transforms.functional import gaussian_blur
from tqdm.auto import tqdm

from gan.files.atomic import write_json_atomic
from gan.files.lock import wait_lock
from gan.measure.classifier import ARCHS, Classifier, build_classifier, state_hash
from gan.data.images import to_float
from gan.errors import UserError
from gan.measure.quality import blur_sigma1, frechet_distance

ARCH_VERSION = 1  # bump when the network or the recipe changes: old caches are then replaced
STEPS, BATCH, SEED, LR = 2000, 32, 0, 3e-3  # 32 images x 4 rotations = 128 inputs a step
SANITY_N = 2048  # images per set in the sanity check (fewer when the split is smaller)
WEAK_ACC = 0.5  # held-out rotation accuracy below which a warning says the pretext task was hard (chance 0.25)
EMBED_BATCH = 500


def cache_path_for(cache_dir: str | Path, data_key: str) -> Path:
    """cache_dir/rotation-<data_key (file-name safe, at most 48 characters)>-v<ARCH_VERSION>.pt."""
    return Path(cache_dir) / f"rotation-{re.sub(r'[^A-Za-z0-9_.-]+', '_', data_key)[:48]}-v{ARCH_VERSION}.pt"


def rotations(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x (B, C, S, S) -> (all four rotations (4B, C, S, S), their labels 0-3 (4B,) = k quarter turns)."""
    y = torch.arange(4, device=x.device).repeat_interleave(len(x))
    return torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(4)]), y


def train_rotation_net(images: torch.Tensor, steps: int = STEPS, device: torch.device | str = "cpu",
                       seed: int = SEED, batch: int = BATCH) -> Classifier:
    """The rotation network trained on uint8 images (N, C, S, S) (any device; memory-mapped is fine)."""
    device = torch.device(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)  # init and dropout
        g = torch.Generator().manual_seed(seed)  # batches and flips
        net = build_classifier(images.shape[1], num_classes=4).to(device, memory_format=torch.channels_last)
        opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=5e-4)
        sched = (torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps, pct_start=0.25)
                 if steps >= 8 else torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0))
        net.train()
        bar = tqdm(range(steps), desc="rotation features (once, cached)", unit="step", mininterval=1.0,
                   disable=steps < 500)
        for _ in bar:
            idx = torch.randint(len(images), (batch,), generator=g)
            x = to_float(images[idx].to(device))  # (B, C, S, S)
            flip = (torch.rand(batch, generator=g) < 0.5).to(device)[:, None, None, None]
            x, y = rotations(torch.where(flip, x.flip(-1), x))
            loss = F.cross_entropy(net(x.contiguous(memory_format=torch.channels_last)), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return net.eval()


@torch.inference_mode()
def embed(net: Classifier, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """float (N, C, S, S) in [-1, 1] -> CPU (features (N, D), logits (N, 4)), in batches."""
    dev = next(net.parameters()).device
    out = [net.eval().features_and_logits(b.to(dev).contiguous(memory_format=torch.channels_last))
           for b in x.split(EMBED_BATCH)]
    return torch.cat([f for f, _ in out]).float().cpu(), torch.cat([lg for _, lg in out]).float().cpu()


def rotation_accuracy(net: Classifier, images: torch.Tensor, n: int = SANITY_N) -> float:
    """Share of the four rotations of the first n uint8 images (N, C, S, S) predicted right (chance 0.25)."""
    x, y = rotations(to_float(images[:n].cpu()))
    return float((embed(net, x)[1].argmax(1) == y).float().mean())


def corruptions(x: torch.Tensor, g: torch.Generator) -> dict[str, torch.Tensor]:
    """x float (N, C, S, S) in [-1, 1] -> named versions, mildest first (as benchmarks/bench_fcd_sanity.py)."""
    return {"real train images": x,
            "blurred (sigma 1)": blur_sigma1(x),
            "blurred (sigma 2)": gaussian_blur(x, kernel_size=13, sigma=2.0),
            "uniform noise": torch.rand(x.shape, generator=g) * 2 - 1}


def sanity_distances(net: Classifier, train_images: torch.Tensor, test_images: torch.Tensor,
                     n: int = SANITY_N, seed: int = SEED) -> dict[str, float]:
    """Frechet distance from the held-out images' features to each of `corruptions` of n training images."""
    g = torch.Generator().manual_seed(seed)
    ref = embed(net, to_float(test_images[:n].cpu()))[0]
    idx = torch.randperm(len(train_images), generator=g)[:n].sort().values  # sorted: memory-mapped reads in order
    sets = corruptions(to_float(train_images[idx].cpu()), g)
    return {name: frechet_distance(ref, embed(net, x)[0]) for name, x in sets.items()}


def rises(distances: dict[str, float]) -> bool:
    values = list(distances.values())
    return all(a < b for a, b in zip(values, values[1:]))


ROTATION_ADVICE = "add images or use class subfolders so that a classifier can be trained instead"


def check_ranking(distances: dict[str, float], network: str = "the rotation feature network",
                  advice: str = ROTATION_ADVICE) -> None:
    """UserError unless the distances rise strictly in their order (real < blur 1 < blur 2 < noise)."""
    if not rises(distances):
        shown = ", ".join(f"{k} {v:.3g}" for k, v in distances.items())
        raise UserError(f"{network} fails the sanity check (Frechet distances {shown} do not rise in that "
                        f"order), so its features would not measure sample quality; {advice}")


def failure_path(cache_path: str | Path) -> Path:
    """Where a feature network's failed sanity check is remembered: <cache file>.failed.json beside it."""
    return Path(cache_path).with_suffix(".failed.json")


def remember_failure(cache_path: str | Path, expected: dict[str, Any], distances: dict[str, float]) -> None:
    """Write the identity the refused network was made for and its distances (a full disk only forgets it)."""
    try:
        write_json_atomic(failure_path(cache_path), {"identity": expected, "sanity": distances,
                                                     "when": time.strftime("%Y-%m-%d %H:%M")}, indent=1)
    except OSError as err:
        warnings.warn(f"could not remember the failed sanity check in '{failure_path(cache_path)}' "
                      f"({err.strerror or err}): a rerun trains the network again", stacklevel=3)


def remembered_failure(cache_path: str | Path, expected: dict[str, Any]) -> dict[str, Any] | None:
    """The remembered failure of a network made for `expected`, or None (none, unreadable, or for other data)."""
    try:
        record = json.loads(failure_path(cache_path).read_text())
    except (OSError, ValueError):
        return None
    ok = isinstance(record, dict) and record.get("identity") == expected and isinstance(record.get("sanity"), dict)
    return record if ok else None


def refuse_remembered(record: dict[str, Any], cache_path: str | Path, network: str = "the rotation feature network",
                      advice: str = ROTATION_ADVICE) -> None:
    """UserError: the network failed its sanity check before (when, its distances), so it is not made again."""
    shown = ", ".join(f"{k} {v:.3g}" for k, v in record["sanity"].items())
    raise UserError(f"{network} failed its sanity check when it was made ({record.get('when', 'earlier')}: Frechet "
                    f"distances {shown} do not rise in that order), so it is not trained again; {advice} (or delete "
                    f"'{failure_path(cache_path)}' to train it again anyway)")


def identity(train_images: torch.Tensor, test_images: torch.Tensor, data_key: str | None,
             steps: int) -> dict[str, Any]:
    """What a cached network must have been made from and with."""
    if data_key is None:  # a fingerprint: shapes and up to 256 evenly spaced images of each split
        h = hashlib.sha256()
        for t in (train_images, test_images):
            h.update(str(tuple(t.shape)).encode())
            h.update(t[torch.linspace(0, len(t) - 1, min(256, len(t))).long()].cpu().numpy().tobytes())
        data_key = "fingerprint:" + h.hexdigest()
    arch = ARCHS[train_images.shape[1]]
    return {"data": data_key, "n_train": len(train_images), "n_test": len(test_images),
            "shape": list(train_images.shape[1:]), "arch_version": ARCH_VERSION, "widths": list(arch["widths"]),
            "convs_per_block": arch["convs_per_block"], "steps": steps, "batch": BATCH, "seed": SEED, "lr": LR}


def _load_cached(path: Path, expected: dict[str, Any], device) -> tuple[Classifier, dict[str, Any]] | str:
    """(net, meta) of a cache file that proves what it is, else why not."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        state, meta = blob["state_dict"], blob["meta"]
        digest = state_hash(state)
    except Exception as err:  # truncated or foreign file
        return f"is unreadable ({type(err).__name__})"
    if meta.get("identity") != expected:
        got = meta.get("identity") or {}
        return f"was made for another {', '.join(k for k in expected if got.get(k) != expected[k])}"
    if digest != meta.get("sha256"):
        return "does not match its recorded sha256"
    net = build_classifier(expected["shape"][0], num_classes=4)
    try:
        net.load_state_dict(state)
    except RuntimeError:
        return "does not fit the network's architecture"
    return net.to(device, memory_format=torch.channels_last).eval(), meta


def _save(path: Path, net: Classifier, meta: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save({"state_dict": {k: v.cpu() for k, v in net.state_dict().items()}, "meta": meta}, tmp)
        tmp.replace(path)  # atomic: a reader sees the old file or the whole new one
    except (OSError, RuntimeError) as err:  # read-only or full disk: trained again next time, nothing lost
        warnings.warn(f"could not cache the rotation features in '{path}' ({str(err).splitlines()[0][:80]})",
                      stacklevel=3)
    finally:
        tmp.unlink(missing_ok=True)


def load_rotation_features(train_images: torch.Tensor, test_images: torch.Tensor, cache_path: str | Path,
                           device: torch.device | str = "cpu", *, data_key: str | None = None,
                           steps: int = STEPS) -> tuple[Classifier, dict[str, Any]]:
    """The rotation network for these uint8 splits (N, C, S, S): cached, else trained, checked and cached.

    meta: "identity", "sha256" of the weights, "rotation_acc" on the held-out images, "sanity" (the four
    Frechet distances), "train_time_s", "path". UserError when a new network fails the sanity ranking.
    """
    path = Path(cache_path)
    expected = identity(train_images, test_images, data_key, steps)
    with wait_lock(path):  # parallel study jobs train it once
        if (failed := remembered_failure(path, expected)) is not None:  # minutes of training would fail again
            refuse_remembered(failed, path)
        if path.is_file():
            found = _load_cached(path, expected, device)
            if not isinstance(found, str):
                net, meta = found
                return net.requires_grad_(False), {**meta, "path": str(path)}
            warnings.warn(f"rotation feature cache '{path}' {found}; training it again", stacklevel=2)
        start = time.perf_counter()
        net = train_rotation_net(train_images, steps, device)
        distances = sanity_distances(net, train_images, test_images)
        print("rotation features, Frechet distance to the held-out images: "
              + ", ".join(f"{k} {v:.3f}" for k, v in distances.items())
              + (": rises in that order" if rises(distances) else ": BROKEN"), file=sys.stderr, flush=True)
        if not rises(distances):  # before caching: a refused network is never reused, and never retrained
            remember_failure(path, expected, distances)
        check_ranking(distances)
        meta = {"identity": expected, "sha256": state_hash(net.state_dict()), "sanity": distances,
                "rotation_acc": rotation_accuracy(net, test_images), "train_time_s": time.perf_counter() - start}
        if meta["rotation_acc"] < WEAK_ACC:
            warnings.warn(f"the rotation network predicts only {meta['rotation_acc']:.0%} of held-out rotations "
                          "(chance 25%): images that look alike turned (textures, aerial views) give weaker "
                          "quality features", stacklevel=2)
        _save(path, net, meta)
    return net.requires_grad_(False), {**meta, "path": str(path)}
