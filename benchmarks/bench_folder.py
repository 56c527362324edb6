"""Folder datasets: how fast a folder is prepared, and whether training from its memory-mapped cache is slower.

    .venv/bin/python benchmarks/bench_folder.py                      # 50,000 64x64 RGB PNGs
    .venv/bin/python benchmarks/bench_folder.py --n 5000 --rounds 4  # a quick run

1. Writes --n structured 64x64 RGB PNGs (a two-colour gradient and 2-4 filled discs and boxes each) into
   --dir, once: a folder that already holds them (its hidden marker file says so) is reused.
2. Prepares them with gan.data.folder.load_folder into a fresh cache, decoding on --workers processes
   (default: every CPU), and prints images/s; then loads again (the cache, no decoding) and prints that time.
3. Times DCGAN training steps (gan.nets.models.build_models, gan.train.step.d_step then g_step, batches from
   gan.data.stream.BatchStream) on the memory-mapped training images and on an in-memory copy of the same shape,
   side by side in this process, the arms alternating (gan.train.step_time.time_arms); prints each round's median
   and the ratio memory-mapped / in-memory (goal <= 1.05), for the whole step and for the batch alone.
   The cache was just written, so its pages are in the page cache (a cold first epoch reads them from disk).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan.config.schema import ModelConfig
from gan.data.stream import BatchStream
from gan.data.folder import load_folder  # noqa: E402
from gan.train.machine import describe_cpu  # noqa: E402
from gan.nets.models import build_models  # noqa: E402
from gan.train.step_time import time_arms  # noqa: E402
from gan.train.step import d_step, g_step


def picture(i: int, size: int) -> np.ndarray:
    """uint8 (S, S, 3), a pure function of i: a gradient between two colours, then 2-4 discs and boxes."""
    g = np.random.default_rng(i)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    angle = g.uniform(0, 2 * np.pi)
    t = (np.cos(angle) * xx + np.sin(angle) * yy + 1.5) / 3  # (S, S) in [0, 1]
    a, b = g.integers(0, 256, 3), g.integers(0, 256, 3)
    img = a * (1 - t[..., None]) + b * t[..., None]
    for _ in range(g.integers(2, 5)):
        cx, cy, r = g.uniform(0.1, 0.9), g.uniform(0.1, 0.9), g.uniform(0.08, 0.3)
        mask = ((xx - cx) ** 2 + (yy - cy) ** 2 < r * r) if g.random() < 0.5 else \
            ((abs(xx - cx) < r) & (abs(yy - cy) < r * g.uniform(0.3, 1.0)))
        img[mask] = g.integers(0, 256, 3)
    img += g.normal(0, 4, img.shape)  # a little sensor noise: PNG sizes like photos' small renders
    return np.clip(img, 0, 255).astype(np.uint8)


def _write(args: tuple[str, int, int, int]) -> None:
    folder, start, stop, size = args
    for i in range(start, stop):
        Image.fromarray(picture(i, size)).save(os.path.join(folder, f"{i // 1000:03d}", f"{i:06d}.png"))


def make_folder(folder: Path, n: int, size: int, workers: int) -> float:
    """Writes the n images unless the marker says they are there; returns the seconds it took (0: reused)."""
    marker = folder / f".bench-{n}-{size}"
    if marker.is_file():
        return 0.0
    start = time.perf_counter()
    for k in range(math.ceil(n / 1000)):
        (folder / f"{k:03d}").mkdir(parents=True, exist_ok=True)  # flat: the subfolders are one per 1000 files
    chunks = [(str(folder), s, min(s + 500, n), size) for s in range(0, n, 500)]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_write, chunks))
    marker.write_text("complete\n")
    return time.perf_counter() - start


def dcgan_step(images: torch.Tensor, batch: int, seed: int = 0):
    """(a full G+D step on batches of `images`, the batch fetch alone); both arms get the same init."""
    torch.manual_seed(seed)
    G, D = build_models(ModelConfig(), images.shape[1], images.shape[-1])
    G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999), foreach=True)
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999), foreach=True)
    stream, fetch_stream = BatchStream(images, batch, seed), BatchStream(images, batch, seed + 1)
    z = torch.randn(batch, 100, 1, 1)

    def step() -> None:
        real = stream.next().contiguous(memory_format=torch.channels_last)
        _, fake = d_step(G, D, opt_d, real, z, contextlib.nullcontext())
        g_step(D, opt_g, fake, contextlib.nullcontext())

    return step, fetch_stream.next


def report(name: str, ms: dict[str, list[float]]) -> None:
    mm, mem = ms["memory-mapped"], ms["in-memory"]
    ratios = [a / b for a, b in zip(mm, mem)]
    print(f"{name}: memory-mapped {statistics.median(mm):.2f} ms, in-memory {statistics.median(mem):.2f} ms, "
          f"ratio {math.exp(statistics.fmean(map(math.log, ratios))):.3f} (geometric mean of {len(ratios)} rounds; "
          f"min {min(ratios):.3f}, max {max(ratios):.3f})")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=50_000, help="images to generate (default 50000)")
    p.add_argument("--size", type=int, default=64, choices=(32, 64), help="image and dataset size (default 64)")
    p.add_argument("--dir", help="folder for the images (default: a temp folder, deleted at the end)")
    p.add_argument("--workers", type=int, default=0, help="decoding processes (0: every CPU)")
    p.add_argument("--rounds", type=int, default=6, help="alternating rounds of the step comparison")
    p.add_argument("--steps", type=int, default=5, help="timed DCGAN steps per arm per round")
    p.add_argument("--batch", type=int, default=64, help="DCGAN batch")
    p.add_argument("--threads", type=int, default=0, help="torch threads for the steps (0: torch's default)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    workers = a.workers or len(os.sched_getaffinity(0))
    tmp = Path(tempfile.mkdtemp(prefix="bench_folder_"))
    folder = Path(a.dir) if a.dir else tmp / "images"
    try:
        print(f"{describe_cpu()}; load average {os.getloadavg()[0]:.1f}; torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads")
        wrote = make_folder(folder, a.n, a.size, workers)
        print(f"images: {a.n} x {a.size}x{a.size} RGB PNG in {folder}"
              + (f", written in {wrote:.1f} s" if wrote else " (reused)"))
        start = time.perf_counter()
        ds = load_folder(folder, a.size, "auto", tmp / "cache", workers=workers, mmap=True)
        secs = time.perf_counter() - start
        print(f"prepare: {len(ds.labels)} images in {secs:.1f} s = {len(ds.labels) / secs:.0f} images/s on "
              f"{workers} processes (listing, decoding, split, writing); {ds.n_train} train / "
              f"{len(ds.labels) - ds.n_train} held out, {ds.channels} channels, "
              f"{(ds.cache_dir / 'images.npy').stat().st_size / 2**20:.0f} MiB")
        start = time.perf_counter()
        again = load_folder(folder, a.size, "auto", tmp / "cache", workers=workers, mmap=True)
        print(f"load from cache: {time.perf_counter() - start:.2f} s (listing and hashing {a.n} file stats; "
              f"from_cache={again.from_cache})")
        mapped = again.train_images  # a view of the memory map
        in_memory = mapped.clone()  # the same images in RAM
        print(f"step: DCGAN ngf=ndf=64, batch {a.batch}, {a.size}px, fp32, channels_last; "
              f"{a.rounds} rounds x {a.steps} steps per arm, alternating")
        full = {k: dcgan_step(v, a.batch) for k, v in (("memory-mapped", mapped), ("in-memory", in_memory))}
        ms = time_arms({k: v[0] for k, v in full.items()}, a.rounds, a.steps, warmup=1,
                       progress=lambda r, m: print(f"  round {r + 1}: " + ", ".join(
                           f"{k} {v[-1]:.1f} ms" for k, v in m.items()), flush=True))
        report("full G+D step", ms)
        # the batch alone takes ~1 ms: many more, shorter rounds than the step, or the load's noise dominates
        report("batch alone (BatchStream.next)", time_arms({k: v[1] for k, v in full.items()}, 4 * a.rounds,
                                                          200, warmup=20))
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
