"""Sample quality: FCD / KID / IS / PRDC / class coverage in the features of the network eval.features names
(gan/measure/features.py: the dataset classifier, rotation features for unlabelled data, or Inception-v3).

    ev = Evaluator(cfg, device)          # loads (or trains once) the feature network, embeds the real test split
    row = ev.evaluate(G, cfg.model.nz)   # quality/fcd, quality/kid, ... -> float (names: gan/measure/metric_keys.py)
    floor = reference_floor(cfg, evaluator=ev)   # the same metrics, real train images vs the test split,
                                                 # and the same images blurred (sigma 1): quality/ref/fcd_blur1

Metric definitions (docs/metrics.md "Sample quality"; `quality_metrics` is the pure core, pinned by tests):
- fcd: Frechet distance between Gaussians fitted to classifier features (torchmetrics FID math).
- kid, kid_std: polynomial-kernel MMD^2 over random subsets (torchmetrics KID), mean and std.
- is: exp(E_x KL(p(y|x) || p(y))) of the classifier's softmax on fakes (torchmetrics IS, 10 splits).
- precision, recall, density, coverage: prdc (Naeem et al. 2020), k = 5, <= 10k fakes vs an equal real subset.
- modes_covered: classes c whose predicted share p_c = #{argmax = c} / N is >= 1 / (4C).
- class_kl: KL(p || uniform) = sum_c p_c log(C p_c); 0 for balanced classes, log C for a single class.
With eval.features=inception, fcd/kid/is/prdc use torchmetrics' Inception-v3 (2048-d pool, 1008 logits)
and `quality/fcd` is named `quality/fid`; the class metrics still use the dataset classifier.
Class metrics need a classifier of the data's real classes: with rotation features (their logits are the four
rotations) IS, modes_covered and class_kl are absent from every row, and with Inception on unlabelled data
modes_covered and class_kl are; never computed from logits that mean nothing.
"""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
import json
import math
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import torch
import torch.nn as nn
from torchvision.transforms.functional import gaussian_blur

from gan.train import distributed
from gan.measure import metric_keys as mk
from gan.measure.classifier import Classifier, cache_dir, cache_key, state_hash
from gan.measure.features import load_features
from gan.config.schema import RunConfig
from gan.data.dataset import load_split
from gan.data.images import to_float, to_uint8
from gan.errors import UserError
from gan.files.atomic import write_atomic, write_json_atomic
from gan.files.lock import wait_lock
from gan.files.layout import RunDir, reference_cache_name, shipped_cache_file
from gan.nets.sampling import generate

EVAL_SEED = 12345  # latent vectors and metric subsets: the same for every evaluation of every run
# Under torchrun only rank 0 evaluates: torchmetrics' compute() would all-gather its state across ranks and
# wait for peers that never call it (gloo: "Connection closed by peer"). The metrics here are rank-local.
RANK_LOCAL = {"sync_on_compute": False, "dist_sync_on_step": False}
MIN_SAMPLES = 2048  # below this Frechet / kernel distances are visibly biased
PRDC_MAX = 10_000  # prdc's three N x N float32 distance matrices: 1.2 GB at 10k, 30 GB at 50k
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
BLUR_SIGMA1 = {"kernel_size": 7, "sigma": 1.0}  # the feature sanity check's mildest corruption, and the floor's anchor


def blur_sigma1(x: torch.Tensor) -> torch.Tensor:
    """Float images (N, C, S, S) blurred with a Gaussian of sigma 1 (7x7 kernel): real images anyone would call
    near the data (gan/measure/rotation_features.py's sanity ranking; the real-data floor's anchor)."""
    return gaussian_blur(x, **BLUR_SIGMA1)

########################################################################################
# the other feature network: Inception-v3 (eval.features=inception)


