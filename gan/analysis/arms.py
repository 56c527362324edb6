"""The arms the claims compare: ReLU and a LeakyReLU slope, parsed from `model.d_act` by the activation registry."""

from __future__ import annotations

from typing import Any, Sequence

from gan.config import activations
from gan.config.activations import parse_activation
from gan.errors import UserError

RELU = "relu"


def leaky_slope(act: Any) -> float | None:
    """'leaky_relu:0.1' -> 0.1, 'leaky_relu' -> the registry's default slope, anything else -> None."""
    try:
        name, arg = parse_activation(str(act))
    except UserError:
        return None
    # the default is read from the registry at call time: a bare `leaky_relu` arm is the slope the model used
    return (activations.DEFAULT_LEAKY_SLOPE if arg is None else arg) if name == "leaky_relu" else None


def slope(act: Any) -> float | None:
    """Claim 7's x: 0 for relu, the slope for leaky_relu, None otherwise."""
    try:
        return 0.0 if parse_activation(str(act))[0] == RELU else leaky_slope(act)
    except UserError:
        return None


def pick_leaky(acts: Sequence[Any]) -> str | None:
    """The LeakyReLU arm the claims compare with ReLU: slope 0.2, else the slope closest to 0.2."""
    leaky = [a for a in acts if leaky_slope(a) is not None]
    target = activations.DEFAULT_LEAKY_SLOPE  # DCGAN's 0.2
    return min(leaky, key=lambda a: (abs(leaky_slope(a) - target), leaky_slope(a)), default=None)
