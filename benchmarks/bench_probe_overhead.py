"""What the gradient-sparsity probe costs: one probe vs one train step, and a run with probes on vs off.

    .venv/bin/python benchmarks/bench_probe_overhead.py            # 32x32, batch 64, ngf = ndf = 32
    .venv/bin/python benchmarks/bench_probe_overhead.py --reps 5 --device cuda

Uses gan.train.d_step / g_step on random images (no dataset needed). Every number is a median over
alternating, side-by-side measurements in this one process (never compare with numbers from another time).
Goals: one probe <= 1.5 train steps; probes every 100 steps cost <= 2% of the run.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch

from gan.config import ModelConfig
from gan.machine import describe_cpu
from gan.models import build_models
from gan.probes import Probe
from gan.train import d_step, g_step


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image-size", type=int, default=32, help="32 or 64")
    p.add_argument("--batch", type=int, default=64, help="train batch and probe batch (each of real, fake)")
    p.add_argument("--width", type=int, default=32, help="ngf = ndf")
    p.add_argument("--nc", type=int, default=1, help="image channels")
    p.add_argument("--d-act", default="relu", help="D activation spec (relu makes the most exact zeros)")
    p.add_argument("--g-act", default="relu", help="G activation spec")
    p.add_argument("--probe-every", type=int, default=100, help="train steps per probe in the on/off comparison")
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

    probe = Probe(G, D, pool[:B].contiguous(), torch.randn(B, cfg.nz, 1, 1, device=device))

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
                probe.measure()
        return timed(run)

    for _ in range(5):  # warm up allocator, kernels, the radix-sort path
        train_step()
        probe.measure()

    print(f"device={device} threads={torch.get_num_threads()} image={S}x{S} nc={args.nc} batch={B} "
          f"ngf=ndf={args.width} D={args.d_act} G={args.g_act}")
    print(describe_cpu())
    probe_s, step_s = [], []
    for i in range(args.pairs):  # alternate which goes first, so drift hits both alike
        order = (lambda: probe.measure(), train_step) if i % 2 == 0 else (train_step, lambda: probe.measure())
        a, b = timed(order[0]), timed(order[1])
        p_t, s_t = (a, b) if i % 2 == 0 else (b, a)
        probe_s.append(p_t)
        step_s.append(s_t)
    med_p, med_s = statistics.median(probe_s), statistics.median(step_s)
    ratios = [p / s for p, s in zip(probe_s, step_s)]
    print(f"one probe:        {1000 * med_p:8.1f} ms (median of {args.pairs})")
    print(f"one train step:   {1000 * med_s:8.1f} ms (median of {args.pairs})")
    print(f"probe / step:     {med_p / med_s:8.2f}   (median of paired ratios {statistics.median(ratios):.2f}; "
          f"goal <= 1.5)")
    print(f"implied overhead at probe_every={args.probe_every}: {100 * med_p / (args.probe_every * med_s):.2f}% "
          f"(goal <= 2%)")

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
    print(f"blocks of {args.probe_every} steps, probes on vs off ({args.reps} alternating pairs): "
          f"on {statistics.median(on):.2f} s, off {statistics.median(off):.2f} s, "
          f"measured overhead {100 * (statistics.median(on) / statistics.median(off) - 1):+.2f}% "
          f"(paired median {100 * statistics.median(pair):+.2f}%, spread {100 * min(pair):+.2f}..{100 * max(pair):+.2f}%)")


if __name__ == "__main__":
    main()