def load_inception(device: torch.device | str = "cpu", weights: str | None = None) -> nn.Module:
    """torchmetrics' Inception-v3 (2048-d pool features) from `weights` (a local file; None: $GAN_INCEPTION_WEIGHTS,
    else the torch hub cache or a download); UserError when torch-fidelity or the weights are missing."""
    weights = weights or os.environ.get("GAN_INCEPTION_WEIGHTS")
    if weights and not Path(weights).expanduser().is_file():
        raise UserError(f"eval.inception_weights '{weights}' is not a file; pass the path of the Inception-v3 "
                        f"weights ({INCEPTION_FILE}) or use eval.features=auto")
    how = ("eval.features=inception needs torch-fidelity and its Inception weights: `pip install torch-fidelity` "
           f"and run once online (or put {INCEPTION_FILE} in $TORCH_HOME/hub/checkpoints, or set "
           "eval.inception_weights to its path), or use eval.features=classifier")
    try:
        from torchmetrics.image.fid import NoTrainInceptionV3
        import torch_fidelity  # noqa: F401
    except ImportError:
        raise UserError(how) from None
    try:
        net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                                 feature_extractor_weights_path=str(Path(weights).expanduser()) if weights else None)
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
    fid = FrechetInceptionDistance(feature=_Given(real.shape[1]), **RANK_LOCAL)
    fid.update(real, real=True)
    fid.update(fake, real=False)
    return float(fid.compute())


def kernel_distance(real: torch.Tensor, fake: torch.Tensor, seed: int = EVAL_SEED) -> tuple[float, float]:
    """(mean, std) of the cubic-polynomial-kernel MMD^2 over 100 subsets of min(1000, N) (torchmetrics KID)."""
    from torchmetrics.image.kid import KernelInceptionDistance
    with warnings.catch_warnings(), _seeded(seed):
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        kid = KernelInceptionDistance(feature=_Given(real.shape[1]),
                                      subset_size=min(1000, len(real), len(fake)), **RANK_LOCAL)
        kid.update(real, real=True)
        kid.update(fake, real=False)
        mean, std = kid.compute()
    return float(mean), float(std)


def inception_score(logits: torch.Tensor, seed: int = EVAL_SEED) -> float:
    """exp(E KL(p(y|x) || p(y))) from logits (N, C), mean over 10 splits (torchmetrics IS)."""
    from torchmetrics.image.inception import InceptionScore
    with warnings.catch_warnings(), _seeded(seed):
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        metric = InceptionScore(feature=_Given(logits.shape[1]), splits=min(10, len(logits)), **RANK_LOCAL)
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


def quality_metrics(real_feats: torch.Tensor, fake_feats: torch.Tensor, fake_logits: torch.Tensor | None, *,
                    is_logits: torch.Tensor | None = None, nearest_k: int = 5, seed: int = EVAL_SEED,
                    prefix: str = mk.QUALITY, distance_name: str = "fcd") -> dict[str, float]:
    """All sample-quality numbers from features (N, D) and classifier logits (N_fake, C); pure and seeded.

    fake_logits: a classifier's logits over the data's real classes, or None when the feature network is no such
    classifier: then `is` (unless is_logits is given), `modes_covered` and `class_kl` are absent from the result.
    is_logits: logits for the Inception Score when they differ from fake_logits (Inception features).
    Leaves the global RNG untouched; NaN everywhere when a fake feature is not finite (diverged G).
    """
    real = real_feats.detach().float().cpu()
    fake = fake_feats.detach().float().cpu()
    logits = None if fake_logits is None else fake_logits.detach().float().cpu()
    is_logits = logits if is_logits is None else is_logits.detach().float().cpu()
    keys = [distance_name, "kid", "kid_std", *["is"] * (is_logits is not None), "precision", "recall", "density",
            "coverage", *["modes_covered", "class_kl"] * (logits is not None)]
    if not all(torch.isfinite(t).all() for t in (fake, logits, is_logits) if t is not None):
        return {prefix + k: math.nan for k in keys}
    n = min(len(real), len(fake))
    if n < nearest_k + 2:  # prdc's k-th neighbour, self excluded (config.EVAL_MIN_SAMPLES for k = 5)
        raise ValueError(f"quality metrics need at least {nearest_k + 2} real and fake samples, "
                         f"got {len(real)} and {len(fake)}")
    if n < MIN_SAMPLES:
        warnings.warn(f"quality metrics from {n} samples (< {MIN_SAMPLES}) are biased (FCD most); "
                      "compare runs only at equal eval.n_samples", stacklevel=2)
    out = {distance_name: frechet_distance(real, fake)}
    out["kid"], out["kid_std"] = kernel_distance(real, fake, seed)
    if is_logits is not None:
        out["is"] = inception_score(is_logits, seed)
    out.update(prdc_metrics(real, fake, nearest_k, seed))
    if logits is not None:
        out["modes_covered"], out["class_kl"] = class_coverage(logits)
    return {prefix + k: out[k] for k in keys}


