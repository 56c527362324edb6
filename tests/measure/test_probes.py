"""gan/measure/sparsity.py: metric definitions pinned on hand-built tensors; gan/measure/probes.py: a Probe that measures and
leaves no trace."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gan.measure import sparsity
from gan.config.schema import ModelConfig
from gan.tracking.metrics_file import read_metrics
from gan.nets.models import build_models
from gan.measure.probes import DATA_VIEW_EVERY, Probe, data_view_due
from gan.measure.sparsity import dead_frac, gini, hoyer, neg_frac, zero_frac
from gan.train.launch import main_train

from conftest import TINY

NZ, B = 16, 8


#####################################################################
# pure metrics

@pytest.mark.parametrize("n", [2, 7, 1000])
def test_one_hot_is_maximally_sparse(n):
    x = torch.zeros(n)
    x[n // 2] = -2.5  # the sign does not matter
    assert hoyer(x) == pytest.approx(1.0, abs=1e-12)
    assert gini(x) == pytest.approx(1 - 1 / n, abs=1e-12)


def test_constant_vector_is_dense():
    x = torch.full((50,), -0.3)
    assert hoyer(x) == pytest.approx(0.0, abs=1e-12)
    assert gini(x) == pytest.approx(0.0, abs=1e-12)


def test_all_zero_is_one_by_definition():
    for x in (torch.zeros(10), torch.zeros(3, 4), torch.tensor([0.0, -0.0]), torch.zeros(1)):
        assert hoyer(x) == 1.0
        assert gini(x) == 1.0


def test_two_level_vector_by_hand():
    x = torch.tensor([-3.0, 1.0, -1.0, 1.0])
    # |x| sorted: c = (1, 1, 1, 3), |c|_1 = 6, n = 4
    # Gini = 1 - 2 * [1/6 * 3.5/4 + 1/6 * 2.5/4 + 1/6 * 1.5/4 + 3/6 * 0.5/4] = 1 - 2 * 9/24 = 0.25
    assert gini(x) == pytest.approx(0.25, abs=1e-12)
    # Hoyer = (sqrt(4) - 6 / sqrt(12)) / (sqrt(4) - 1) = 2 - sqrt(3)
    assert hoyer(x) == pytest.approx(2 - math.sqrt(3), abs=1e-12)


def _gini_by_definition(x: torch.Tensor) -> float:
    c = x.double().abs().flatten().sort().values  # float64 of the exact input values
    n = c.numel()
    k = torch.arange(1, n + 1, dtype=torch.float64)
    return float(1 - 2 * ((c / c.sum()) * ((n - k + 0.5) / n)).sum())


def test_gini_matches_the_definition_with_ties_and_zeros():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(-3, 4, (1001,), generator=g).float() * 0.25  # many ties, many zeros
    y = torch.randn(4096, generator=g) * torch.rand(4096, generator=g) ** 4  # heavy-tailed, no zeros
    for v in (x, y, y.view(64, 64), y.to(torch.bfloat16), y.double() / 3):
        assert gini(v) == pytest.approx(_gini_by_definition(v), abs=1e-12)


def test_per_row_gini_equals_the_definition_row_by_row():
    """gini_rows sorts each row on its own: every row's value is the definition's value of that row."""
    g = torch.Generator().manual_seed(1)
    a = torch.randint(0, 5, (6, 300), generator=g).float()  # ties and zeros in every row
    a[2] = 0.0  # an all-zero row is 1.0 by definition
    got = sparsity.gini_rows(a)
    for i in (0, 1, 3, 4, 5):
        assert got[i].item() == pytest.approx(_gini_by_definition(a[i]), abs=1e-12)
    assert got[2].item() == 1.0


def test_zero_and_negative_fractions():
    x = torch.tensor([0.0, -0.0, 1.0, -2.0])
    assert zero_frac(x) == 0.5
    assert neg_frac(x) == 0.75  # 0 and -0 count as off: ReLU passes no gradient at 0


def test_channel_exactly_zero_everywhere_is_dead():
    pre = torch.ones(2, 4, 2, 2)
    pre[:, 0] = -1.0  # channel 0: negative everywhere -> dead
    pre[:, 2] = 0.0  # channel 2: exactly 0 everywhere -> dead (it passes no gradient under ReLU)
    assert dead_frac(pre) == 0.5
    flat = torch.tensor([[-1.0, 2.0, 0.0], [-1.0, -2.0, 0.0]])  # (N, C): channels 0 and 2 dead
    assert dead_frac(flat) == pytest.approx(2 / 3)


def test_one_positive_entry_keeps_a_channel_alive():
    pre = torch.zeros(2, 3, 2, 2)
    pre[:, 1] = -1.0
    pre[1, 1, 0, 1] = 0.5  # channel 1: one positive entry in one sample -> alive
    pre[0, 2, 1, 1] = 1e-30  # channel 2: zeros and one tiny positive entry -> alive
    assert dead_frac(pre) == pytest.approx(1 / 3)  # only channel 0 (all zero) is dead


def test_hoyer_of_a_large_gaussian_vector_is_the_reference():
    assert sparsity.GAUSSIAN_HOYER == pytest.approx(1 - math.sqrt(2 / math.pi), abs=1e-15)
    assert sparsity.GAUSSIAN_HOYER == pytest.approx(0.202, abs=5e-4)
    x = torch.randn(10 ** 6, generator=torch.Generator().manual_seed(2))
    assert hoyer(x) == pytest.approx(0.202, abs=0.01)


def test_per_sample_hoyer_ignores_norm_spread_that_pooling_calls_sparse():
    """64 dense Gaussian vectors whose norms spread over 100x: per sample each is ~0.202, pooled looks sparse."""
    g = torch.Generator().manual_seed(3)
    scale = torch.logspace(0, 2, 64, dtype=torch.float64).view(64, 1, 1, 1)  # 1 .. 100
    x = torch.randn(64, 1, 32, 32, generator=g, dtype=torch.float64) * scale
    per_sample = sparsity.hoyer_per_sample(x)
    assert per_sample.shape == (64,)
    assert per_sample.mean().item() == pytest.approx(sparsity.GAUSSIAN_HOYER, abs=0.01)
    for i in (0, 63):  # each sample is its own vector
        assert per_sample[i].item() == pytest.approx(hoyer(x[i]), abs=1e-12)
    assert hoyer(x) > 0.35  # the pooled figure: far above the dense reference
    assert sparsity.gini_per_sample(x).mean().item() < gini(x) - 0.15


def test_starved_frac_two_near_zero_samples_of_ten():
    g = torch.Generator().manual_seed(4)
    grads = torch.randn(10, 1, 8, 8, generator=g)
    grads[3] *= 1e-4  # two samples whose gradient norm is ~1e-4 of the others'
    grads[7] *= 1e-5
    norms = grads.flatten(1).norm(dim=1)
    assert sparsity.starved_frac(norms).item() == pytest.approx(0.2, abs=1e-15)
    # the threshold is 1% of the median: 2% of it is not starved, 0.5% is
    assert sparsity.starved_frac(torch.tensor([0.02, 1.0, 1.0, 1.0])).item() == 0.0
    assert sparsity.starved_frac(torch.tensor([0.005, 1.0, 1.0, 1.0])).item() == 0.25


def test_norm_cv_by_hand():
    assert sparsity.norm_cv(torch.tensor([1.0, 3.0])).item() == pytest.approx(0.5)  # mean 2, population SD 1
    assert sparsity.norm_cv(torch.tensor([2.0, 2.0, 2.0])).item() == 0.0
    assert sparsity.norm_cv(torch.zeros(4)).item() == 0.0


def test_empty_tensor_is_an_error():
    with pytest.raises(ValueError):
        gini(torch.zeros(0))


#####################################################################
# the probe

def _nets(d_act: str = "relu", d_norm: str = "batch", extra: int = 0):
    torch.manual_seed(0)
    G, D = build_models(ModelConfig(nz=NZ, ngf=8, ndf=8, d_act=d_act, d_norm=d_norm, d_extra_layers=extra), 1, 32)
    g = torch.Generator().manual_seed(1)
    real = torch.rand(B, 1, 32, 32, generator=g) * 2 - 1
    z = torch.randn(B, NZ, 1, 1, generator=g)
    return G, D, real, z


def _kill_channel(D: nn.Module, layer: str, channel: int) -> None:
    """Push one channel's pre-activation far below zero (about 500 of its standard deviations) through the
    norm's bias, or the conv's bias without a norm. Not -1e4: under LeakyReLU that would saturate the logits."""
    block = getattr(D.blocks, layer)
    with torch.no_grad():
        bias = block.norm.bias if isinstance(block.norm, nn.BatchNorm2d) else block.conv.bias
        bias[channel] = -100.0


def _d_loss_weight_grad(G, D, real, z, layer: str) -> torch.Tensor:
    """Reference: the D loss's gradient of D.<layer>.conv.weight by a plain backward on copies."""
    G, D = copy.deepcopy(G), copy.deepcopy(D)
    fake = G(z).detach()
    lr, lf = D(real), D(fake)
    loss = F.binary_cross_entropy_with_logits(lr, torch.ones_like(lr)) + F.binary_cross_entropy_with_logits(
        lf, torch.zeros_like(lf))
    loss.backward()
    return getattr(D.blocks, layer).conv.weight.grad


