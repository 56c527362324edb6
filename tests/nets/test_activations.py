import pytest
import torch
from torch import nn

from gan.config.activations import ACTIVATIONS, parse_activation
from gan.nets.activations import MODULES, activation_factory
from gan.config.load import load_config
from gan.nets.models import build_models


@pytest.mark.parametrize("spec", ["relu", "leaky_relu", "leaky_relu:0.01", "prelu", "elu", "gelu", "silu", "tanh"])
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
    assert set(ACTIVATIONS) == {"relu", "leaky_relu", "prelu", "elu", "gelu", "silu", "tanh"} == set(MODULES)


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
