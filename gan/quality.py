"""Sample quality: a cached dataset classifier as feature network, FCD / KID / IS / PRDC / class coverage.

    ev = Evaluator(cfg, device)          # loads (or trains once) the classifier, embeds the real test split
    row = ev.evaluate(G, cfg.model.nz)   # {"quality/fcd": ..., "quality/kid": ..., ...}
    floor = reference_floor(cfg, evaluator=ev)   # the same metrics, real train images vs the test split

Metric definitions (DESIGN.md "Metrics"; `quality_metrics` is the pure core, pinned by tests):
- fcd: Frechet distance between Gaussians fitted to classifier features (torchmetrics FID math).
- kid, kid_std: polynomial-kernel MMD^2 over random subsets (torchmetrics KID), mean and std.
- is: exp(E_x KL(p(y|x) || p(y))) of the classifier's softmax on fakes (torchmetrics IS, 10 splits).
- precision, recall, density, coverage: prdc (Naeem et al. 2020), k = 5, <= 10k fakes vs an equal real subset.
- modes_covered: classes c whose predicted share p_c = #{argmax = c} / N is >= 1 / (4C).
- class_kl: KL(p || uniform) = sum_c p_c log(C p_c); 0 for balanced classes, log C for a single class.
With eval.features=inception, fcd/kid/is/prdc use torchmetrics' Inception-v3 (2048-d pool, 1008 logits)
and `quality/fcd` is named `quality/fid`; the class metrics still use the dataset classifier.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import io
import itertools
import json
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any, Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval
from tqdm.auto import tqdm

from gan.config import DataConfig, RunConfig
from gan.data import ImageSet, load_split, to_float, to_uint8
from gan.errors import UserError

ARCH_VERSION = 1  # bump when Classifier or its training recipe changes: old caches are then ignored
EVAL_SEED = 12345  # latent vectors and metric subsets: the same for every evaluation of every run
MIN_SAMPLES = 2048  # below this Frechet / kernel distances are visibly biased
PRDC_MAX = 10_000  # prdc's three N x N float32 distance matrices: 1.2 GB at 10k, 30 GB at 50k
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"

########################################################################################
# the feature network


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
EPOCHS = {"mnist": 3, "fashion_mnist": 4, "cifar10": 20, "fake": 8}


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
        bar = tqdm(total=total, desc=desc, unit="step", leave=True)
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


def _cache_key(data_cfg: DataConfig) -> str:
    name = f"fake{data_cfg.fake_size}" if data_cfg.name == "fake" else data_cfg.name
    return f"{name}-{data_cfg.image_size}px-v{ARCH_VERSION}"


@contextlib.contextmanager
def _locked(path: Path):
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
    path = cache_dir(data_cfg) / f"classifier-{_cache_key(data_cfg)}.pt"
    with _locked(path):
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


def load_inception(device: torch.device | str = "cpu") -> nn.Module:
    """torchmetrics' Inception-v3 (2048-d pool features); UserError when torch-fidelity or its weights are missing."""
    how = ("eval.features=inception needs torch-fidelity and its Inception weights: `pip install torch-fidelity` "
           f"and run once online (or put {INCEPTION_FILE} in $TORCH_HOME/hub/checkpoints, or set "
           "GAN_INCEPTION_WEIGHTS to its path), or use eval.features=classifier")
    try:
        from torchmetrics.image.fid import NoTrainInceptionV3
        import torch_fidelity  # noqa: F401
    except ImportError:
        raise UserError(how) from None
    try:
        net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                                 feature_extractor_weights_path=os.environ.get("GAN_INCEPTION_WEIGHTS"))
    except Exception:  # URLError offline, FileNotFoundError / RuntimeError for a bad weights file
        raise UserError(how) from None
    return net.to(device)


########################################################################################
# the pure core: features in, numbers out


