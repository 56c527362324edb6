import pytest
import torch
from torch import nn

from gan.config.load import load_config
from gan.nets.models import ConvBlock, build_models


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("nc", [1, 3])
def test_shapes(size, nc):
    cfg = load_config(None, ["model.ngf=8", "model.ndf=8", "model.nz=16"])
    G, D = build_models(cfg.model, nc, size)
    x = G(torch.randn(5, 16, 1, 1))
    assert x.shape == (5, nc, size, size)
    assert x.min() >= -1 and x.max() <= 1
    assert D(x).shape == (5,)


def test_dcgan_init_statistics():
    cfg = load_config(None, [])
    G, D = build_models(cfg.model, 3, 64)
    w = torch.cat([m.weight.flatten() for m in D.modules() if isinstance(m, nn.Conv2d)])
    assert abs(w.mean().item()) < 1e-3 and abs(w.std().item() - 0.02) < 1e-3
    gamma = torch.cat([m.weight for m in G.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(gamma.mean().item() - 1.0) < 5e-3 and abs(gamma.std().item() - 0.02) < 5e-3


def test_layer_names_and_no_norm_on_first_layer():
    cfg = load_config(None, ["model.d_extra_layers=2", "model.ngf=8", "model.ndf=8"])
    G, D = build_models(cfg.model, 1, 32)
    assert [n for n, _ in D.blocks.named_children()] == ["conv1", "conv2", "conv3", "extra1", "extra2"]
    assert [n for n, _ in G.blocks.named_children()] == ["block1", "block2", "block3"]
    assert isinstance(D.blocks.conv1.norm, nn.Identity)
    assert all(isinstance(b, ConvBlock) for b in D.blocks)


def test_d_norm_none_has_no_normalization():
    cfg = load_config(None, ["model.d_norm=none", "model.ngf=8", "model.ndf=8"])
    _, D = build_models(cfg.model, 1, 32)
    norm_types = (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d)
    assert not any(isinstance(m, norm_types) for m in D.modules())
    assert not any("parametrizations" in n for n, _ in D.named_modules())


def test_spectral_norm_unit_singular_value():
    cfg = load_config(None, ["model.d_norm=spectral", "model.ngf=8", "model.ndf=8"])
    _, D = build_models(cfg.model, 1, 32)
    D.train()
    x = torch.randn(8, 1, 32, 32)
    for _ in range(30):  # power iterations run on every training-mode forward
        D(x)
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 4
    for m in convs:
        w = m.weight.detach().flatten(1)  # (C_out, C_in*k*k): what spectral_norm normalizes
        assert torch.linalg.matrix_norm(w, ord=2).item() == pytest.approx(1.0, abs=0.02)
