"""`gan advise`'s wall time here, its plan beside it, and where the time goes: training, evaluating, probing.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_advise.py                 # both cases, default pilot
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_advise.py --which folder --seeds 2 --n 3000

Cases: `fashion` (`gan advise configs/fashion_mnist.yaml`: the built-in data, its classifier cached or trained
once) and `folder` (Fashion-MNIST's first --n training images exported as an unlabelled folder of PNGs, with a
fresh feature cache: a first-time folder, so the rotation feature network is trained and counted). Each runs the
real command in a subprocess into a fresh pilot folder and prints: its wall time (planning included), the plan
it printed before training (plan.json: every cost) and measured / planned; then the split of the runs' own time,
read from their metrics.jsonl: a row's perf/step_ms covers the steps since the previous row, and a probe or an
evaluation at step s lands in the interval after s; the training share is steps x the median step time of the
intervals holding neither, probing and evaluating the extra time of the intervals holding them, the rest
(starting, checkpoints, sample grids) is "other". Numbers only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def export(folder: Path, n: int) -> None:
    """Fashion-MNIST's first n training images as flat PNGs (kept and reused)."""
    from PIL import Image

    from gan.config.load import load_config
    from gan.data.builtin import load_split

    if folder.is_dir() and len(list(folder.glob("*.png"))) == n:
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    images = load_split(load_config(str(REPO / "configs/fashion_mnist.yaml")).data, train=True).images[:n]
    for i, x in enumerate(images):
        Image.fromarray(x[0].numpy(), "L").save(folder / f"{i:05d}.png")


def split(run: Path) -> dict[str, float]:
    """Seconds of one run spent training, probing, evaluating and otherwise (module docstring)."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    import yaml

    cfg = yaml.safe_load((run / "config.yaml").read_text())
    probe_every, eval_every = cfg["train"]["probe_every"], cfg["eval"]["every"]
    timed = [(r["step"], r["perf/step_ms"]) for r in rows if r.get("perf/step_ms") is not None]
    intervals = []  # (kind, seconds, steps): what ran after the previous row lands in this row's interval
    prev = 0
    for step, ms in timed:
        kind = ("eval" if eval_every and prev and prev % eval_every == 0 else
                "probe" if probe_every and prev and prev % probe_every == 0 else "train")
        intervals.append((kind, ms * (step - prev) / 1000, step - prev))
        prev = step
    # the training time of an interval holding a probe or an evaluation: its steps at the per-step time of the
    # nearest intervals holding neither (the load on this machine drifts; a global median would not follow it)
    pure = [i for i, (k, _, _) in enumerate(intervals) if k == "train"]
    out = {"train": 0.0, "probe": 0.0, "eval": 0.0}
    n_probe = n_eval = 0
    for i, (kind, seconds, n) in enumerate(intervals):
        near = sorted(pure, key=lambda j: abs(j - i))[:2]
        per_step = statistics.fmean(intervals[j][1] / intervals[j][2] for j in near)
        out["train"] += n * per_step
        if kind != "train":
            out[kind] += seconds - n * per_step
            n_probe += kind == "probe"
            n_eval += kind == "eval"
    steps = cfg["train"]["steps"]
    # an evaluation interval also holds that step's probe; the probe and evaluation at the last step run after its
    # row, in no interval: each is counted as the mean of the others
    probe_each = out["probe"] / n_probe if n_probe else 0.0
    out["eval"] -= probe_each * n_eval
    eval_each = out["eval"] / n_eval if n_eval else 0.0
    out["probe"] += probe_each * (n_eval + bool(probe_every and steps % probe_every == 0))
    out["eval"] += eval_each * bool(eval_every and steps % eval_every == 0)
    wall = json.loads((run / "summary.json").read_text())["wall_time_s"]
    out["other"] = wall - sum(out.values())
    out["wall"] = wall
    return out


def case(name: str, setup: list[str], out: Path, seeds: int, steps: int, jobs: int, env: dict[str, str]) -> None:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "gan", "advise", *setup, "--seeds", str(seeds), "--steps",
                           str(steps), "--jobs", str(jobs), "--out", str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode not in (0, 1):
        sys.exit(f"gan advise {' '.join(setup)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    plan = json.loads((out / "plan.json").read_text())
    est = plan["estimate"]
    parts = [split(p) for p in sorted((out / "runs").glob("*/")) if (p / "summary.json").is_file()]
    total = {k: sum(p[k] for p in parts) for k in ("train", "probe", "eval", "other", "wall")}
    print(f"\n== {name}: gan advise {' '.join(setup)} --seeds {seeds} --steps {steps} --jobs {jobs}")
    print(f"wall time {wall / 60:.1f} min (planning, the feature network when not cached, {len(parts)} runs, "
          f"analysis); planned {est['total'] / 60:.1f} min -> measured / planned {plan['measured_s'] / est['total']:.2f} "
          f"(the runs' part, {plan['measured_s'] / 60:.1f} min, against the plan)")
    print("plan, min: " + ", ".join(f"{k} {v / 60:.1f}" for k, v in est.items() if k != "total"))
    print(f"the runs' own time ({total['wall'] / 60:.1f} run-minutes over {len(parts)} runs, --jobs {jobs}): "
          + ", ".join(f"{k} {100 * total[k] / total['wall']:.0f}%" for k in ("train", "eval", "probe", "other")))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--which", choices=("fashion", "folder", "both"), default="both", help="which case(s) to run")
    p.add_argument("--seeds", type=int, default=3, help="paired seeds (gan advise's default: 3)")
    p.add_argument("--steps", type=int, default=2000, help="pilot length (gan advise's default and minimum: 2000)")
    p.add_argument("--jobs", type=int, default=2, help="runs at once (gan advise's default on 2 cores: 2)")
    p.add_argument("--n", type=int, default=10_000, help="images in the exported folder")
    p.add_argument("--folder", default="/tmp/advise_folder", help="where the folder of PNGs is exported")
    p.add_argument("--out", default="/tmp/bench_advise", help="pilot folders (replaced) and the folder's fresh cache")
    a = p.parse_args()
    os.chdir(REPO)  # configs/fashion_mnist.yaml's data.root (data/) is relative to the repository
    out = Path(a.out)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    print(f"load average at the start: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    if a.which in ("fashion", "both"):
        case("Fashion-MNIST", ["configs/fashion_mnist.yaml"], out / "fashion", a.seeds, a.steps, a.jobs, env)
    if a.which in ("folder", "both"):
        export(Path(a.folder), a.n)
        cache = out / "folder_cache"
        shutil.rmtree(cache, ignore_errors=True)
        case(f"a first-time folder of {a.n} unlabelled PNGs", [a.folder], out / "folder", a.seeds, a.steps, a.jobs,
             {**env, "GAN_CACHE_DIR": str(cache)})
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
