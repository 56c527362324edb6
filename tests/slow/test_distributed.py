"""DDP: helpers at world 1, the GAN step on 2 gloo processes, and `torchrun -m gan train` end to end."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
from torch import nn

from gan.nets.models import unwrap
from gan.train import distributed
from gan.train.checkpoint import load_checkpoint
from gan.errors import UserError
from gan.tracking.metrics_file import read_metrics

from conftest import HANG_S, REPO, TINY, run_cli

LOSS_KEYS = ("loss/D", "loss/G", "D/real_prob", "D/fake_prob")


########################################################################################
# one process: everything is a pass-through

def test_helpers_are_pass_through_in_one_process():
    model = nn.Linear(2, 2)
    assert distributed.context().world == 1
    assert distributed.wrap(model, sync_bn=True) is model and unwrap(model) is model
    assert distributed.mean_over_ranks({"a": torch.tensor(0.25)}) == {"a": 0.25}
    with pytest.raises(UserError, match="mine"), distributed.same_outcome():
        raise UserError("mine")


def test_sync_batchnorm_shares_parameters_and_acts_as_batchnorm_outside_ranks():
    seq = nn.Sequential(nn.Conv2d(1, 3, 1), nn.BatchNorm2d(3))
    bn, weight = seq[1], seq[1].weight
    converted = distributed.convert_sync_batchnorm(seq)
    assert isinstance(converted[1], distributed.SyncBatchNorm2d) and converted[1].weight is weight
    assert converted[1].running_mean is bn.running_mean  # optimizers and checkpoints keep working
    assert list(converted.state_dict()) == list(nn.Sequential(nn.Conv2d(1, 3, 1), nn.BatchNorm2d(3)).state_dict())
    x = torch.randn(4, 3, 2, 2)
    with distributed.synced_batchnorm():  # no process group: plain BatchNorm
        assert torch.equal(converted[1](x), nn.functional.batch_norm(x, None, None, weight, bn.bias, True))


########################################################################################
# two processes (torch.multiprocessing, gloo): the step itself

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port), CUDA_VISIBLE_DEVICES="")
    torch.set_num_threads(1)
    ctx = distributed.context()
    assert (ctx.rank, ctx.world) == (rank, world)
    try:
        _check_same_outcome(rank)
        _check_sync_batchnorm(rank, world)
        _check_gan_step_reduces_each_gradient_once(rank, world)
    except BaseException:
        distributed.close()
        raise
    distributed.close(wait_for_peers=True)


def _check_same_outcome(rank: int) -> None:
    """A user error on rank 1 only is raised on rank 0 too (nobody is left waiting)."""
    with pytest.raises(UserError, match="only on rank 1"), distributed.same_outcome():
        if rank == 1:
            raise UserError("only on rank 1")
    with distributed.same_outcome():
        pass


def _check_sync_batchnorm(rank: int, world: int) -> None:
    """Each rank's share through SyncBatchNorm2d == its rows of BatchNorm2d on the whole batch, gradients too."""
    g = torch.Generator().manual_seed(0)
    x_all, w_all = torch.randn(8, 3, 2, 2, generator=g), torch.randn(8, 3, 2, 2, generator=g)  # (8, 3, 2, 2)
    ref = nn.BatchNorm2d(3)
    nn.init.normal_(ref.weight, generator=g), nn.init.normal_(ref.bias, generator=g)
    sync = distributed.convert_sync_batchnorm(nn.Sequential(nn.BatchNorm2d(3)))[0]
    sync.load_state_dict(ref.state_dict())
    x_ref, x = x_all.clone().requires_grad_(), x_all[rank::world].clone().requires_grad_()
    y_ref = ref(x_ref)
    (y_ref * w_all).sum().backward()
    with distributed.synced_batchnorm():
        y = sync(x)
    (y * w_all[rank::world]).sum().backward()
    torch.testing.assert_close(y, y_ref[rank::world], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(x.grad, x_ref.grad[rank::world], atol=1e-6, rtol=1e-5)
    for p, p_ref in ((sync.weight, ref.weight), (sync.bias, ref.bias)):
        total = p.grad.clone()
        torch.distributed.all_reduce(total)  # the sum over ranks of each rank's share of the loss
        torch.testing.assert_close(total, p_ref.grad, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(sync.running_var, ref.running_var)
    torch.testing.assert_close(sync.running_mean, ref.running_mean)


def _check_gan_step_reduces_each_gradient_once(rank: int, world: int) -> None:
    """d_step (G + 2 D forwards, 1 backward) and g_step (unwrapped, frozen D): every G and D gradient is
    all-reduced exactly once per step, with d_steps 1 or 2, and the ranks stay identical."""
    from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

    from gan.config.load import load_config
    from gan.nets.models import build_models
    from gan.train.step import d_step, g_step

    cfg = load_config(None, TINY)
    torch.manual_seed(0)
    G, D = build_models(cfg.model, 1, 32)
    opt_g, opt_d = torch.optim.Adam(G.parameters(), 2e-4), torch.optim.Adam(D.parameters(), 2e-4)
    G_ddp, D_ddp = distributed.wrap(G, sync_bn=True), distributed.wrap(D, sync_bn=True)
    reduced: Counter = Counter()

    def counting_hook(state, bucket):
        reduced.update(id(p) for p in bucket.parameters())
        return allreduce_hook(None, bucket)

    G_ddp.register_comm_hook(None, counting_hook)
    D_ddp.register_comm_hook(None, counting_hook)
    amp = contextlib.nullcontext()
    g = torch.Generator().manual_seed(1 + rank)  # different data per rank
    for d_steps in (1, 2, 1):
        reduced.clear()
        for _ in range(d_steps):
            real, z = torch.rand(8, 1, 32, 32, generator=g) * 2 - 1, torch.randn(8, 16, 1, 1, generator=g)
            _, fake = d_step(G_ddp, D_ddp, opt_d, real, z, amp)
        g_step(unwrap(D_ddp), opt_g, fake, amp)
        expected = Counter({id(p): d_steps for p in D.parameters()}) + Counter({id(p): 1 for p in G.parameters()})
        assert reduced == expected
    flat = torch.cat([p.detach().reshape(-1) for p in [*G.parameters(), *D.parameters()]])
    gathered = [torch.empty_like(flat) for _ in range(world)]
    torch.distributed.all_gather(gathered, flat)
    assert all(torch.equal(gathered[0], other) for other in gathered)


@pytest.mark.slow
def test_two_gloo_processes_step_sync_batchnorm_and_errors():
    torch.multiprocessing.spawn(_worker, args=(2, _free_port()), nprocs=2, join=True)


########################################################################################
# two processes end to end: torchrun -m gan train

def _torchrun(*args: str, cwd: Path, nproc: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "gan", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=HANG_S)


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    state = load_checkpoint(run_dir)
    return {**{f"G.{k}": v for k, v in state["G"].items()}, **{f"D.{k}": v for k, v in state["D"].items()}}


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


SYNCED = TINY + ["train.sync_bn=true", "train.steps=8"]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> Path:
    """8 steps on 2 gloo processes with SyncBatchNorm (cwd: an empty folder)."""
    cwd = tmp_path_factory.mktemp("ddp")
    done = _torchrun("train", *SYNCED, "--out", "run", cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _tree(cwd) == sorted(f"run/{f}" for f in _tree(cwd / "run"))  # nothing written outside the run dir
    return cwd / "run"


@pytest.mark.slow
def test_two_ranks_with_sync_bn_match_one_process_and_only_rank_0_writes(two_ranks, tmp_path):
    one = tmp_path / "one"
    done = run_cli("train", *SYNCED, "--out", str(one), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _tree(two_ranks) == _tree(one)  # config, metrics, summary, samples, checkpoint: once, from rank 0
    rows2, rows1 = read_metrics(two_ranks), read_metrics(one)
    assert [r["step"] for r in rows2] == [r["step"] for r in rows1] == [2, 4, 6, 8]  # one row a step: rank 0 only
    for r2, r1 in zip(rows2, rows1):  # losses are means over ranks = the global-batch values
        assert r2.keys() == r1.keys()
        assert all(r2[k] == pytest.approx(r1[k], rel=1e-4, abs=1e-5) for k in LOSS_KEYS)
    w2, w1 = _weights(two_ranks), _weights(one)
    assert w2.keys() == w1.keys()
    for k in w1:  # same global batch, same z, BatchNorm over both ranks: the same run up to float rounding
        torch.testing.assert_close(w2[k], w1[k], atol=1e-5, rtol=1e-4, msg=k)
    summary = json.loads((two_ranks / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["step"] == 8


@pytest.mark.slow
def test_two_rank_resume_is_exact(two_ranks, tmp_path):
    split = tmp_path / "split"
    first = _torchrun("train", *TINY, "train.sync_bn=true", "train.steps=4", "--out", str(split), cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    second = _torchrun("train", "--resume", str(split), "train.steps=8", cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    a, b = _weights(two_ranks), _weights(split)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    strip = [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in read_metrics(two_ranks)]
    assert strip == [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in read_metrics(split)]


@pytest.mark.slow
def test_batch_that_does_not_split_over_ranks_is_a_user_error(tmp_path):
    done = _torchrun("train", *TINY, "train.batch_size=15", "train.steps=2", "--out", "run", cwd=tmp_path)
    assert done.returncode != 0  # torchrun's own exit code (and traceback) when a worker fails
    assert "error: train.batch_size=15 is the global batch" in done.stderr  # the workers print one sentence
    assert 'File "' + str(REPO / "gan") not in done.stderr  # and no traceback from gan
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_two_ranks_with_evaluation_and_probes_on_finish_and_score_on_rank_0(tmp_path):
    # default evaluation under torchrun: torchmetrics' compute() all-gathered while only rank 0 evaluated,
    # so the end-of-run evaluation crashed (gloo: Connection closed by peer)
    on = ["train.steps=4", "train.probe_every=2", "eval.enabled=true", "eval.n_samples=64",
          "eval.batch_size=32", f"data.root={tmp_path / 'data'}"]
    done = _torchrun("train", *TINY, *on, "--out", "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["step"] == 4
    rows = read_metrics(tmp_path / "run")
    final = [r for r in rows if "quality/fcd" in r]
    assert len(final) == 1 and final[0]["quality/fcd"] >= 0 and 0 <= final[0]["quality/kid"] < 10
    assert any("probe/D/dead_frac" in r for r in rows)  # probes ran on rank 0 too
