import pytest
import torch
from torch import nn

from gan.config.activations import ACTIVATION_KINDS, ACTIVATIONS, SPECS, VALID_SPECS, parse_activation
from gan.config.schema import FIELDS
from gan.errors import UserError
from gan.nets.activations import MODULES, activation_factory
from gan.config.load import load_config
from gan.nets.models import build_models


@pytest.mark.parametrize("spec", [*ACTIVATIONS, "leaky_relu:0.01"])
def test_each_call_builds_a_new_not_inplace_module(spec):
    make = activation_factory(spec)
    a, b = make(), make()
    assert a is not b and type(a) is type(b)
    assert not getattr(a, "inplace", False)
    x = torch.randn(4, 3)
    before = x.clone()
    y = a(x)
    assert y.shape == x.shape and torch.equal(x, before)  # the input is untouched: not in-place


def test_leaky_default_slope():
    assert parse_activation("leaky_relu") == ("leaky_relu", None)
    assert activation_factory("leaky_relu")().negative_slope == 0.2


def test_one_list_names_every_activation_and_every_module():
    """gan/config/activations.py's ACTIVATION_KINDS is the list: the names, the config's valid values, the error
    text and the modules all come from it (a kind without a module, or a module without a kind, fails here)."""
    assert ACTIVATIONS == tuple(a.name for a in ACTIVATION_KINDS) and set(ACTIVATIONS) == set(MODULES)
    assert {"relu", "leaky_relu", "prelu", "elu", "gelu", "silu", "tanh"} <= set(ACTIVATIONS)
    assert FIELDS["model.d_act"].metadata["choices"] == FIELDS["model.g_act"].metadata["choices"] == SPECS
    assert SPECS[:2] == ("relu", "leaky_relu:<slope>") and all(s.split(":")[0] in VALID_SPECS for s in SPECS)
    for kind in ACTIVATION_KINDS:  # a kind that takes a number builds with it, one that does not refuses it
        if kind.argument:
            assert parse_activation(f"{kind.name}:0.5") == (kind.name, 0.5)
            assert isinstance(activation_factory(f"{kind.name}:0.5")(), nn.Module)
        else:
            with pytest.raises(UserError, match="takes no argument"):
                parse_activation(f"{kind.name}:0.5")


def test_d_act_reaches_only_d_and_every_layer_has_its_own_instance():
    cfg = load_config(None, ["model.d_act=leaky_relu:0.1", "model.g_act=relu", "model.d_extra_layers=2",
                             "model.ngf=8", "model.ndf=8"])
    G, D = build_models(cfg.model, 1, 32)
    d_acts = [m for m in D.modules() if isinstance(m, (nn.ReLU, nn.LeakyReLU))]
    assert not any(isinstance(m, nn.ReLU) for m in D.modules())
    assert len(d_acts) == 3 + 2 and all(m.negative_slope == 0.1 for m in d_acts)
    assert len({id(m) for m in d_acts}) == len(d_acts)
    g_acts = [m for m in G.modules() if isinstance(m, (nn.ReLU, nn.LeakyReLU))]
    assert g_acts and all(type(m) is nn.ReLU for m in g_acts)
    assert len({id(m) for m in g_acts}) == len(g_acts)


def test_mish_trains_a_step_and_the_config_accepts_it(tmp_path):
    """The activation recipe done for mish (docs/architecture.md): the config takes model.d_act=mish, every D layer
    gets its own nn.Mish, and a run of one step completes with D's weights moved."""
    from conftest import TINY
    from gan.tracking.tracker import Tracker
    from gan.train.loop import train
    from gan.train.run import build_run

    cfg = load_config(None, TINY + ["model.d_act=mish", "train.steps=1"])
    assert cfg.model.d_act == "mish" and "mish" in FIELDS["model.d_act"].metadata["choices"]
    run = build_run(cfg, tmp_path)
    mish = [m for m in run.D.modules() if isinstance(m, nn.Mish)]
    assert len(mish) == 3 and len({id(m) for m in mish}) == 3 and not any(m.inplace for m in mish)
    before = [p.detach().clone() for p in run.D.parameters()]
    assert train(run, Tracker(cfg, tmp_path, enabled=False)) == "completed"
    assert any(not torch.equal(a, b) for a, b in zip(before, run.D.parameters()))