########################################################################################
# evaluating a generator


class Evaluator:
    """The feature network(s) and the real test split's features, built once per run.

    `classifier` / `real_images` (uint8 (N, C, S, S)) replace the cache and the dataset (tests, benchmarks);
    `classes=False` says the given network's logits are not over real classes (no class metrics).
    """

    def __init__(self, cfg: RunConfig, device: torch.device | str = "cpu", *,
                 classifier: Classifier | None = None, real_images: torch.Tensor | None = None,
                 classes: bool = True):
        self.cfg, self.device = cfg, torch.device(device)
        if classifier is None:
            fn = load_features(cfg, self.device)
            self.kind, classifier, self.classifier_meta, self.classes = fn.kind, fn.net, fn.meta, fn.classes
        else:  # a given network (tests, benchmarks) is identified by its weights just the same
            self.kind = "inception" if cfg.eval.features == "inception" else "classifier" if classes else "rotation"
            self.classifier_meta, self.classes = {"sha256": state_hash(classifier.state_dict())}, classes
        self.classifier = (None if classifier is None else
                           classifier.eval().fused().to(self.device, memory_format=torch.channels_last))
        self.inception = (load_inception(self.device, cfg.eval.inception_weights) if self.kind == "inception"
                          else None)
        if self.classifier is None:  # Inception alone (data without classes): identified by its own weights
            self.classifier_meta = {"sha256": state_hash(self.inception.state_dict())}
        self.distance_name = "fid" if self.inception is not None else "fcd"
        if real_images is None:
            real_images = load_split(cfg.data, train=False).images
        self.nc = real_images.shape[1]
        self.real_feats, _, _ = self.embed(to_float(b) for b in real_images.split(cfg.eval.batch_size))

    def classifier_record(self) -> dict[str, object]:
        """What a run's summary.json records of its feature network ("classifier" block -> results.csv
        `classifier/hash`): FCDs measured by two classifiers do not compare."""
        return {"hash": "sha256:" + self.classifier_meta["sha256"], "test_acc": self.classifier_meta.get("test_acc")}

    @torch.inference_mode()
    def embed(self, batches: Iterable[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Float batches (B, C, S, S) in [-1, 1] -> CPU (features (N, D), logits over the data's classes (N, K)
        or None when the network has none (rotation features), Inception logits (N, 1008) or None)."""
        feats, logits, is_logits = [], [], []
        for x in batches:
            x = x.to(self.device).float().contiguous(memory_format=torch.channels_last)
            f, lg = self.classifier.features_and_logits(x) if self.classifier is not None else (None, None)
            if self.classes:
                logits.append(lg.float().cpu())
            if self.inception is not None:
                u8 = to_uint8(x).expand(-1, 3, -1, -1)  # gray -> RGB; torchmetrics resizes to 299
                f = self.inception(u8)  # (B, 2048)
                is_logits.append((f @ self.inception.fc.weight.T).float().cpu())  # "logits_unbiased"
            feats.append(f.float().cpu())
        return (torch.cat(feats), torch.cat(logits) if logits else None,  # no class logits: no class metrics
                torch.cat(is_logits) if is_logits else None)

    def metrics(self, fake_feats: torch.Tensor, fake_logits: torch.Tensor | None, is_logits: torch.Tensor | None,
                prefix: str = mk.QUALITY) -> dict[str, float]:
        return quality_metrics(self.real_feats, fake_feats, fake_logits, is_logits=is_logits, prefix=prefix,
                               distance_name=self.distance_name)

    def evaluate(self, G: nn.Module, nz: int | None = None, n: int | None = None) -> dict[str, float]:
        """Quality of n (default eval.n_samples) samples of G (nz default model.nz) from fixed latents.

        G samples as it trains (BatchNorm on batch statistics, as in DCGAN's reference code and as D sees
        it), but through a private copy without DDP / torch.compile wrappers: G's mode, parameters and
        buffers are untouched, and so is the global RNG.
        """
        n, nz, bs = n or self.cfg.eval.n_samples, nz or self.cfg.model.nz, self.cfg.eval.batch_size
        g = copy.deepcopy(distributed.unwrap(G)).requires_grad_(False)
        g_device = next(itertools.chain(g.parameters(), g.buffers()), torch.empty(0, device=self.device)).device
        z_gen = torch.Generator().manual_seed(EVAL_SEED)  # CPU: the same latents on every device
        # one draw per batch (not one of n, then split): the latents every earlier evaluation used
        z = torch.cat([torch.randn(min(bs, n - i), nz, 1, 1, generator=z_gen) for i in range(0, n, bs)])
        # one batch of images in memory at a time; BatchNorm statistics per batch of eval.batch_size
        feats, logits, is_logits = self.embed(generate(g, zb.to(g_device), bs) for zb in z.split(bs))
        return self.metrics(feats, logits, is_logits)


def reference_floor(cfg: RunConfig, device: torch.device | str = "cpu",
                    evaluator: Evaluator | None = None) -> dict[str, float]:
    """The metrics of min(eval.n_samples, N_train) real train images against the test split (`quality/ref/...`),
    and the Frechet distance of the same images blurred with a Gaussian of sigma 1 (`quality/ref/fcd_blur1`, or
    `fid_blur1` with Inception): what a perfect generator would score at this sample size, and what real images
    anyone would call near the data score.

    Cached on disk per dataset, size, features and classifier (its sha256 is in the file name). A cached floor
    without the blur anchor (written before it was measured) keeps every value it has; only the anchor is measured
    and added to the file.
    """
    n = cfg.eval.n_samples
    if evaluator is None:
        fn = load_features(cfg, device)  # the floor may be cached: no need to embed the test split to find it
        if fn.net is None:  # Inception alone: identified by its weights, which the Evaluator loads
            evaluator = Evaluator(cfg, device)
            digest, kind = evaluator.classifier_meta["sha256"], evaluator.kind
        else:
            digest, kind = fn.meta["sha256"], fn.kind
    else:
        digest, kind = evaluator.classifier_meta["sha256"], evaluator.kind
    # keyed by the classifier's hash: a floor is only valid for the feature network that measured it
    path = cache_dir(cfg.data) / reference_cache_name(cache_key(cfg.data), kind, n, digest)
    with wait_lock(path):
        if not path.is_file() and (shipped := shipped_cache_file(path)) is not None:
            # the floor the committed studies were measured against (its name carries the classifier's hash and
            # n): copied in, then read and checked below as any cache file is
            with contextlib.suppress(OSError):
                write_atomic(path, lambda f: f.write(shipped.read_bytes()))
        cached = _read_floor(path)
        anchor = mk.blurred_reference(mk.FID if kind == "inception" else mk.FCD)
        if cached is not None and anchor in cached:
            return cached
        ev = evaluator or Evaluator(cfg, device)
        train = load_split(cfg.data, train=True)
        idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(EVAL_SEED))[:n]
        images = train.images[idx]
        batches = images.split(cfg.eval.batch_size)
        out = cached if cached is not None else ev.metrics(*ev.embed(to_float(b) for b in batches),
                                                            prefix=mk.QUALITY_REF)
        blurred, _, _ = ev.embed(blur_sigma1(to_float(b)) for b in batches)
        out = {**out, anchor: frechet_distance(ev.real_feats, blurred)}
        write_json_atomic(path, out, indent=1)
    return out


def _read_floor(path: Path) -> dict[str, float] | None:
    """A floor cache file's values; None when there is none, or (with a warning) when it is damaged."""
    if not path.is_file():
        return None
    try:
        cached = json.loads(path.read_text())
        if isinstance(cached, dict) and all(isinstance(v, (int, float)) for v in cached.values()):
            return cached
        raise ValueError("not a mapping of metric values")
    except (OSError, ValueError) as err:  # truncated or foreign file: the cache is ours to rebuild
        warnings.warn(f"ignoring damaged real-data floor cache '{path}' ({err.__class__.__name__}); "
                      "computing it again", stacklevel=3)
    return None
