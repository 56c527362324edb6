"""Do label-free features rank generators as the classifier does? Spearman's rho between two FCDs of one run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_feature_agreement.py            # ~20 min on 1 thread
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_feature_agreement.py --steps 1500 --every 250

1. Exports Fashion-MNIST's first --n training images (the repo's loader, padded to 32x32) as an UNLABELLED
   folder of PNGs (--folder, default /tmp/fm_folder; kept and reused).
2. Trains one run on that folder (`gan train configs/fashion_mnist.yaml data.name=folder ...`, half width as
   the study presets, eval.features=auto -> rotation features, trained on the folder once and cached), in
   segments of --every steps with --resume, keeping each segment's checkpoint.
3. Scores each checkpoint's G (2048 samples from the fixed evaluation noise) by FCD in two feature spaces:
   the Fashion-MNIST classifier (trained on the labels; real features: the built-in test split) and the
   rotation network (no labels; real features: the folder's held-out split). Prints both per step and
   Spearman's rank correlation (scipy.stats.spearmanr) between them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from PIL import Image  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import pearsonr, spearmanr  # noqa: E402

from gan.config.load import config_from_dict, load_config  # noqa: E402
from gan.data.builtin import load_split as builtin_split  # noqa: E402
from gan.measure.quality import Evaluator  # noqa: E402
from gan.nets.models import build_models, image_channels  # noqa: E402
from gan.train.checkpoint import load_checkpoint  # noqa: E402

RUN_OVERRIDES = ["model.ngf=32", "model.ndf=32", "train.log_every=50", "train.probe_every=0",
                 "train.sample_every=0", "track.wandb=disabled", "eval.n_samples=2048"]


def export(folder: Path, n: int) -> float:
    """Fashion-MNIST's first n training images as flat PNGs (no labels); seconds taken (0 when already there)."""
    if folder.is_dir() and len(list(folder.glob("*.png"))) == n:
        return 0.0
    start = time.perf_counter()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    images = builtin_split(load_config("configs/fashion_mnist.yaml").data, train=True).images[:n]  # (n, 1, 32, 32)
    for i, x in enumerate(images):
        Image.fromarray(x[0].numpy(), "L").save(folder / f"{i:05d}.png")
    return time.perf_counter() - start


def gan_train(args: list[str]) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "gan", "train", *args], cwd=REPO, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        sys.exit(f"gan train {' '.join(args)} failed:\n{done.stderr[-3000:]}")


def train_in_segments(folder: Path, run: Path, steps: int, every: int) -> list[tuple[int, Path]]:
    """[(step, checkpoint copy)] of one run trained `every` steps at a time (the last segment evaluates)."""
    kept = run.parent / f"{run.name}_checkpoints"
    shutil.rmtree(run, ignore_errors=True)
    shutil.rmtree(kept, ignore_errors=True)
    kept.mkdir(parents=True)
    out = []
    for step in range(every, steps + 1, every):
        evaluate = f"eval.enabled={'true' if step == steps else 'false'}"
        if step == every:
            gan_train(["configs/fashion_mnist.yaml", "data.name=folder", f"data.root={folder}", *RUN_OVERRIDES,
                       f"train.steps={step}", f"train.ckpt_every={every}", evaluate, "--out", str(run)])
        else:
            gan_train(["--resume", str(run), f"train.steps={step}", evaluate])
        out.append((step, shutil.copy(run / "checkpoints" / "last.pt", kept / f"step_{step:06d}.pt")))
        print(f"  trained to step {step} ({time.strftime('%H:%M:%S')})", flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folder", default="/tmp/fm_folder")
    p.add_argument("--n", type=int, default=10_000, help="images exported")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--every", type=int, default=250, help="steps between the checkpoints compared")
    p.add_argument("--run", default="/tmp/fm_folder_run")
    a = p.parse_args()
    torch.set_num_threads(1)
    os.chdir(REPO)  # data.root=data (the built-in Fashion-MNIST and the classifier cache) is relative to the repo
    t0 = time.perf_counter()
    folder, run = Path(a.folder), Path(a.run)
    took = export(folder, a.n)
    print(f"folder: {folder}, {a.n} unlabelled Fashion-MNIST PNGs" + (f" (exported in {took:.0f} s)" if took else ""))
    checkpoints = train_in_segments(folder, run, a.steps, a.every)
    t_train = time.perf_counter() - t0
    cfg = config_from_dict(load_checkpoint(str(checkpoints[-1][1]))["config"])
    rotation = Evaluator(cfg)  # eval.features=auto on an unlabelled folder: the rotation network (cached by the run)
    classifier = Evaluator(load_config("configs/fashion_mnist.yaml", RUN_OVERRIDES))  # the labelled classifier
    warnings.filterwarnings("ignore", message=".*samples .* are biased")  # the folder holds out 1000 images
    print(f"real features: classifier {len(classifier.real_feats)} built-in test images, rotation "
          f"{len(rotation.real_feats)} held-out folder images; fakes: {cfg.eval.n_samples} per checkpoint")
    print(f"feature networks: {rotation.kind} (sha256 {rotation.classifier_meta['sha256'][:12]}, trained once in "
          f"{rotation.classifier_meta.get('train_time_s', float('nan')) / 60:.1f} min, held-out rotation accuracy "
          f"{rotation.classifier_meta.get('rotation_acc', float('nan')):.3f}, sanity "
          + ", ".join(f"{k} {v:.3g}" for k, v in rotation.classifier_meta.get("sanity", {}).items())
          + f"), {classifier.kind} (test accuracy {classifier.classifier_meta.get('test_acc', float('nan')):.4f})")
    rows = []
    print(f"{'step':>6}  {'FCD classifier':>14}  {'FCD rotation':>12}")
    for step, path in checkpoints:
        state = load_checkpoint(str(path))
        G, _ = build_models(cfg.model, image_channels(state["G"]), cfg.data.image_size, cfg.data.range)
        G.load_state_dict(state["G"])
        fcd_c = classifier.evaluate(G)["quality/fcd"]
        fcd_r = rotation.evaluate(G)["quality/fcd"]
        rows.append((step, fcd_c, fcd_r))
        print(f"{step:>6}  {fcd_c:>14.3f}  {fcd_r:>12.3f}", flush=True)
    rho, p = spearmanr([r[1] for r in rows], [r[2] for r in rows])
    r_log, _ = pearsonr(np.log([r[1] for r in rows]), np.log([r[2] for r in rows]))  # beyond ranks: the sizes
    import json
    summary = json.loads((run / "summary.json").read_text())
    final = {k: v for k, v in summary["final"].items() if k.startswith("quality/")}
    print(f"the run's own final quality (rotation features, {cfg.eval.n_samples} samples): "
          + ", ".join(f"{k.removeprefix('quality/')} {v:.4g}" for k, v in final.items()))
    print(f"Spearman rho = {rho:.3f} (p = {p:.3g}), Pearson r of log FCDs = {r_log:.4f}, over {len(rows)} checkpoints; "
          f"total {(time.perf_counter() - t0) / 60:.1f} min (training incl. rotation features {t_train / 60:.1f} min), "
          f"torch threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