class _Given(nn.Module):
    """A torchmetrics "feature network" that returns its input: features are extracted once, by us."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def class_coverage(logits: torch.Tensor) -> tuple[float, float]:
    """(modes_covered, class_kl) of the argmax histogram of logits (N, C)."""
    c = logits.shape[1]
    p = torch.bincount(logits.argmax(1), minlength=c).double() / logits.shape[0]  # (C,)
    modes = int((p >= 1.0 / (4 * c)).sum())
    kl = float(torch.where(p > 0, p * torch.log(p * c), torch.zeros_like(p)).sum())
    return float(modes), kl


def _seeded(seed: int):
    """Fork the CPU RNG and seed it: torchmetrics' KID / IS draw subsets with the global RNG."""
    stack = contextlib.ExitStack()
    stack.enter_context(torch.random.fork_rng(devices=[]))
    torch.manual_seed(seed)
    return stack


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r S_f)^1/2) of features (N, D) (torchmetrics FID)."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    fid = FrechetInceptionDistance(feature=_Given(real.shape[1]))
    fid.update(real, real=True)
    fid.update(fake, real=False)
    return float(fid.compute())


def kernel_distance(real: torch.Tensor, fake: torch.Tensor, seed: int = EVAL_SEED) -> tuple[float, float]:
    """(mean, std) of the cubic-polynomial-kernel MMD^2 over 100 subsets of min(1000, N) (torchmetrics KID)."""
    from torchmetrics.image.kid import KernelInceptionDistance
    with warnings.catch_warnings(), _seeded(seed):
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        kid = KernelInceptionDistance(feature=_Given(real.shape[1]),
                                      subset_size=min(1000, len(real), len(fake)))
        kid.update(real, real=True)
        kid.update(fake, real=False)
        mean, std = kid.compute()
    return float(mean), float(std)


def inception_score(logits: torch.Tensor, seed: int = EVAL_SEED) -> float:
    """exp(E KL(p(y|x) || p(y))) from logits (N, C), mean over 10 splits (torchmetrics IS)."""
    from torchmetrics.image.inception import InceptionScore
    with warnings.catch_warnings(), _seeded(seed):
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        metric = InceptionScore(feature=_Given(logits.shape[1]), splits=min(10, len(logits)))
        metric.update(logits)
        return float(metric.compute()[0])


def prdc_metrics(real: torch.Tensor, fake: torch.Tensor, nearest_k: int = 5,
                 seed: int = EVAL_SEED) -> dict[str, float]:
    """precision / recall / density / coverage (prdc) of at most PRDC_MAX fakes against a fixed random
    real subset of the same size (as in Naeem et al. 2020; prdc holds three N x N distance matrices)."""
    import joblib
    import prdc
    fake = fake[:PRDC_MAX]
    if len(real) > len(fake):
        real = real[torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))[:len(fake)]]
    # prdc prints "Num real: ..."; its n_jobs=8 chunks ran ~3x slower here than one (BLAS-threaded) call
    with contextlib.redirect_stdout(io.StringIO()), joblib.parallel_config(backend="sequential"):
        out = prdc.compute_prdc(real_features=real.numpy(), fake_features=fake.numpy(), nearest_k=nearest_k)
    return {k: float(v) for k, v in out.items()}


def quality_metrics(real_feats: torch.Tensor, fake_feats: torch.Tensor, fake_logits: torch.Tensor, *,
                    is_logits: torch.Tensor | None = None, nearest_k: int = 5, seed: int = EVAL_SEED,
                    prefix: str = "quality/", distance_name: str = "fcd") -> dict[str, float]:
    """All sample-quality numbers from features (N, D) and classifier logits (N_fake, C); pure and seeded.

    is_logits: logits for the Inception Score when they differ from fake_logits (Inception features).
    Leaves the global RNG untouched; NaN everywhere when a fake feature is not finite (diverged G).
    """
    real = real_feats.detach().float().cpu()
    fake = fake_feats.detach().float().cpu()
    logits = fake_logits.detach().float().cpu()
    is_logits = logits if is_logits is None else is_logits.detach().float().cpu()
    keys = [distance_name, "kid", "kid_std", "is", "precision", "recall", "density", "coverage",
            "modes_covered", "class_kl"]
    if not all(torch.isfinite(t).all() for t in (fake, logits, is_logits)):
        return {prefix + k: math.nan for k in keys}
    n = min(len(real), len(fake))
    if n <= nearest_k:
        raise ValueError(f"quality metrics need more than {nearest_k} real and fake samples, "
                         f"got {len(real)} and {len(fake)}")
    if n < MIN_SAMPLES:
        warnings.warn(f"quality metrics from {n} samples (< {MIN_SAMPLES}) are biased (FCD most); "
                      "compare runs only at equal eval.n_samples", stacklevel=2)
    out = {distance_name: frechet_distance(real, fake)}
    out["kid"], out["kid_std"] = kernel_distance(real, fake, seed)
    out["is"] = inception_score(is_logits, seed)
    out.update(prdc_metrics(real, fake, nearest_k, seed))
    out["modes_covered"], out["class_kl"] = class_coverage(logits)
    return {prefix + k: out[k] for k in keys}


