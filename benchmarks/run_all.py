"""`make bench`: every benchmark in turn, then one summary table (train speed, probe overhead, evaluation time).

    .venv/bin/python benchmarks/run_all.py               # bench_train --quick, bench_probe_overhead, bench_eval
    .venv/bin/python benchmarks/run_all.py --only train  # one of them

Each benchmark runs as its own process (its full output streams through) and the table quotes its
result lines. Copy the table into benchmarks/README.md with the date, the machine and the command.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import torch

from gan.train.machine import describe_cpu

HERE = Path(__file__).resolve().parent

# name -> (script and arguments, patterns of the lines the table quotes: (label, regex with one group))
BENCHMARKS: dict[str, tuple[list[str], list[tuple[str, str]]]] = {
    "train": (["bench_train.py", "--quick"], [
        ("train {0} {1}", r"^RATIO \| (\S+) \| (.+?) \| (.+)$"),
    ]),
    "probe": (["bench_probe_overhead.py"], [
        ("probe / train step", r"^probe / step:\s+(.+)$"),
        ("probe overhead, 1000-step run, probe_every={0} (implied)",
         r"^implied overhead of a 1000-step run at probe_every=(\d+):\s+(.+)$"),
        ("probe overhead, measured on / off", r"measured overhead (.+)$"),
    ]),
    "eval": (["bench_eval.py"], [
        ("evaluation, Evaluator.evaluate", r"^Evaluator\.evaluate \(total\)\s+(.+)$"),
    ]),
}


def run_one(name: str, script: list[str]) -> tuple[int, str, float]:
    """Run benchmarks/<script> with this Python, echoing its output; returns (exit code, output, seconds)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")]))}
    print(f"\n######## {name}: {' '.join(script)}", flush=True)
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(HERE / script[0]), *script[1:]], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, cwd=HERE.parent)
    lines = []
    for line in proc.stdout:
        print(line, end="", flush=True)
        lines.append(line)
    return proc.wait(), "".join(lines), time.perf_counter() - t


def table_rows(name: str, patterns: list[tuple[str, str]], code: int, output: str,
               seconds: float) -> list[tuple[str, str]]:
    """(label, result) rows quoting the lines of `output` that match `patterns`, plus failure and wall time."""
    rows = []
    for label, pattern in patterns:
        for m in re.finditer(pattern, output, flags=re.MULTILINE):
            groups = m.groups()
            rows.append((label.format(*groups[:-1]), groups[-1].strip()))
    if code != 0:
        rows.append((name, f"FAILED (exit {code}); see its output above"))
    elif not rows:
        rows.append((name, "no result line found in its output (did its format change?)"))
    rows.append((f"{name}: wall time of the benchmark", f"{seconds:.0f} s"))
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=list(BENCHMARKS), action="append", help="run only these (repeatable)")
    args = p.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M")
    rows, failed = [], []
    for name in args.only or list(BENCHMARKS):
        script, patterns = BENCHMARKS[name]
        if not (HERE / script[0]).is_file():
            rows.append((name, f"missing: benchmarks/{script[0]}"))
            failed.append(name)
            continue
        code, output, seconds = run_one(name, script)
        rows += table_rows(name, patterns, code, output, seconds)
        if code != 0:
            failed.append(name)
    width = max(len(k) for k, _ in rows)
    print(f"\n######## summary ({started}; torch {torch.__version__}; {platform.machine()}, {os.cpu_count()} CPUs"
          f"{', GPU ' + torch.cuda.get_device_name() if torch.cuda.is_available() else ''}; "
          f"load average {os.getloadavg()[0]:.1f})")
    print(describe_cpu())
    print(f"| {'benchmark':<{width}} | result |\n|{'-' * (width + 2)}|--------|")
    for k, v in rows:
        print(f"| {k:<{width}} | {v} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
