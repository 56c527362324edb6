"""What the gradient-sparsity probe costs: one probe vs one train step, and a run with probes on vs off.

    .venv/bin/python benchmarks/bench_probe_overhead.py            # 32x32, batch 64, ngf = ndf = 32
    .venv/bin/python benchmarks/bench_probe_overhead.py --reps 5 --device cuda

Uses gan.train.step.d_step / g_step on random images (no dataset needed). Every number is a median over
alternating, side-by-side measurements in this one process (never compare with numbers from another time).
A probe is the training view (gradients, every probe) plus, on the probes `gan.measure.probes.data_view_due` picks,
the data view: forward passes over the fixed held-out set (HELD_OUT real images and HELD_OUT fakes).
Goals: one training-view probe <= 1.5 train steps; all probes of a quick-study run (1000 steps, probe_every
50 as in configs/study/quick.yaml, or the default 100) cost <= 3% of its training time.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch

from gan.config.schema import ModelConfig
from gan.train.machine import describe_cpu
from gan.nets.models import build_models
from gan.measure.probes import HELD_OUT, Probe, data_view_due
from gan.train.step import d_step, g_step


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image-size", type=int, default=32, help="32 or 64")
    p.add_argument("--batch", type=int, default=64, help="train batch and probe batch (each of real, fake)")
    p.add_argument("--width", type=int, default=32, help="ngf = ndf")
    p.add_argument("--nc", type=int, default=1, help="image channels")
    p.add_argument("--d-act", default="relu", help="D activation spec (relu makes the most exact zeros)")
    p.add_argument("--g-act", default="relu", help="G activation spec")
    p.add_argument("--probe-every", type=int, default=100, help="train steps per probe in the on/off comparison")
    p.add_argument("--run-steps", type=int, default=1000, help="run length for the whole-run overhead (quick study)")
    p.add_argument("--pairs", type=int, default=30, help="alternating (probe, step) pairs for the per-call ratio")
    p.add_argument("--reps", type=int, default=6, help="alternating (on, off) block pairs for the overall overhead")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads (0: torch's default); 1 gives steadier numbers on a busy machine")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = ModelConfig(ngf=args.width, ndf=args.width, d_act=args.d_act, g_act=args.g_act)
    G, D = build_models(cfg, args.nc, args.image_size)
    G, D = G.to(device, memory_format=torch.channels_last), D.to(device, memory_format=torch.channels_last)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    S, B = args.image_size, args.batch
    pool = (torch.rand(16 * B, args.nc, S, S, device=device) * 2 - 1).contiguous(memory_format=torch.channels_last)
    amp = contextlib.nullcontext()
    counter = [0]

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def train_step() -> None:
        i = counter[0] % 16
        counter[0] += 1
        z = torch.randn(B, cfg.nz, 1, 1, device=device)
        _, fake = d_step(G, D, opt_d, pool[i * B:(i + 1) * B], z, amp)
        g_step(D, opt_g, fake, amp)

    held_real = (torch.rand(HELD_OUT, args.nc, S, S, device=device) * 2 - 1).contiguous(
        memory_format=torch.channels_last)  # (HELD_OUT, nc, S, S), as make_probe holds it
    probe = Probe(G, D, pool[:B], torch.randn(B, cfg.nz, 1, 1, device=device), held_real=held_real,
                  held_z=torch.randn(HELD_OUT, cfg.nz, 1, 1, device=device))  # batches channels_last, as in a run
    training_view = lambda: probe.measure(data_view=False)  # noqa: E731
    data_view = probe._dead_eval  # the held-out forward passes alone

    def timed(fn) -> float:
        sync()
        t = time.perf_counter()
        fn()
        sync()
        return time.perf_counter() - t

    def block(with_probe: bool) -> float:
        def run() -> None:
            for _ in range(args.probe_every):
                train_step()
            if with_probe:
                training_view()
        return timed(run)

    for _ in range(3):  # warm up allocator, kernels, the radix-sort path
        train_step()
        probe.measure()

    print(f"device={device} threads={torch.get_num_threads()} image={S}x{S} nc={args.nc} batch={B} "
          f"ngf=ndf={args.width} D={args.d_act} G={args.g_act} held-out={HELD_OUT}+{HELD_OUT}")
    print(describe_cpu())
    calls = {"probe": training_view, "data": data_view, "step": train_step}
    times: dict[str, list[float]] = {k: [] for k in calls}
    for i in range(args.pairs):  # rotate the order, so drift hits all three alike
        names = list(calls)[i % 3:] + list(calls)[:i % 3]
        for name in names:
            times[name].append(timed(calls[name]))
    med = {k: statistics.median(v) for k, v in times.items()}
    ratios = [p / s for p, s in zip(times["probe"], times["step"])]
    print(f"one probe (training view): {1000 * med['probe']:8.1f} ms (median of {args.pairs})")
    print(f"one data-view pass:        {1000 * med['data']:8.1f} ms (median of {args.pairs}; forward passes only)")
    print(f"one train step:            {1000 * med['step']:8.1f} ms (median of {args.pairs})")
    print(f"probe / step:              {med['probe'] / med['step']:8.2f}   (median of paired ratios "
          f"{statistics.median(ratios):.2f}; goal <= 1.5); data view / step {med['data'] / med['step']:.2f}")
    for every in sorted({50, 100, args.probe_every}):
        steps = range(every, args.run_steps + 1, every)
        n_data = sum(data_view_due(s, every, args.run_steps) for s in steps)
        cost = len(steps) * med["probe"] + n_data * med["data"]
        print(f"implied overhead of a {args.run_steps}-step run at probe_every={every}: "
              f"{100 * cost / (args.run_steps * med['step']):.2f}% ({len(steps)} probes, {n_data} with the data view; "
              f"goal <= 3%)")

    if args.reps < 1:
        return
    on, off = [], []
    for i in range(args.reps):
        if i % 2 == 0:
            on.append(block(True))
            off.append(block(False))
        else:
            off.append(block(False))
            on.append(block(True))
    pair = [a / b - 1 for a, b in zip(on, off)]
    print(f"blocks of {args.probe_every} steps, training-view probe on vs off ({args.reps} alternating pairs): "
          f"on {statistics.median(on):.2f} s, off {statistics.median(off):.2f} s, "
          f"measured overhead {100 * (statistics.median(on) / statistics.median(off) - 1):+.2f}% "
          f"(paired median {100 * statistics.median(pair):+.2f}%, spread {100 * min(pair):+.2f}..{100 * max(pair):+.2f}%)")


if __name__ == "__main__":
    main()