########################################################################################
# evaluating a generator


def resolve_device(spec: str) -> torch.device:
    """train.device -> torch.device ("auto": CUDA when available)."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"train.device={spec} but no CUDA GPU is visible; pass train.device=cpu")
    return torch.device(spec)


class Evaluator:
    """The feature network(s) and the real test split's features, built once per run.

    `classifier` / `real_images` (uint8 (N, C, S, S)) replace the cache and the dataset (tests, benchmarks).
    """

    def __init__(self, cfg: RunConfig, device: torch.device | str = "cpu", *,
                 classifier: Classifier | None = None, real_images: torch.Tensor | None = None):
        self.cfg, self.device = cfg, torch.device(device)
        if classifier is None:
            classifier, self.classifier_meta = load_classifier(cfg.data, self.device)
        else:
            self.classifier_meta = {}
        self.classifier = classifier.eval().fused().to(self.device, memory_format=torch.channels_last)
        self.inception = load_inception(self.device) if cfg.eval.features == "inception" else None
        self.distance_name = "fid" if self.inception is not None else "fcd"
        if real_images is None:
            real_images = load_split(cfg.data, train=False).images
        self.nc = real_images.shape[1]
        self.real_feats, _, _ = self.embed(to_float(b) for b in real_images.split(cfg.eval.batch_size))

    @torch.inference_mode()
    def embed(self, batches: Iterable[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Float batches (B, C, S, S) in [-1, 1] -> CPU (features (N, D), classifier logits (N, K),
        Inception logits (N, 1008) or None)."""
        feats, logits, is_logits = [], [], []
        for x in batches:
            x = x.to(self.device).float().contiguous(memory_format=torch.channels_last)
            f, lg = self.classifier.features_and_logits(x)
            logits.append(lg.float().cpu())
            if self.inception is not None:
                u8 = to_uint8(x).expand(-1, 3, -1, -1)  # gray -> RGB; torchmetrics resizes to 299
                f = self.inception(u8)  # (B, 2048)
                is_logits.append((f @ self.inception.fc.weight.T).float().cpu())  # "logits_unbiased"
            feats.append(f.float().cpu())
        return torch.cat(feats), torch.cat(logits), (torch.cat(is_logits) if is_logits else None)

    def metrics(self, fake_feats: torch.Tensor, fake_logits: torch.Tensor, is_logits: torch.Tensor | None,
                prefix: str = "quality/") -> dict[str, float]:
        return quality_metrics(self.real_feats, fake_feats, fake_logits, is_logits=is_logits, prefix=prefix,
                               distance_name=self.distance_name)

    def evaluate(self, G: nn.Module, nz: int | None = None, n: int | None = None,
                 use_running_stats: bool = False) -> dict[str, float]:
        """Quality of n (default eval.n_samples) samples of G (nz default model.nz) from fixed latents.

        G runs in train mode by default, i.e. BatchNorm with batch statistics, as DCGAN's reference code
        samples (and as D sees G during training); use_running_stats=True evaluates in eval mode instead.
        A private copy of G does the sampling, so G's mode, parameters and buffers (BN running stats)
        are untouched, and so is the global RNG.
        """
        n, nz = n or self.cfg.eval.n_samples, nz or self.cfg.model.nz
        g = _local_copy(G).train(not use_running_stats)
        g_device = next(itertools.chain(g.parameters(), g.buffers()), torch.empty(0, device=self.device)).device
        z_gen = torch.Generator().manual_seed(EVAL_SEED)  # CPU: the same latents on every device
        sizes = [min(self.cfg.eval.batch_size, n - i) for i in range(0, n, self.cfg.eval.batch_size)]
        with torch.no_grad():
            fakes = (g(torch.randn(b, nz, 1, 1, generator=z_gen).to(g_device)) for b in sizes)
            feats, logits, is_logits = self.embed(fakes)
        return self.metrics(feats, logits, is_logits)