@pytest.mark.parametrize("d_norm", ["batch", "none"])
def test_dead_relu_channel_passes_no_gradient(d_norm):
    G, D, real, z = _nets("relu", d_norm)
    _kill_channel(D, "conv2", 5)
    s, _ = Probe(G, D, real, z).measure()
    C = getattr(D.blocks, "conv2").conv.out_channels  # 16
    for scope in ("", "real/", "fake/"):
        assert s[f"probe/D/{scope}conv2/dead_frac"] == 1 / C
        assert s[f"probe/D/{scope}conv1/dead_frac"] == 0.0
    # exactly that channel's weight rows are zero, and nothing else
    assert s["probe/D/conv2/param_grad_zero_frac"] == pytest.approx(1 / C, abs=1e-15)
    w_grad = _d_loss_weight_grad(G, D, real, z, "conv2")
    assert torch.count_nonzero(w_grad[5]) == 0
    assert torch.count_nonzero(w_grad) == w_grad.numel() - w_grad[5].numel()


def test_channel_exactly_zero_everywhere_is_dead_in_the_probe():
    """A conv channel with zero weights and bias (no norm) gives a pre-activation of exactly 0 everywhere:
    under ReLU it passes no gradient, so both views call it dead (the old `< 0` rule called it alive)."""
    G, D, real, z = _nets("relu", "none")
    with torch.no_grad():
        D.blocks.conv2.conv.weight[3] = 0.0
        D.blocks.conv2.conv.bias[3] = 0.0
    s, _ = Probe(G, D, real, z, held_real=real, held_z=z).measure()
    for key in ("conv2/dead_frac", "real/conv2/dead_frac", "fake/conv2/dead_frac", "conv2/dead_frac_eval"):
        assert s[f"probe/D/{key}"] == 1 / 16, key
    assert s["probe/D/conv2/param_grad_zero_frac"] == pytest.approx(1 / 16, abs=1e-15)


