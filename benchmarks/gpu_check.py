"""One unattended GPU check (under 8 minutes): train img/s in fp32, bf16 and compiled, and the quick study's wall time.

    .venv/bin/python benchmarks/gpu_check.py                 # on a machine with a CUDA GPU
    .venv/bin/python benchmarks/gpu_check.py --skip-study    # throughput only (~3 minutes)

Measures, with torch.cuda.synchronize around every timed block (bench_train's machinery):
  - 32x32 / batch 256 and 64x64 / batch 128 (ngf = ndf = 64): the reference loop (main.py, DataLoader with
    --ref-workers workers), gan fp32, gan bf16, gan bf16 under torch.compile, and the fp32 / bf16 GEMM rate;
  - the quick study (configs/study/quick.yaml: 4 runs x 600 steps, probes and evaluation on) on fake data,
    W&B disabled, as `gan study` runs it; its wall time.
Ends with one table. A phase that would overrun the time budget is skipped and says so. Never needed by
the project: on a machine without CUDA it says so and exits 2.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_train  # noqa: E402  (benchmarks/ is not a package)

from gan.train.machine import describe_cpu  # noqa: E402


def study_wall_time(jobs: int, timeout: float, device: str, steps: int | None = None) -> tuple[str, str]:
    """Run the quick study on fake data in a temp dir; returns (status, wall time or reason)."""
    quick = yaml.safe_load((HERE.parent / "configs" / "study" / "quick.yaml").read_text())
    overrides = {**quick["overrides"], "data.name": "fake", "track.wandb": "disabled", "train.device": device,
                 **({"train.steps": steps} if steps else {})}
    n_runs = 1
    for values in quick["axes"].values():
        n_runs *= len(values)
    with tempfile.TemporaryDirectory() as tmp:
        study = {**quick, "name": "quick_fake", "base": str(HERE.parent / quick["base"]), "overrides": overrides}
        path = Path(tmp) / "quick_fake.yaml"
        path.write_text(yaml.safe_dump(study))
        env = {**os.environ, "WANDB_MODE": "disabled", "GAN_CACHE_DIR": str(Path(tmp) / "cache"),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")]))}
        cmd = [sys.executable, "-m", "gan", "study", str(path), "--out", str(Path(tmp) / "study"), "--jobs", str(jobs)]
        t = time.perf_counter()
        try:
            proc = subprocess.run(cmd, env=env, cwd=HERE.parent, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return "timeout", f"> {timeout:.0f} s (stopped)"
        wall = time.perf_counter() - t
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            return "failed", f"exit {proc.returncode} after {wall:.0f} s: {' | '.join(tail)}"
        return "ok", f"{wall:.0f} s for {n_runs} runs x {overrides['train.steps']} steps ({jobs} at a time)"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=400,
                   help="seconds for the measurements (default 400; hard stop 40 s later)")
    p.add_argument("--repeats", type=int, default=5, help="rotating rounds per size")
    p.add_argument("--steps", type=int, default=20, help="steps per arm per round")
    p.add_argument("--ref-workers", type=int, default=4, help="DataLoader workers of the reference loop")
    p.add_argument("--jobs", type=int, default=1, help="study runs at a time (`gan study --jobs`)")
    p.add_argument("--skip-study", action="store_true", help="throughput only")
    p.add_argument("--study-steps", type=int, default=None, help="train.steps of each study run (default: quick's 600)")
    p.add_argument("--sizes", default="32:256,64:128", help="image_size:batch pairs")
    p.add_argument("--width", type=int, default=64, help="ngf = ndf")
    p.add_argument("--gemm", type=int, default=8192, help="GEMM size for the fp32 / bf16 peak rate")
    p.add_argument("--device", default="cuda", help="cuda (cpu only to try this script out on tiny sizes)")
    args = p.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU visible; this check is for GPU machines (the CPU benchmark is bench_train.py)")
        return 2
    started = time.perf_counter()
    torch.backends.cudnn.benchmark = True  # what a long run would settle on; both sides get it
    rows: list[tuple[str, str, str, str]] = []
    study = ("skipped", "--skip-study")
    signal.signal(signal.SIGALRM, _out_of_time)
    signal.alarm(int(args.budget + 40))  # hard stop: whatever overruns (a slow compile), the table still prints
    try:
        study = _measure(args, started, rows)
    except OutOfTime:
        study = ("timeout", f"hard stop at {args.budget + 40:.0f} s; the rows above are what finished")
    signal.alarm(0)
    total = time.perf_counter() - started
    where = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU (trying the script out)"
    print(f"\n######## gpu_check: {where}, torch {torch.__version__}, "
          f"CUDA {torch.version.cuda}, {os.cpu_count()} CPUs; {total:.0f} s in all")
    print(describe_cpu())
    print(f"| {'size':<11} | {'arm':<34} | {'img/s':>8} | {'x ref':>8} |")
    print(f"|{'-' * 13}|{'-' * 36}|{'-' * 10}|{'-' * 10}|")
    for size, arm, img_s, ratio in rows:
        print(f"| {size:<11} | {arm:<34} | {img_s:>8} | {ratio:>8} |")
    print(f"| quick study (fake data) | {study[0]}: {study[1]} |")
    return 0 if study[0] in ("ok", "skipped") else 1


class OutOfTime(BaseException):
    """Raised by the hard-stop alarm; a BaseException so no `except Exception` on the way swallows it."""


def _out_of_time(signum, frame) -> None:
    raise OutOfTime


def _measure(args: argparse.Namespace, started: float, rows: list[tuple[str, str, str, str]]) -> tuple[str, str]:
    """Both sizes into `rows`, then the study; returns the study's (status, text)."""
    for pair in args.sizes.split(","):
        size, batch = (int(v) for v in pair.split(":"))
        left = args.budget - (time.perf_counter() - started)
        # a compiled arm warms up in ~1-2 min; keep ~2 min for the study
        compile_ok = left > (120 if args.skip_study else 240)
        argv = ["--device", args.device, "--quick", "--sizes", f"{size}:{batch}", "--width", str(args.width),
                "--precision", "fp32,bf16",
                "--repeats", str(args.repeats), "--steps", str(args.steps), "--warmup", "5",
                "--gemm", str(args.gemm), "--gemm-calls", "10", "--ref-workers", str(args.ref_workers)]
        if compile_ok:
            argv += ["--compile", "bf16"]
        else:
            rows.append((f"{size}x{size}/b{batch}", "gan bf16 + torch.compile", "skipped", "time budget"))
        results = bench_train.main(argv)
        for arm, r in next(iter(results.values())).items():
            rows.append((f"{size}x{size}/b{batch}", arm, f"{r['img_per_s']:.0f}", f"{r['x_ref']:.2f}"))
    if args.skip_study:
        return "skipped", "--skip-study"
    left = args.budget - (time.perf_counter() - started)
    if left < 60:
        return "skipped", "time budget"
    return study_wall_time(args.jobs, max(left, 30), args.device, args.study_steps)


if __name__ == "__main__":
    sys.exit(main())
