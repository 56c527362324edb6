"""Claim 6's measurement: ReLU vs LeakyReLU training-step time, side by side in one process (gan/train/step_time.py).

    python benchmarks/bench_act_step.py configs/study/quick.yaml [--out STUDY_DIR] [--rounds 10] [--steps 20]
                                        [--warmup 3] [--phase full|d] [--threads N]

The model size comes from the study file (base config + its overrides: ngf, ndf, batch, d_norm, depth,
precision); the LeakyReLU arm is the study's (slope 0.2, else the closest slope, as gan/analysis/arms.py picks it).
Writes STUDY_DIR/step_time.json (default studies/<name>), which `gan report` reads for claim 6, and prints
each round's medians and the ratio with its 95% CI. Run it on an otherwise quiet machine: the arms alternate,
so load that comes and goes hits both, but a steady neighbour still slows both and narrows nothing.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan.config.activations import DEFAULT_LEAKY_SLOPE  # noqa: E402
from gan.analysis.claims.registry import MARGINS, analysis_margin  # noqa: E402
from gan.analysis.claims.rules import RELU, pick_leaky  # noqa: E402
from gan.config.load import load_config
from gan.errors import UserError  # noqa: E402
from gan.study.results import ACT
from gan.analysis.stats import paired_test
from gan.train.step_time import PHASES, make_step, record, time_arms, write_step_time  # noqa: E402
from gan.study.spec import as_overrides, read_study_spec  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("study", metavar="STUDY.yaml")
    p.add_argument("--out", help="study directory to write step_time.json into (default: studies/<name>)")
    p.add_argument("--rounds", type=int, default=10, help="alternating rounds = claim 6's pairs (default 10)")
    p.add_argument("--steps", type=int, default=20, help="timed steps per arm per round (default 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per arm per round (default 3)")
    p.add_argument("--phase", choices=PHASES, default="full", help="full G+D step (default) or the D step alone")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, i.e. all cores)")
    a = p.parse_args(argv)
    try:
        if a.rounds < 2 or a.steps < 1 or a.warmup < 0:
            raise UserError("--rounds must be at least 2 (claim 6 pairs rounds), --steps at least 1, --warmup >= 0")
        spec = read_study_spec(a.study)
        cfg = load_config(spec.base, as_overrides(spec.overrides))
        leaky = pick_leaky(spec.axes.get(ACT, [])) or f"leaky_relu:{DEFAULT_LEAKY_SLOPE}"
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if a.threads:
        torch.set_num_threads(a.threads)
    steps = {RELU: make_step(cfg, RELU, a.phase), leaky: make_step(cfg, leaky, a.phase)}
    def progress(r: int, ms: dict[str, list[float]]) -> None:
        print(f"round {r + 1}/{a.rounds}: " + ", ".join(f"{k} {v[-1]:.1f} ms" for k, v in ms.items()),
              file=sys.stderr, flush=True)

    ms = time_arms(steps, a.rounds, a.steps, a.warmup, progress=progress)
    data = record(cfg, ms, RELU, leaky, a.steps, a.warmup, a.phase)
    path = write_step_time(Path(a.out) if a.out else Path("studies") / spec.name, data)
    m = data["model"]
    print(f"{data['phase']}, ngf={m['ngf']} ndf={m['ndf']} d_norm={m['d_norm']} depth+{m['d_extra_layers']} "
          f"batch={m['batch']} {m['image_size']}px {m['precision']}; {data['machine']}")
    print(f"{'round':>5} {'relu ms':>9} {leaky + ' ms':>20} {'ratio':>7}")
    for i, (r, k) in enumerate(zip(ms[RELU], ms[leaky])):
        print(f"{i:>5} {r:9.2f} {k:20.2f} {k / r:7.3f}")
    t = paired_test([math.log(k / r) for r, k in zip(ms[RELU], ms[leaky])], analysis_margin(6, MARGINS[6]))
    print(f"{leaky} / relu: {math.exp(t.mean):.3f}x [{math.exp(t.ci_low):.3f}, {math.exp(t.ci_high):.3f}] "
          f"(geometric mean of {t.n} round ratios, 95% t-interval; sign-flip p={t.p:.3g})")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
