"""DCGAN generator and discriminator (Radford et al. 2015) with swappable activations; `unwrap` finds them inside
DDP / torch.compile wrappers.

Native sizes 32x32 and 64x64; `nc` 1 or 3 channels. Every hidden layer is a `ConvBlock`
(conv -> norm -> act) holding its own activation instance, so probes can hook each layer by name.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from gan.nets.activations import activation_factory
from gan.config.schema import ModelConfig


class ConvBlock(nn.Module):
    """act(norm(conv(x))): the unit the probes instrument (`.act` input = pre-activation)."""

    def __init__(self, conv: nn.Module, norm: nn.Module, act: nn.Module):
        super().__init__()
        self.conv, self.norm, self.act = conv, norm, act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


def _n_up(image_size: int) -> int:
    """Stride-2 stages between 4x4 and image_size: 3 for 32x32, 4 for 64x64."""
    return int(math.log2(image_size // 4))


class ScaledTanh(nn.Module):
    """lo + (hi - lo) (tanh(x) + 1) / 2: Tanh moved onto [lo, hi] (data.range [0, 1]: the same G, shifted)."""

    def __init__(self, lo: float, hi: float):
        super().__init__()
        self.lo, self.hi = lo, hi

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lo + (self.hi - self.lo) * (torch.tanh(x) + 1) / 2


class Generator(nn.Module):
    """z: (N, nz, 1, 1) -> images (N, nc, S, S) in value_range (data.range; DCGAN's [-1, 1] by default)."""

    def __init__(self, cfg: ModelConfig, nc: int, image_size: int, value_range: tuple[float, float] = (-1.0, 1.0)):
        super().__init__()
        self.value_range = tuple(value_range)
        act = activation_factory(cfg.g_act)
        n_up = _n_up(image_size)
        mult = 2 ** (n_up - 1)  # widest layer: ngf*4 at 32x32, ngf*8 at 64x64
        blocks = [("block1", ConvBlock(nn.ConvTranspose2d(cfg.nz, cfg.ngf * mult, 4, 1, 0, bias=False),
                                       nn.BatchNorm2d(cfg.ngf * mult), act()))]
        # state size. (ngf*mult) x 4 x 4
        for i in range(n_up - 1):
            c_in, c_out = cfg.ngf * mult, cfg.ngf * mult // 2
            blocks.append((f"block{i + 2}", ConvBlock(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                                                      nn.BatchNorm2d(c_out), act())))
            mult //= 2
        # state size. ngf x (S/2) x (S/2)
        self.blocks = nn.Sequential(OrderedDict(blocks))
        self.to_image = nn.ConvTranspose2d(cfg.ngf, nc, 4, 2, 1, bias=False)
        self.out = nn.Tanh() if self.value_range == (-1.0, 1.0) else ScaledTanh(*self.value_range)
        # state size. nc x S x S

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.to_image(self.blocks(z)))


class Discriminator(nn.Module):
    """images (N, nc, S, S) -> logits (N,): one logit per image (BCE-with-logits loss)."""

    def __init__(self, cfg: ModelConfig, nc: int, image_size: int):
        super().__init__()
        act = activation_factory(cfg.d_act)
        wrap = spectral_norm if cfg.d_norm == "spectral" else (lambda m: m)
        bias = cfg.d_norm in ("none", "spectral")  # a bias is redundant only before a normalization

        def norm(channels: int) -> nn.Module:
            if cfg.d_norm == "batch":
                return nn.BatchNorm2d(channels)
            if cfg.d_norm == "layer":
                return nn.GroupNorm(1, channels)  # LayerNorm over (C, H, W) of each sample
            return nn.Identity()

        n_down = _n_up(image_size)
        # input is nc x S x S; no normalization on the first layer (DCGAN)
        blocks = [("conv1", ConvBlock(wrap(nn.Conv2d(nc, cfg.ndf, 4, 2, 1, bias=bias)), nn.Identity(), act()))]
        ch = cfg.ndf
        # state size. ndf x (S/2) x (S/2)
        for i in range(n_down - 1):
            blocks.append((f"conv{i + 2}", ConvBlock(wrap(nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=bias)),
                                                     norm(ch * 2), act())))
            ch *= 2
        # state size. (ndf*mult) x 4 x 4
        for i in range(cfg.d_extra_layers):
            blocks.append((f"extra{i + 1}", ConvBlock(wrap(nn.Conv2d(ch, ch, 3, 1, 1, bias=bias)), norm(ch), act())))
        self.blocks = nn.Sequential(OrderedDict(blocks))
        self.to_logit = wrap(nn.Conv2d(ch, 1, 4, 1, 0, bias=False))
        # state size. 1 x 1 x 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_logit(self.blocks(x)).flatten()  # (N,)


def dcgan_init(module: nn.Module) -> None:
    """DCGAN init: conv weights N(0, 0.02), BatchNorm gamma N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            weight = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            nn.init.normal_(weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside DDP / torch.compile wrappers (what checkpoints and probes see)."""
    while hasattr(model, "module") or hasattr(model, "_orig_mod"):
        model = getattr(model, "module", None) or model._orig_mod
    return model


def image_channels(g_state: dict[str, torch.Tensor]) -> int:
    """The image channels a saved G makes, read from its weights (to_image: (ngf, nc, 4, 4))."""
    return int(g_state["to_image.weight"].shape[1])


def build_models(cfg: ModelConfig, nc: int, image_size: int, value_range: tuple[float, float] = (-1.0, 1.0)
                 ) -> tuple[Generator, Discriminator]:
    """Initialised (G, D) for `nc`-channel images of `image_size` (32 or 64) with pixels in value_range."""
    G, D = Generator(cfg, nc, image_size, value_range), Discriminator(cfg, nc, image_size)
    dcgan_init(G)
    dcgan_init(D)
    return G, D
