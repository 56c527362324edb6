"""Does FCD rank what it should? Real images < blurred < heavily blurred < noise, in the dataset classifier's
features, against the test split (the same Evaluator every run uses).

    python benchmarks/bench_fcd_sanity.py configs/fashion_mnist.yaml
    python benchmarks/bench_fcd_sanity.py configs/mnist5k.yaml --n 1000

Prints the classifier's test accuracy and one FCD per corruption of n real train images; exits 1 when the
ranking is broken (a feature network that cannot tell noise from digits measures nothing).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torchvision.transforms.functional import gaussian_blur

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan.config.load import load_config
from gan.data.builtin import load_split
from gan.data.images import to_float
from gan.measure.quality import Evaluator, frechet_distance  # noqa: E402


def corruptions(x: torch.Tensor, g: torch.Generator) -> dict[str, torch.Tensor]:
    """x: float (N, C, S, S) in [-1, 1] -> named versions of it, mildest first."""
    return {"real train images": x,
            "blurred (sigma 1)": gaussian_blur(x, kernel_size=7, sigma=1.0),
            "blurred (sigma 2)": gaussian_blur(x, kernel_size=13, sigma=2.0),
            "uniform noise": torch.rand(x.shape, generator=g) * 2 - 1}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config", help="a dataset config, e.g. configs/fashion_mnist.yaml")
    p.add_argument("--n", type=int, default=2048, help="real train images per corruption (default 2048)")
    a = p.parse_args()
    cfg = load_config(a.config, [f"eval.n_samples={a.n}"])
    ev = Evaluator(cfg)
    print(f"{cfg.data.name}: classifier test accuracy {ev.classifier_meta.get('test_acc'):.4f} "
          f"(sha256 {ev.classifier_meta['sha256'][:12]}), {len(ev.real_feats)} test images")
    g = torch.Generator().manual_seed(0)
    train = load_split(cfg.data, train=True)
    x = to_float(train.images[torch.randperm(len(train), generator=g)[:a.n]])
    fcds = {}
    for name, images in corruptions(x, g).items():
        feats, _, _ = ev.embed(images.split(cfg.eval.batch_size))
        fcds[name] = frechet_distance(ev.real_feats, feats)
        print(f"  FCD {name:<20} {fcds[name]:10.3f}")
    ranked = list(fcds.values()) == sorted(fcds.values())
    print("ranking real < blurred < more blurred < noise:", "holds" if ranked else "BROKEN")
    return 0 if ranked else 1


if __name__ == "__main__":
    sys.exit(main())