def _bn_channel(D: nn.Module, channel: int, beta: float, running_mean: float) -> None:
    """Set conv2's BatchNorm beta and running mean for one channel (running var stays 1, gamma ~1)."""
    with torch.no_grad():
        D.blocks.conv2.norm.bias[channel] = beta
        D.blocks.conv2.norm.running_mean[channel] = running_mean


def test_running_statistics_kill_a_channel_in_the_data_view_only():
    """Eval mode subtracts a running mean far above the channel's values: <= 0 on all held-out data. Train
    mode re-centres the channel on each batch, so it has positive entries: alive where gradient flows."""
    G, D, real, z = _nets("relu", "batch")
    _bn_channel(D, 5, beta=0.0, running_mean=1e4)
    s, _ = Probe(G, D, real, z, held_real=real, held_z=z).measure()
    assert s["probe/D/conv2/dead_frac_eval"] == 1 / 16
    assert s["probe/D/conv2/dead_frac"] == 0.0


def test_batch_statistics_kill_a_channel_in_the_training_view_only():
    """The reverse: beta -100 holds the re-centred channel (|x_hat| <~ 3) below 0 in train mode, while a
    running mean of -1e4 lifts it to ~1e4 - 100 > 0 in eval mode."""
    G, D, real, z = _nets("relu", "batch")
    _bn_channel(D, 5, beta=-100.0, running_mean=-1e4)
    s, _ = Probe(G, D, real, z, held_real=real, held_z=z).measure()
    assert s["probe/D/conv2/dead_frac"] == 1 / 16
    assert s["probe/D/conv2/dead_frac_eval"] == 0.0


