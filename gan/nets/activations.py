"""Activation registry: spec string -> factory that builds a fresh nn.Module per layer.

Specs: relu, leaky_relu[:slope] (default slope 0.2), prelu, elu, gelu, silu, tanh.
Each layer calls the factory itself (probe hooks need distinct modules) and nothing is in-place
(backward hooks break on in-place outputs).
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from gan.errors import UserError

ActivationFactory = Callable[[], nn.Module]

DEFAULT_LEAKY_SLOPE = 0.2

# name -> (module builder taking the optional numeric argument, whether the argument is allowed)
_REGISTRY: dict[str, Callable[[float | None], nn.Module]] = {
    "relu": lambda _: nn.ReLU(inplace=False),
    "leaky_relu": lambda slope: nn.LeakyReLU(DEFAULT_LEAKY_SLOPE if slope is None else slope, inplace=False),
    "prelu": lambda init: nn.PReLU(init=0.25 if init is None else init),
    "elu": lambda alpha: nn.ELU(1.0 if alpha is None else alpha, inplace=False),
    "gelu": lambda _: nn.GELU(),
    "silu": lambda _: nn.SiLU(inplace=False),
    "tanh": lambda _: nn.Tanh(),
}
_TAKES_ARGUMENT = {"leaky_relu", "prelu", "elu"}

ACTIVATIONS: tuple[str, ...] = tuple(_REGISTRY)
ACTIVATION_TYPES: tuple[type[nn.Module], ...] = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh)
VALID_SPECS = "relu, leaky_relu:<slope> (e.g. leaky_relu:0.2), prelu, elu, gelu, silu, tanh"


def parse_activation(spec: str, key: str = "activation") -> tuple[str, float | None]:
    """'leaky_relu:0.1' -> ('leaky_relu', 0.1); raises UserError naming the valid specs."""
    name, sep, arg = str(spec).strip().partition(":")
    if name not in _REGISTRY:
        raise UserError(f"config key '{key}' has unknown activation '{spec}'; valid: {VALID_SPECS}")
    if not sep:
        return name, None
    if name not in _TAKES_ARGUMENT:
        raise UserError(f"config key '{key}': activation '{name}' takes no argument (got '{spec}'); valid: {VALID_SPECS}")
    try:
        value = float(arg)
    except ValueError:
        raise UserError(f"config key '{key}': '{arg}' in '{spec}' is not a number; write e.g. leaky_relu:0.2") from None
    if name == "leaky_relu" and not 0.0 <= value < 1.0:
        raise UserError(f"config key '{key}': leaky_relu slope must be in [0, 1), got {value}")
    if value != value or value in (float("inf"), float("-inf")):
        raise UserError(f"config key '{key}': '{spec}' needs a finite number")
    return name, value


def activation_factory(spec: str) -> ActivationFactory:
    """A zero-argument callable building a new, not in-place, module for `spec` each call."""
    name, arg = parse_activation(spec)
    build = _REGISTRY[name]
    return lambda: build(arg)


def is_relu_like(spec: str) -> bool:
    """True for relu (exactly-zero gradient on negatives), the arm the folklore warns about."""
    return parse_activation(spec)[0] == "relu"
