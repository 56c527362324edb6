"""Activation specs, the grammar of `model.g_act` / `model.d_act`: names, an optional number, validation.

Specs: relu, leaky_relu[:slope] (default slope 0.2), prelu[:init], elu[:alpha], gelu, silu, tanh.
Torch-free on purpose: the config, `gan --help` and `gan config` import this, not torch. The modules each name
builds live in gan/nets/activations.py, keyed by the same names (a test checks the two agree).
"""

from __future__ import annotations

from gan.errors import UserError

DEFAULT_LEAKY_SLOPE = 0.2  # DCGAN's; the one owner of the default (nets and the claims' arms read it here)
ACTIVATIONS: tuple[str, ...] = ("relu", "leaky_relu", "prelu", "elu", "gelu", "silu", "tanh")
TAKES_ARGUMENT = frozenset({"leaky_relu", "prelu", "elu"})
VALID_SPECS = "relu, leaky_relu:<slope> (e.g. leaky_relu:0.2), prelu, elu, gelu, silu, tanh"


def parse_activation(spec: str, key: str = "activation") -> tuple[str, float | None]:
    """'leaky_relu:0.1' -> ('leaky_relu', 0.1); raises UserError naming the valid specs."""
    name, sep, arg = str(spec).strip().partition(":")
    if name not in ACTIVATIONS:
        raise UserError(f"config key '{key}' has unknown activation '{spec}'; valid: {VALID_SPECS}")
    if not sep:
        return name, None
    if name not in TAKES_ARGUMENT:
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


def is_relu_like(spec: str) -> bool:
    """True for relu (exactly-zero gradient on negatives), the arm the folklore warns about."""
    return parse_activation(spec)[0] == "relu"