def test_same_dead_channel_under_leaky_relu_still_passes_gradient():
    G, D, real, z = _nets("leaky_relu:0.2", "batch")
    _kill_channel(D, "conv2", 5)
    s, _ = Probe(G, D, real, z).measure()
    assert s["probe/D/conv2/dead_frac"] == 1 / 16  # the pre-activation is just as negative ...
    assert s["probe/D/grad_zero_frac"] == 0.0  # ... but every unit passes gradient
    assert s["probe/D/param_grad_zero_frac"] == 0.0
    for name in ("conv1", "conv2", "conv3"):
        assert s[f"probe/D/{name}/grad_zero_frac"] == 0.0
        assert s[f"probe/D/{name}/param_grad_zero_frac"] == 0.0


def _mean_per_sample(metric, batch: torch.Tensor) -> float:
    return sum(metric(x) for x in batch) / len(batch)


def test_values_match_a_plain_backward_reference():
    """Every gradient metric equals the metric of gradients taken with retain_grad on copies of the nets."""
    G, D, real, z = _nets("relu", "batch")
    s, hist = Probe(G, D, real, z).measure()

    Gc, Dc = copy.deepcopy(G), copy.deepcopy(D)
    pres: dict[str, list[torch.Tensor]] = {}

    def keep(name):
        def hook(_m, args):
            args[0].retain_grad()
            pres.setdefault(name, []).append(args[0])
        return hook

    for net in (Gc, Dc):
        for name, block in net.blocks.named_children():
            block.act.register_forward_pre_hook(keep(name))
    fake = Gc(z)
    lr, lf = Dc(real), Dc(fake.detach())
    (F.binary_cross_entropy_with_logits(lr, torch.ones_like(lr), reduction="sum")
     + F.binary_cross_entropy_with_logits(lf, torch.zeros_like(lf), reduction="sum")).backward()
    for name in ("conv1", "conv2", "conv3"):
        p_r, p_f = pres[name]
        for scope, grad, pre in (("", torch.cat([p_r.grad, p_f.grad]), torch.cat([p_r, p_f])),
                                 ("real/", p_r.grad, p_r), ("fake/", p_f.grad, p_f)):
            key = f"probe/D/{scope}{name}"  # sparsity: each sample on its own, then the mean over samples
            assert s[f"{key}/grad_gini"] == pytest.approx(_mean_per_sample(gini, grad), abs=1e-12)
            assert s[f"{key}/grad_hoyer"] == pytest.approx(_mean_per_sample(hoyer, grad), abs=1e-12)
            assert s[f"{key}/grad_zero_frac"] == zero_frac(grad)
            assert s[f"{key}/neg_frac"] == neg_frac(pre)
        assert s[f"probe/D/{name}/param_grad_zero_frac"] == zero_frac(getattr(Dc.blocks, name).conv.weight.grad)
    assert s["probe/D/grad_gini"] == pytest.approx(
        sum(s[f"probe/D/conv{i}/grad_gini"] for i in (1, 2, 3)) / 3, abs=1e-15)

    fake.retain_grad()
    lf = Dc(fake)
    F.binary_cross_entropy_with_logits(lf, torch.ones_like(lf), reduction="sum").backward()
    gx = fake.grad  # per-sample dL_G/dx, (B, 1, 32, 32)
    assert s["probe/input_grad/norm"] == pytest.approx(gx.flatten(1).norm(dim=1).mean().item(), rel=1e-6)
    norms = gx.flatten(1).norm(dim=1)
    assert s["probe/input_grad/norm_cv"] == pytest.approx((norms.std(correction=0) / norms.mean()).item(), rel=1e-6)
    assert s["probe/input_grad/starved_frac"] == (norms < 0.01 * norms.median()).float().mean().item()
    assert s["probe/input_grad/gini"] == pytest.approx(_mean_per_sample(gini, gx), abs=1e-12)
    assert s["probe/input_grad/hoyer"] == pytest.approx(_mean_per_sample(hoyer, gx), abs=1e-12)
    assert s["probe/input_grad/gini_pooled"] == pytest.approx(gini(gx), abs=1e-12)
    assert s["probe/input_grad/hoyer_pooled"] == pytest.approx(hoyer(gx), abs=1e-12)
    assert s["probe/input_grad/zero_frac"] == zero_frac(gx)
    for name, (pre,) in ((n, p) for n, p in pres.items() if n.startswith("block")):
        assert s[f"probe/G/{name}/grad_zero_frac"] == zero_frac(pre.grad)
        assert s[f"probe/G/{name}/grad_hoyer"] == pytest.approx(_mean_per_sample(hoyer, pre.grad), abs=1e-12)
        assert s[f"probe/G/{name}/dead_frac"] == dead_frac(pre)
    assert torch.equal(hist["probe/input_grad/abs"].sort().values, gx.abs().flatten().sort().values)


