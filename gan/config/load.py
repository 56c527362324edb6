"""Reading a run config: defaults <- a YAML file (only what differs) <- dotted `key=value` overrides, validated.

    cfg = load_config("configs/fashion_mnist.yaml", ["model.d_act=leaky_relu:0.1", "train.seed=3"])

Every user mistake (unknown key, wrong type, bad value) raises `UserError` naming the key and what is valid;
the CLI turns it into one sentence and exit code 2. The keys themselves are gan/config/schema.py's.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from gan.config.activations import parse_activation
from gan.config.schema import (ACTIVATION_SPECS, DEVICES, EVAL_MIN_SAMPLES, FIELDS, KEYS, SECTIONS, RunConfig, get,
                               show_value)
from gan.errors import UserError
from gan.files.atomic import write_text_atomic
from gan.files.layout import RunDir
from gan.files.yaml_file import read_yaml_mapping


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


def edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (optimal string alignment): the fewest insertions, deletions, substitutions
    and swaps of two neighbouring characters that turn a into b. A swap counts as one edit, so
    edit_distance("nfd", "ndf") == 1 while edit_distance("nfd", "ngf") == 2."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def close_keys(word: str, candidates: typing.Iterable[str], n: int = 3) -> list[str]:
    """Up to n candidates within a few edits of word (2, or a quarter of its length when longer), closest first;
    ties keep the candidates' order."""
    limit = max(2, len(word) // 4)
    scored = [(edit_distance(word, c), i, c) for i, c in enumerate(candidates)]
    return [c for d, _, c in sorted(scored) if d <= limit][:n]


def _unknown_key(key: str, candidates: typing.Iterable[str] = KEYS) -> UserError:
    """One sentence: the unknown key and up to three close keys, or (none close) the keys it could have been."""
    candidates = list(candidates)
    close = close_keys(key, candidates)
    if not close and "." not in key:  # a key without its section: `steps` for `train.steps`
        close = [c for c in candidates if c.rsplit(".", 1)[-1] == key][:3]
    if close:
        quoted = [f"'{c}'" for c in close]
        hint = "did you mean " + (", ".join(quoted[:-1]) + " or " + quoted[-1] if len(quoted) > 1 else quoted[0]) + "?"
    else:
        section = key.split(".", 1)[0]
        in_section = [c for c in candidates if c.startswith(section + ".")]
        hint = (f"valid keys in '{section}' are: {', '.join(in_section)}" if "." in key and in_section
                else f"valid keys are: {', '.join(candidates)}")
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


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """['model.d_act=relu', 'train.seed=3'] -> {'model.d_act': 'relu', 'train.seed': 3} (values parsed as YAML)."""
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UserError(f"override '{item}' is not of the form key=value (e.g. model.d_act=relu)")
        try:
            parsed[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            parsed[key.strip()] = raw
    return parsed


def apply_overrides(cfg: RunConfig, overrides: dict[str, Any] | list[str]) -> RunConfig:
    """Return cfg with dotted keys replaced; strings in a list are `key=value` (value parsed as YAML)."""
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
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


def _choice(key: str, value: Any, choices: tuple[Any, ...]) -> None:
    if value not in choices:
        raise UserError(f"config key '{key}' is {show_value(value)!r}; valid values are: "
                        f"{', '.join(map(show_value, choices))}")


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


@dataclasses.dataclass(frozen=True)
class SavedConfig:
    """A run folder's config.yaml as loaded: the config, and the dotted keys the file itself names (a run older
    than a key has no line for it; `cfg` then holds the key's default)."""

    cfg: RunConfig
    named: frozenset[str]

    def settings(self) -> dict[str, Any]:
        """The keys the file names, with their loaded values, as plain YAML values (tuples as lists)."""
        return {k: v for k, v in _flatten(config_to_dict(self.cfg)).items() if k in self.named}


def read_run_config(run_dir: str | Path) -> SavedConfig | None:
    """A run folder's config.yaml through this loader; None when the run has none or it does not load (every
    reader then falls back on what it knew without it)."""
    path = RunDir(run_dir).config
    if not path.is_file():
        return None
    try:
        loaded = read_yaml_mapping(path, "run config")
        return SavedConfig(apply_overrides(RunConfig(), loaded), frozenset(_flatten(loaded)))
    except (UserError, OSError):
        return None


def save_config(cfg: RunConfig, path: Path) -> None:
    """Atomically (gan.files.atomic), so a kill mid-write never leaves a torn config.yaml."""
    write_text_atomic(path, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))


