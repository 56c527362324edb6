"""Activation specs, the grammar of `model.g_act` / `model.d_act`: names, an optional number, validation.

ACTIVATION_KINDS is the one list: every name, spec, valid-values text and check below derives from it. A spec is a
name, or name:<number> for a kind that takes one (leaky_relu:0.1; the number's default is the module's own).
Torch-free on purpose: the config, `gan --help` and `gan config` import this, not torch. The module each name builds
lives in gan/nets/activations.py, keyed by the same names (tests/nets/test_activations.py checks the two agree).
"""

from __future__ import annotations

from dataclasses import dataclass

from gan.errors import UserError

DEFAULT_LEAKY_SLOPE = 0.2  # DCGAN's; the one owner of the default (nets and the claims' arms read it here)


@dataclass(frozen=True)
class Activation:
    name: str
    argument: str = ""  # what the optional number after ':' sets ("": the kind takes none)
    valid: tuple[float, float] | None = None  # [low, high): the range that number must lie in (None: any finite)

    @property
    def spec(self) -> str:
        """How `gan config` and the errors write it: 'relu', 'leaky_relu:<slope>'."""
        return f"{self.name}:<{self.argument}>" if self.argument else self.name


ACTIVATION_KINDS: tuple[Activation, ...] = (
    Activation("relu"),
    Activation("leaky_relu", "slope", (0.0, 1.0)),
    Activation("prelu", "init"),
    Activation("elu", "alpha"),
    Activation("gelu"),
    Activation("silu"),
    Activation("tanh"),
    Activation("mish"),
)
KINDS = {a.name: a for a in ACTIVATION_KINDS}
ACTIVATIONS: tuple[str, ...] = tuple(KINDS)
SPECS: tuple[str, ...] = tuple(a.spec for a in ACTIVATION_KINDS)  # the config's valid values for g_act / d_act
VALID_SPECS = f"{', '.join(SPECS)} (e.g. leaky_relu:{DEFAULT_LEAKY_SLOPE})"


def parse_activation(spec: str, key: str = "activation") -> tuple[str, float | None]:
    """'leaky_relu:0.1' -> ('leaky_relu', 0.1); raises UserError naming the valid specs."""
    name, sep, arg = str(spec).strip().partition(":")
    if name not in KINDS:
        raise UserError(f"config key '{key}' has unknown activation '{spec}'; valid: {VALID_SPECS}")
    if not sep:
        return name, None
    kind = KINDS[name]
    if not kind.argument:
        raise UserError(f"config key '{key}': activation '{name}' takes no argument (got '{spec}'); valid: {VALID_SPECS}")
    try:
        value = float(arg)
    except ValueError:
        raise UserError(f"config key '{key}': '{arg}' in '{spec}' is not a number; write e.g. leaky_relu:0.2") from None
    if kind.valid and not kind.valid[0] <= value < kind.valid[1]:
        raise UserError(f"config key '{key}': {name} {kind.argument} must be in [{kind.valid[0]:g}, "
                        f"{kind.valid[1]:g}), got {value}")
    if value != value or value in (float("inf"), float("-inf")):
        raise UserError(f"config key '{key}': '{spec}' needs a finite number")
    return name, value
