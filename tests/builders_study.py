"""A fake study folder for report, figure, answer and provenance tests (no training): `make_study`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import yaml

from gan.study.derived import derived_columns

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LAYERS = ("conv1", "conv2", "conv3")


def make_study(root: Path, acts=("relu", "leaky_relu:0.2"), seeds=tuple(range(10)), quality: bool = True,
               failed: bool = True, steps: int = 100, extra_axes: dict | None = None) -> Path:
    """A fake study dir: study.yaml, results.csv, runs/<run>/metrics.jsonl and samples/final.png.

    ReLU runs get more dead units, sparser input gradients and a worse FCD, so claims 1-3 are supported
    (9 complete pairs with the default seeds: enough for the exact sign-flip test after Holm).
    `extra_axes` ({"model.d_norm": ["batch", "none"]}) multiplies the runs; the metrics ignore them.
    """
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    extra_axes = extra_axes or {}
    cells = [{}]
    for key, levels in extra_axes.items():
        cells = [{**c, key: v} for c in cells for v in levels]
    root.mkdir(parents=True, exist_ok=True)
    (root / "study.yaml").write_text(yaml.safe_dump({
        "name": "synthetic", "base": "configs/fashion_mnist.yaml", "overrides": {"train.steps": steps},
        "axes": {"model.d_act": list(acts), **extra_axes, "train.seed": list(seeds)}}, sort_keys=False))
    results = []
    for act in acts:
        relu = act == "relu"
        for seed, cell in ((s, c) for c in cells for s in seeds):
            tag = "".join(f"-{k.rsplit('.', 1)[-1]}_{v}" for k, v in cell.items())
            name = f"fake-D_{act}-G_relu{tag}-s{seed}".replace(":", "_")
            run_dir = root / "runs" / name
            (run_dir / "samples").mkdir(parents=True)
            status = "diverged" if failed and relu and seed == seeds[-1] else "completed"
            last = steps // 2 if status == "diverged" else steps
            rows = []
            for step in range(0, last + 1, 10):
                t = step / steps
                row = {"step": step, "loss/D": 1.2 - 0.3 * t + rng.normal(0, 0.05), "loss/G": 0.8 + 0.5 * t,
                       "D/real_prob": 0.6, "D/fake_prob": 0.4, "perf/step_ms": 20.0 + rng.normal(0, 0.5)}
                if step % 50 == 0:
                    dead = {ly: (0.1 + 0.3 * t * (i + 1) if relu else 0.02) + rng.uniform(0, 0.01)
                            for i, ly in enumerate(LAYERS)}
                    row |= {f"probe/D/{ly}/dead_frac": v for ly, v in dead.items()}
                    row |= {"probe/D/dead_frac": float(np.mean(list(dead.values()))),
                            "probe/D/real/dead_frac": 0.0,
                            "probe/D/grad_zero_frac": (0.5 if relu else 0.0) + rng.uniform(0, 0.02),
                            "probe/D/param_grad_zero_frac": (0.2 if relu else 0.0) + rng.uniform(0, 0.01),
                            "probe/input_grad/hoyer": (0.6 if relu else 0.3) + rng.uniform(0, 0.02),
                            "probe/input_grad/zero_frac": (0.3 if relu else 0.0) + rng.uniform(0, 0.01),
                            "probe/input_grad/norm": 1.0 + rng.uniform(0, 0.1)}
                if quality and step >= steps // 2 and step % 25 == 0 and step <= last:
                    row |= {"quality/fcd": (30.0 if relu else 20.0) * (1.5 - t) + rng.normal(0, 0.5),
                            "quality/modes_covered": 8.0 if relu else 10.0}
                rows.append(row)
            (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": ')
            if status == "completed":
                plt.imsave(run_dir / "samples" / "final.png", rng.uniform(0, 1, (34, 34, 3)))
            final = {f"final/{k}": v for r in rows for k, v in r.items() if k != "step"}
            probe = [k for k in rows[0] if k.startswith("probe/")]
            mean = {f"mean/{k}": float(np.mean([r[k] for r in rows if k in r])) for k in probe}
            if status != "completed":
                final = {}
            results.append({"run": name, "run_dir": f"runs/{name}", "status": status, "model.d_act": act,
                            **cell, "train.seed": seed, "train.steps": steps, **final, **mean,
                            **(derived_columns(rows) if status == "completed" else {})})  # as collect_results
    columns = list(dict.fromkeys(k for r in results for k in r))
    with (root / "results.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(results)
    return root