def _local_copy(G: nn.Module) -> nn.Module:
    """A detached copy of G without DDP / torch.compile wrappers and with SyncBatchNorm as BatchNorm2d:
    only rank 0 evaluates, so nothing may wait on a collective."""
    g = getattr(G, "module", G)
    g = copy.deepcopy(getattr(g, "_orig_mod", g))

    def revert(m: nn.Module) -> nn.Module:
        if isinstance(m, nn.SyncBatchNorm):
            bn = nn.BatchNorm2d(m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats)
            bn.load_state_dict(m.state_dict())
            return bn.to(next(itertools.chain(m.buffers(), m.parameters())).device)
        for name, child in m.named_children():
            setattr(m, name, revert(child))
        return m

    return revert(g).requires_grad_(False)


def reference_floor(cfg: RunConfig, device: torch.device | str = "cpu",
                    evaluator: Evaluator | None = None) -> dict[str, float]:
    """The metrics of min(eval.n_samples, N_train) real train images against the test split (`quality/ref/...`).

    What a perfect generator would score at this sample size; cached on disk per dataset, size and features.
    """
    n = cfg.eval.n_samples
    path = cache_dir(cfg.data) / f"reference-{_cache_key(cfg.data)}-{cfg.eval.features}-n{n}.json"
    with _locked(path):
        if path.is_file():
            return json.loads(path.read_text())
        ev = evaluator or Evaluator(cfg, device)
        train = load_split(cfg.data, train=True)
        idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(EVAL_SEED))[:n]
        images = train.images[idx]
        out = ev.metrics(*ev.embed(to_float(b) for b in images.split(cfg.eval.batch_size)),
                         prefix="quality/ref/")
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(out, indent=1))
        tmp.replace(path)
    return out


########################################################################################
# `gan eval DIR`


def _strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys saved from a DDP ("module.") or torch.compile ("_orig_mod.") wrapper -> plain module keys."""
    out = {}
    for k, v in state.items():
        for p in ("module.", "_orig_mod."):
            k = k[len(p):] if k.startswith(p) else k
        out[k] = v
    return out


def format_table(row: dict[str, float], floor: dict[str, float]) -> str:
    """Aligned text table: metric, value, real-data floor."""
    lines = [f"{'metric':<24}{'value':>12}{'real floor':>14}"]
    for key, value in row.items():
        ref = floor.get(key.replace("quality/", "quality/ref/", 1), math.nan)
        lines.append(f"{key:<24}{value:>12.4f}{ref:>14.4f}")
    return "\n".join(lines)


def eval_run(run_dir: str | Path, overrides: list[str] | None = None) -> int:
    """`gan eval DIR [key=value ...]`: metrics of DIR/checkpoints/last.pt, printed and written to DIR/eval.json."""
    from gan.checkpoint import find_checkpoint, load_checkpoint
    from gan.config import apply_overrides, config_from_dict, config_to_dict
    from gan.models import build_models

    ckpt_path = find_checkpoint(run_dir)
    run_dir = Path(run_dir) if Path(run_dir).is_dir() else ckpt_path.parent.parent
    ckpt = load_checkpoint(ckpt_path)
    cfg = apply_overrides(config_from_dict(ckpt["config"]), list(overrides or []))
    device = resolve_device(cfg.train.device)
    ev = Evaluator(cfg, device)
    G, _ = build_models(cfg.model, ev.nc, cfg.data.image_size)
    try:
        G.load_state_dict(_strip_prefixes(ckpt["G"]))
    except RuntimeError:
        raise UserError(f"checkpoint '{ckpt_path}' does not fit the generator of this config; "
                        "do not override model.* keys in `gan eval`") from None
    G.to(device)
    row = ev.evaluate(G, cfg.model.nz)
    floor = reference_floor(cfg, device, evaluator=ev)
    step = int(ckpt.get("step", -1))
    acc = ev.classifier_meta.get("test_acc", math.nan)
    print(f"{run_dir}: step {step}, {cfg.eval.n_samples} samples, features={cfg.eval.features} "
          f"(classifier test accuracy {acc:.4f})")
    print(format_table(row, floor))
    result = {"step": step, "checkpoint": str(ckpt_path), "n_samples": cfg.eval.n_samples,
              "features": cfg.eval.features, "classifier": ev.classifier_meta, "metrics": row,
              "reference": floor, "config": config_to_dict(cfg)}
    tmp = run_dir / "eval.json.tmp"
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(run_dir / "eval.json")
    return 0