def _snapshot(G: nn.Module, D: nn.Module) -> dict:
    nets = (G, D)
    return {"state": [{k: v.clone() for k, v in net.state_dict().items()} for net in nets],
            "grads": [(p.grad, None if p.grad is None else p.grad.clone()) for net in nets for p in net.parameters()],
            "requires_grad": [p.requires_grad for net in nets for p in net.parameters()],
            "modes": [m.training for net in nets for m in net.modules()],
            "rng": torch.get_rng_state()}


def _assert_same(before: dict, G: nn.Module, D: nn.Module) -> None:
    after = _snapshot(G, D)
    for sd0, sd1 in zip(before["state"], after["state"]):
        assert sd0.keys() == sd1.keys()
        for k in sd0:
            assert torch.equal(sd0[k], sd1[k]), k
    for (obj0, val0), (obj1, _) in zip(before["grads"], after["grads"]):
        assert obj0 is obj1  # the same .grad tensor object (or None) ...
        assert val0 is None or torch.equal(val0, obj1)  # ... with the same values
    assert before["requires_grad"] == after["requires_grad"]
    assert before["modes"] == after["modes"]
    assert torch.equal(before["rng"], after["rng"])
    assert not any(m._forward_pre_hooks or m._forward_hooks or m._backward_hooks
                   for net in (G, D) for m in net.modules())


@pytest.mark.parametrize("d_norm", ["batch", "spectral"])
def test_measure_leaves_no_trace(d_norm):
    G, D, real, z = _nets("relu", d_norm)
    G(z), D(real)  # running stats and spectral-norm vectors away from their initial values
    for i, p in enumerate(D.parameters()):
        p.grad = torch.randn_like(p) if i % 2 else None
    next(G.parameters()).grad = torch.ones_like(next(G.parameters()))
    D.eval()
    G.blocks.block2.eval()
    D.blocks.conv1.conv.requires_grad_(False)
    before = _snapshot(G, D)
    Probe(G, D, real, z).measure()
    _assert_same(before, G, D)


def test_no_trace_after_an_exception():
    G, D, real, z = _nets("relu", "batch")
    G.eval()
    before = _snapshot(G, D)
    bad_real = torch.zeros(B, 2, 32, 32)  # D fails on it after G(z) has run (and touched BN statistics)
    with pytest.raises(RuntimeError):
        Probe(G, D, bad_real, z).measure()
    _assert_same(before, G, D)


def _train(G, D, real, z, steps: int, probe: Probe | None) -> None:
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    torch.manual_seed(123)
    for _ in range(steps):
        if probe is not None:
            probe.measure()
        fake = G(torch.randn(B, NZ, 1, 1))
        lr, lf = D(real), D(fake.detach())
        loss_d = (F.binary_cross_entropy_with_logits(lr, torch.ones_like(lr))
                  + F.binary_cross_entropy_with_logits(lf, torch.zeros_like(lf)))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        lg = D(fake)
        loss_g = F.binary_cross_entropy_with_logits(lg, torch.ones_like(lg))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()


