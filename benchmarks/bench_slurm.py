"""What running a study through Slurm costs: submission overhead per run, and a 4-run study local vs Slurm.

    python benchmarks/bench_slurm.py [--submit-runs 64] [--steps 6] [--rounds 1]

Needs a Slurm cluster this machine can submit to (ci/slurm/start.sh starts a one-node one; this script
runs it when run as root and no cluster answers) and submitit (pip install submitit).

Prints, all measured in this one run:
- submission: `run_on_slurm(..., detach=True)` wall time for a 1-run and an N-run study (sinfo, scontrol,
  squeue, pickling and one sbatch per array), and the implied cost per extra run; the jobs are then cancelled;
- a 4-run tiny fake-data study (configs/study/tiny.yaml's runs): `gan study --jobs 2` locally against
  run_on_slurm + results.csv + report through Slurm (cpus_per_task=1, so 2 tasks at once on 2 cores), in
  alternating order when --rounds > 1. Both include results.csv and the report; the Slurm side adds
  scheduling, a submitit worker per task and squeue polling (poll_s=1).
The machine is shared: compare the numbers of one run with each other, not with another run's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY = {"data.name": "fake", "model.ngf": 8, "model.ndf": 8, "model.nz": 16, "train.batch_size": 16,
        "eval.enabled": False, "track.wandb": "disabled", "train.log_every": 2, "train.probe_every": 2,
        "train.sample_every": 3, "train.ckpt_every": 3}


def write_study(folder: Path, name: str, steps: int, seeds: int, acts: list[str]) -> Path:
    import yaml

    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "base": str(REPO / "configs" / "fake.yaml"),
                                    "overrides": {**TINY, "train.steps": steps},
                                    "axes": {"model.d_act": acts, "train.seed": list(range(seeds))}}))
    return path


def ensure_cluster() -> None:
    ok = shutil.which("sinfo") and subprocess.run(["sinfo", "-h"], capture_output=True, timeout=60).returncode == 0
    if ok:
        return
    if os.geteuid() != 0:
        sys.exit("bench_slurm: no Slurm cluster answers, and ci/slurm/start.sh needs root to start one")
    out = subprocess.run(["bash", str(REPO / "ci" / "slurm" / "start.sh")], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bench_slurm: {out.stderr.strip()}")
    print(out.stdout.strip())


def cancel(job_name: str) -> None:
    subprocess.run(["scancel", "-n", job_name], check=True)
    while subprocess.run(["squeue", "-h", "-n", job_name], capture_output=True, text=True).stdout.strip():
        time.sleep(0.5)


def time_submission(work: Path, runs: int) -> float:
    """Wall time of a detached submission of a `runs`-run study (then cancelled: nothing trains)."""
    from gan.study.slurm import run_on_slurm
    from gan.study.slurm_options import SlurmOptions
    from gan.study.spec import read_study_spec

    spec = read_study_spec(write_study(work, f"bench-submit-{runs}-{len(list(work.iterdir()))}", 6, runs, ["relu"]))
    t0 = time.perf_counter()
    run_on_slurm(spec, work / spec.name, spec.runs, SlurmOptions(time_min=5), detach=True)
    seconds = time.perf_counter() - t0
    cancel(f"gan-{spec.name}")
    return seconds


def study_local(study: Path, out: Path) -> float:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "gan", "study", str(study), "--jobs", "2", "--out", str(out)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"bench_slurm: the local study failed: {done.stderr[-1000:]}")
    return time.perf_counter() - t0


SLURM_STUDY = """
import sys
from gan.report.study_report import write_report
from gan.study.slurm import run_on_slurm
from gan.study.slurm_options import SlurmOptions
from gan.study.collect import collect_results
from gan.study.spec import read_study_spec
spec = read_study_spec(sys.argv[1])
statuses = run_on_slurm(spec, sys.argv[2], spec.runs, SlurmOptions(time_min=10, cpus_per_task=1), poll_s=1.0)
assert set(statuses.values()) == {"completed"}, statuses
collect_results(sys.argv[2], spec, spec.runs)
write_report(sys.argv[2])
"""


def study_slurm(study: Path, out: Path) -> float:
    """The same study through Slurm, in its own process like `gan study` (so both pay the imports)."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", SLURM_STUDY, str(study), str(out)], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"bench_slurm: the Slurm study failed: {done.stderr[-1000:]}")
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--submit-runs", type=int, default=64, help="runs of the submission-overhead study (default 64)")
    p.add_argument("--steps", type=int, default=6, help="steps of each run of the 4-run study (default 6)")
    p.add_argument("--rounds", type=int, default=1, help="local/Slurm pairs, order alternating (default 1)")
    p.add_argument("--keep", action="store_true", help="keep the temporary study folders (their path is printed)")
    a = p.parse_args()
    ensure_cluster()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("WANDB_MODE", "disabled")
    work = Path(tempfile.mkdtemp(prefix="bench_slurm_", dir=os.environ.get("GAN_BENCH_DIR")))
    os.environ.setdefault("GAN_CACHE_DIR", str(work / "cache"))
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; folders under {work}")

    time_submission(work, 1)  # warm-up: imports (submitit) and the first sbatch, outside the timings
    ones, manys = [], []
    for r in range(3):  # alternating, median of 3
        for runs, times in ([(1, ones), (a.submit_runs, manys)] if r % 2 == 0 else [(a.submit_runs, manys), (1, ones)]):
            times.append(time_submission(work, runs))
    one, many = statistics.median(ones), statistics.median(manys)
    print(f"submission, 1-run study (median of 3):  {1000 * one:7.0f} ms")
    print(f"submission, {a.submit_runs}-run study (median of 3): {1000 * many:7.0f} ms  ({1000 * many / a.submit_runs:.1f} ms "
          f"per run overall; {1000 * (many - one) / max(a.submit_runs - 1, 1):.1f} ms per extra run)")

    study = write_study(work, "bench-study", a.steps, 2, ["relu", "leaky_relu:0.2"])
    local, slurm = [], []
    for r in range(a.rounds):
        order = [("local", study_local, local), ("slurm", study_slurm, slurm)]
        for name, fn, times in (order if r % 2 == 0 else order[::-1]):
            times.append(fn(study, work / f"{name}-{r}"))
            print(f"round {r + 1}: {name:<5} {times[-1]:7.2f} s")
    med_l, med_s = statistics.median(local), statistics.median(slurm)
    print(f"4-run study ({a.steps} steps each), median of {a.rounds}: local --jobs 2 {med_l:.1f} s | "
          f"Slurm one node {med_s:.1f} s | Slurm / local {med_s / med_l:.2f}x")
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
