"""Time one quality evaluation: N generated 32x32 samples against 10k real test images, on the CPU.

    python benchmarks/bench_eval.py [--n 10000] [--nc 1] [--threads 2]

Prints the time of each phase (generation, classifier features, FCD, KID, IS, PRDC, class coverage),
the end-to-end `Evaluator.evaluate` time (goal: <= 30 s for 10k samples on 2 cores) and which phase
dominates. An untrained classifier and random real images cost exactly what the trained ones do; the
one-time real-feature extraction (at Evaluator construction) is reported separately.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import torch

from gan.measure import quality
from gan.measure.classifier import build_classifier
from gan.config.schema import RunConfig
from gan.config.load import apply_overrides
from gan.train.machine import describe_cpu
from gan.nets.models import build_models
from gan.nets.sampling import generate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000, help="generated samples (default 10000)")
    p.add_argument("--n-real", type=int, default=10_000, help="real test images (default 10000, a test split)")
    p.add_argument("--nc", type=int, default=1, choices=(1, 3), help="image channels (1: MNIST family, 3: CIFAR)")
    p.add_argument("--ngf", type=int, default=64, help="generator width (default 64, the DCGAN reference)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    warnings.filterwarnings("ignore", message="quality metrics from")
    cfg = apply_overrides(RunConfig(), ["data.name=fake", f"eval.n_samples={a.n}", f"model.ngf={a.ngf}"])
    torch.manual_seed(0)
    real = torch.randint(0, 256, (a.n_real, a.nc, 32, 32), dtype=torch.uint8)
    G, _ = build_models(cfg.model, a.nc, 32)
    G = G.to(memory_format=torch.channels_last)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}, "
          f"{a.n} fake vs {a.n_real} real, nc={a.nc}, ngf={a.ngf}")
    print(describe_cpu())

    t0 = time.perf_counter()
    ev = quality.Evaluator(cfg, "cpu", classifier=build_classifier(a.nc), real_images=real)
    print(f"{'(once) real features':<28}{time.perf_counter() - t0:8.2f} s")

    t0 = time.perf_counter()  # imports (torchmetrics, prdc -> sklearn) on a tiny input, outside the timings
    small = torch.randn(64, ev.real_feats.shape[1])
    quality.quality_metrics(small, small, torch.randn(64, 10))
    print(f"{'(once) imports, warm-up':<28}{time.perf_counter() - t0:8.2f} s")

    times: dict[str, float] = {}
    cpu: dict[str, float] = {}  # process CPU seconds: steadier than wall time when others share the cores

    def timed(name, fn, *args):
        t, c = time.perf_counter(), time.process_time()
        out = fn(*args)
        times[name], cpu[name] = time.perf_counter() - t, time.process_time() - c
        return out

    z = torch.randn(a.n, cfg.model.nz, 1, 1, generator=torch.Generator().manual_seed(0))
    fakes = timed("generation (G forward)", generate, G, z, cfg.eval.batch_size)  # as evaluate: train-mode BN
    feats, logits, _ = timed("classifier features", ev.embed, fakes.split(cfg.eval.batch_size))
    real_f = ev.real_feats
    timed("fcd (torchmetrics FID)", quality.frechet_distance, real_f, feats)
    timed("kid (torchmetrics KID)", quality.kernel_distance, real_f, feats)
    timed("is (torchmetrics IS)", quality.inception_score, logits)
    timed("prdc (k=5)", quality.prdc_metrics, real_f, feats)
    timed("modes_covered, class_kl", quality.class_coverage, logits)
    print(f"{'phase':<28}{'wall':>8}  {'cpu':>8}")
    for name, t in times.items():
        print(f"{name:<28}{t:8.2f} s{cpu[name]:8.2f} s")
    print(f"{'sum of phases':<28}{sum(times.values()):8.2f} s{sum(cpu.values()):8.2f} s")

    t0, c0 = time.perf_counter(), time.process_time()
    row = ev.evaluate(G)
    total, total_cpu = time.perf_counter() - t0, time.process_time() - c0
    top = max(times, key=times.get)
    print(f"{'Evaluator.evaluate (total)':<28}{total:8.2f} s   (goal <= 30 s for 10k; {total_cpu:.1f} cpu-s; "
          f"dominated by {top}: {times[top] / sum(times.values()):.0%})")
    print("  " + ", ".join(f"{k.split('/')[-1]}={v:.3g}" for k, v in row.items()))


if __name__ == "__main__":
    main()