@pytest.mark.parametrize("d_norm", ["batch", "spectral"])
def test_run_with_probes_is_bit_identical_to_run_without(d_norm):
    G1, D1, real, z = _nets("leaky_relu:0.2", d_norm)
    G2, D2 = copy.deepcopy(G1), copy.deepcopy(D1)
    _train(G1, D1, real, z, 3, None)
    _train(G2, D2, real, z, 3, Probe(G2, D2, real[:4], z[:4]))
    for a, b in ((G1, G2), (D1, D2)):
        for (k, v1), v2 in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(v1, v2), k


@pytest.mark.parametrize("d_act,d_norm,extra,amp", [
    ("relu", "batch", 0, None),
    ("leaky_relu:0.2", "none", 1, None),
    ("elu", "spectral", 0, None),
    ("gelu", "layer", 0, None),
    ("leaky_relu:0.2", "batch", 0, torch.bfloat16),
])
def test_every_value_is_a_finite_float_under_a_documented_key(d_act, d_norm, extra, amp):
    G, D, real, z = _nets(d_act, d_norm, extra)
    probe = Probe(G, D, real, z, held_real=real.flip(0), held_z=z[:5], train_real=real.roll(1, 0),
                  autocast_dtype=amp, hist_max=1000)
    s, hist = probe.measure()
    assert all(isinstance(v, float) and math.isfinite(v) for v in s.values())
    d_names = [n for n, _ in D.blocks.named_children()]
    assert d_names == ["conv1", "conv2", "conv3"] + [f"extra{i + 1}" for i in range(extra)]
    d_metrics = ("neg_frac", "dead_frac", "grad_zero_frac", "grad_hoyer", "grad_gini")
    expected = {"probe/loss/D", "probe/loss/G"} | {f"probe/input_grad/{m}" for m in (
        "norm", "norm_cv", "starved_frac", "hoyer", "gini", "hoyer_pooled", "gini_pooled", "zero_frac")}
    expected |= {f"probe/overfit/{m}" for m in ("r_t", "r_v", "heldout_gap", "saturated")}
    for scope in ("", "real/", "fake/"):
        for m in d_metrics:
            expected |= {f"probe/D/{scope}{m}"} | {f"probe/D/{scope}{n}/{m}" for n in d_names}
    for m in ("param_grad_zero_frac", "dead_frac_eval"):  # no real / fake split
        expected |= {f"probe/D/{m}"} | {f"probe/D/{n}/{m}" for n in d_names}
    for m in ("neg_frac", "dead_frac", "grad_zero_frac", "grad_hoyer"):
        expected |= {f"probe/G/{m}"} | {f"probe/G/block{i}/{m}" for i in (1, 2, 3)}
    assert set(s) == expected
    assert all(0.0 <= v <= 1.0 for k, v in s.items()
               if not k.startswith(("probe/loss", "probe/input_grad/norm", "probe/overfit")))
    without, _ = probe.measure(data_view=False)  # a probe without the held-out pass: the same minus its keys
    assert without == {k: v for k, v in s.items() if "dead_frac_eval" not in k}
    (values,) = hist.values()
    assert values.dim() == 1 and values.device.type == "cpu" and 0 < values.numel() <= 1000


def test_gini_on_a_fixed_subset_above_gini_max():
    """Above gini_max a layer's Gini comes from a fixed random subset: close to exact, the same every call,
    no global RNG used; every other metric stays exact."""
    G, D, real, z = _nets("relu", "batch")
    exact, _ = Probe(G, D, real, z, gini_max=None).measure()
    rng = torch.get_rng_state()
    probe = Probe(G, D, real, z, gini_max=4096)  # conv1 has 2 * 8 * 8 * 16 * 16 = 32768 entries
    first, _ = probe.measure()
    again, _ = probe.measure()
    assert torch.equal(rng, torch.get_rng_state())
    assert first == again
    for key, value in exact.items():
        if key.endswith("grad_gini"):
            assert first[key] == pytest.approx(value, abs=0.02), key
        else:
            assert first[key] == value, key
    index = sparsity.positions(3, 300, 40, torch.device("cpu"), {})
    assert index.shape == (3, 40) and not torch.equal(index[0], index[1])  # drawn per sample
    for row in index:
        assert row.unique().numel() == 40 and bool((row.diff() > 0).all() and (row < 300).all())
    assert torch.equal(index, sparsity.positions(3, 300, 40, torch.device("cpu"), {}))  # fixed


