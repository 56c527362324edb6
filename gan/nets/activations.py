"""Activation modules: spec string (gan/config/activations.py's grammar) -> a factory of fresh nn.Modules.

MODULES holds one builder per name of gan/config/activations.py's ACTIVATION_KINDS (a test checks they agree).

Each layer calls the factory itself (probe hooks need distinct modules) and nothing is in-place
(backward hooks break on in-place outputs).
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from gan.config import activations as specs

ActivationFactory = Callable[[], nn.Module]

# name -> module builder taking the optional numeric argument (None: the default)
MODULES: dict[str, Callable[[float | None], nn.Module]] = {
    "relu": lambda _: nn.ReLU(inplace=False),
    # the default slope is read at build time from its one owner, gan.config.activations
    "leaky_relu": lambda slope: nn.LeakyReLU(specs.DEFAULT_LEAKY_SLOPE if slope is None else slope, inplace=False),
    "prelu": lambda init: nn.PReLU(init=0.25 if init is None else init),
    "elu": lambda alpha: nn.ELU(1.0 if alpha is None else alpha, inplace=False),
    "gelu": lambda _: nn.GELU(),
    "silu": lambda _: nn.SiLU(inplace=False),
    "tanh": lambda _: nn.Tanh(),
    "mish": lambda _: nn.Mish(inplace=False),
}


def activation_factory(spec: str) -> ActivationFactory:
    """A zero-argument callable building a new, not in-place, module for `spec` each call."""
    name, arg = specs.parse_activation(spec)
    build = MODULES[name]
    return lambda: build(arg)
