"""The speed levers on by default (channels_last, foreach Adam, frozen D in the G step) leave the numbers
as they were, up to float rounding; bf16 autocast (opt-in) stays finite and close."""

import contextlib
import copy

import pytest
import torch
import torch.nn.functional as F

from gan.config.load import load_config
from gan.train.step import autocast, g_step, step_modules, train_step
from gan.train.run import build_run

from conftest import TINY

STEPS = 3


def _train(tmp_path, overrides: list[str]):
    """STEPS steps of the real loop body (build_run + train_step); returns the run and its last stats."""
    cfg = load_config(None, TINY + overrides)
    run = build_run(cfg, tmp_path)
    nets, amp = step_modules(run), autocast(cfg, run.device)
    for _ in range(STEPS):
        stats = train_step(run, nets, amp)
    return run, {k: v.item() for k, v in stats.items()}


def _rel_diffs(a: torch.nn.Module, b: torch.nn.Module) -> dict[str, float]:
    """Per parameter ||a - b|| / ||b||, memory format aside."""
    pb = dict(b.named_parameters())
    return {name: ((p.detach() - pb[name].detach()).norm() / pb[name].detach().norm().clamp_min(1e-12)).item()
            for name, p in a.named_parameters()}


def test_channels_last_gives_the_weights_of_contiguous_tensors(tmp_path):
    on, stats_on = _train(tmp_path / "on", ["train.channels_last=true"])
    off, stats_off = _train(tmp_path / "off", ["train.channels_last=false"])
    w_on, w_off = on.D.blocks.conv2.conv.weight, off.D.blocks.conv2.conv.weight  # (16, 8, 4, 4)
    assert w_on.is_contiguous(memory_format=torch.channels_last) and not w_on.is_contiguous()
    assert w_off.is_contiguous()
    for net in ("G", "D"):
        worst = max(_rel_diffs(getattr(on, net), getattr(off, net)).items(), key=lambda kv: kv[1])
        assert worst[1] < 1e-5, f"{net}.{worst[0]}"
    assert stats_on == pytest.approx(stats_off, rel=1e-5)


def test_foreach_adam_equals_the_per_tensor_loop():
    torch.manual_seed(0)
    params = [torch.randn(16, 8, 4, 4, requires_grad=True), torch.randn(8, requires_grad=True)]
    twins = [p.detach().clone().requires_grad_() for p in params]
    opts = [torch.optim.Adam(ps, lr=2e-4, betas=(0.5, 0.999), foreach=foreach)
            for ps, foreach in ((params, True), (twins, False))]
    for _ in range(STEPS):
        grads = [torch.randn_like(p) for p in params]
        for ps, opt in zip((params, twins), opts):
            for p, g in zip(ps, grads):
                p.grad = g.clone()
            opt.step()
    for a, b in zip(params, twins):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=0)


def test_frozen_d_gives_g_the_gradients_of_an_unfrozen_d(tmp_path):
    """The G step's D is frozen (no D weight gradients): G's update is what main.py's unfrozen D gives."""
    cfg = load_config(None, TINY)
    run = build_run(cfg, tmp_path)
    z = torch.randn(16, cfg.model.nz, 1, 1)
    G2, D2 = copy.deepcopy(run.G), copy.deepcopy(run.D)
    opt_g2 = torch.optim.Adam(G2.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g2.load_state_dict(run.opt_g.state_dict())

    g_step(run.D, run.opt_g, run.G(z), contextlib.nullcontext())
    logits = D2(G2(z))  # main.py: netG.zero_grad(); netD(fake) with D trainable; errG.backward(); optimizerG.step()
    F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits)).backward()
    opt_g2.step()

    assert all(p.grad is None for p in run.D.parameters())  # nothing computed for D...
    assert all(p.requires_grad for p in run.D.parameters())  # ...and D trainable again afterwards
    assert max(_rel_diffs(run.G, G2).values()) < 1e-6


def test_bf16_autocast_stays_finite_and_close_to_fp32(tmp_path):
    fp32, stats32 = _train(tmp_path / "fp32", ["train.precision=fp32"])
    bf16, stats16 = _train(tmp_path / "bf16", ["train.precision=bf16"])
    assert all(torch.isfinite(torch.tensor(v)) for v in stats16.values())
    assert all(p.dtype == torch.float32 for p in bf16.G.parameters())  # master weights stay fp32
    for key in ("loss/D", "loss/G"):
        assert stats16[key] == pytest.approx(stats32[key], abs=0.05), key
    for net in ("G", "D"):  # the whole weight vector (zero-initialised biases alone move by ~lr, either way)
        a, b = (torch.cat([p.detach().reshape(-1) for p in getattr(r, net).parameters()]) for r in (bf16, fp32))
        assert ((a - b).norm() / b.norm()).item() < 1e-2, net