def test_probe_unwraps_ddp_like_wrappers():
    G, D, real, z = _nets()

    class Wrapper(nn.Module):
        def __init__(self, module):
            super().__init__()
            self.module = module

    s, _ = Probe(Wrapper(G), Wrapper(D), real, z).measure()
    assert "probe/D/conv2/dead_frac" in s


def test_probe_of_sync_batchnorm_nets_equals_the_plain_nets():
    # probes.py no longer special-cases SyncBatchNorm: gan.train.distributed's SyncBatchNorm2d all-reduces only
    # inside synced_batchnorm() (training steps), so a rank-0 probe sees plain per-process BatchNorm
    from gan.train.distributed import SyncBatchNorm2d, convert_sync_batchnorm
    G, D, real, z = _nets()
    plain, _ = Probe(G, D, real, z, held_real=real, held_z=z).measure()
    G2, D2 = (convert_sync_batchnorm(copy.deepcopy(m)) for m in (G, D))
    assert any(isinstance(m, SyncBatchNorm2d) for m in D2.modules())
    synced, _ = Probe(G2, D2, real, z, held_real=real, held_z=z).measure()
    assert synced.keys() == plain.keys() and all(synced[k] == plain[k] for k in plain)


def test_a_tiny_run_logs_every_new_key_per_layer_and_as_mean(tmp_path):
    """A fake-data run: the training view every probe, the data view on its last probe, in metrics.jsonl
    and in summary.json (last value and mean over probes)."""
    run = tmp_path / "run"
    assert main_train(None, TINY + ["train.steps=4", "train.probe_every=2"], str(run), None) == 0
    rows = {r["step"]: r for r in read_metrics(run)}
    summary = json.loads((run / "summary.json").read_text())
    layers = ("conv1", "conv2", "conv3")
    every_probe = [f"probe/input_grad/{m}" for m in ("hoyer", "gini", "starved_frac", "norm_cv", "hoyer_pooled",
                                                     "gini_pooled")]
    for m in ("dead_frac", "grad_hoyer", "grad_gini"):
        every_probe += [f"probe/D/{m}"] + [f"probe/D/{n}/{m}" for n in layers]
    data_view = ["probe/D/dead_frac_eval"] + [f"probe/D/{n}/dead_frac_eval" for n in layers]
    for key in every_probe:
        assert key in rows[2] and key in rows[4], key
    for key in data_view:  # (2 // 2) % 20 != 0: step 2 skips the held-out pass; step 4 is the last probe
        assert key not in rows[2] and key in rows[4], key
    for key in every_probe + data_view:
        assert summary["final"][key] == rows[4][key], key
        assert 0.0 <= summary["mean"][key] <= 1.0, key
    assert summary["mean"]["probe/D/dead_frac_eval"] == rows[4]["probe/D/dead_frac_eval"]
    assert summary["mean"]["probe/input_grad/hoyer"] == pytest.approx(
        (rows[2]["probe/input_grad/hoyer"] + rows[4]["probe/input_grad/hoyer"]) / 2)


def test_data_view_runs_every_twentieth_probe_and_on_the_last():
    assert DATA_VIEW_EVERY == 20
    assert [s for s in range(50, 3001, 50) if data_view_due(s, 50, 3000)] == [1000, 2000, 3000]
    assert [s for s in range(50, 1001, 50) if data_view_due(s, 50, 1000)] == [1000]  # the quick study
    assert [s for s in range(100, 1101, 100) if data_view_due(s, 100, 1150)] == [1100]  # the last probe


def test_hoyer_panels_draw_the_gaussian_reference_line():
    from matplotlib.figure import Figure

    from gan.report.panels import reference as _reference

    ax_h, ax_v, ax_other = Figure().subplots(1, 3)
    _reference(ax_h, "probe/input_grad/hoyer")
    _reference(ax_v, "mean/probe/D/grad_hoyer", "x")
    _reference(ax_other, "probe/D/dead_frac")
    assert [tuple(line.get_ydata()) for line in ax_h.get_lines()] == [(sparsity.GAUSSIAN_HOYER,) * 2]
    assert [tuple(line.get_xdata()) for line in ax_v.get_lines()] == [(sparsity.GAUSSIAN_HOYER,) * 2]
    assert ax_other.get_lines() == []
