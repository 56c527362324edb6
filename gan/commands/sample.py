"""`gan sample DIR|CKPT [--n 64] [--out grid.png]`: a grid of samples from a checkpoint (the run's fixed noise)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from gan.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("sample", help="write a grid of samples from a checkpoint")
    s.add_argument("run", metavar="DIR|CKPT", help="run directory or checkpoint file")
    s.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--out", help="PNG path (default: DIR/grid.png)")
    s.set_defaults(fn=run)


def run(a: argparse.Namespace) -> int:
    if a.n <= 0:
        raise UserError(f"--n must be positive, got {a.n}")
    return sample_grid(a.run, a.n, a.out)


def sample_grid(run_dir_or_ckpt: str, n: int, out: str | None) -> int:
    """A grid of n images from a checkpoint (fixed noise of the run's seed), written as a PNG."""
    from gan.files.layout import RunDir
    from gan.nets.sampling import fixed_noise, generate, save_grid
    from gan.train.checkpoint import load_generator
    from gan.train.machine import check_grid_fits

    trained = load_generator(run_dir_or_ckpt)
    G, cfg = trained.G, trained.cfg
    check_grid_fits(cfg, trained.nc, n)  # a huge --n is refused before the images are allocated
    path = Path(out) if out else RunDir(run_dir_or_ckpt if Path(run_dir_or_ckpt).is_dir() else ".").grid
    save_grid(generate(G, fixed_noise(n, cfg.model.nz, cfg.train.seed)), path, nrow=max(1, int(math.sqrt(n))))
    print(f"wrote {n} samples from step {trained.step} to {path}")
    return 0
