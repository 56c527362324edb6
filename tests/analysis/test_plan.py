"""`gan study STUDY.yaml --plan`: pairs needed per claim and wall time from a pilot results.csv (gan/analysis/plan.py)."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from statsmodels.stats.power import TTestPower

from gan.analysis.claims.registry import DEAD, HOYER, LOG_FCD
from gan.cli import main
from gan.errors import UserError
from gan.analysis.plan import plan, plan_table
from gan.study.results import ACT, SEED
from gan.study.spec import read_study_spec

from conftest import REPO

LEAKY = "leaky_relu:0.2"
SD = {HOYER: 0.02, LOG_FCD: 0.148, DEAD: 0.001}  # the paired SD each primary column is built with


def exact_sd(n: int, sd: float, seed: int) -> np.ndarray:
    """n values whose sample SD (ddof=1) is exactly `sd`."""
    z = np.random.default_rng(seed).normal(size=n)
    return sd * (z - z.mean()) / z.std(ddof=1)


def write_pilot(folder, n: int = 10, wall_s: float = 100.0, steps: int = 1000) -> None:
    """results.csv of a relu / leaky pilot, n seeds: leaky - relu has the SDs above; each run 0.1 s per step."""
    rows = []
    d = {m: exact_sd(n, sd, i) for i, (m, sd) in enumerate(SD.items())}
    for act in ("relu", LEAKY):
        for s in range(n):
            row = {"run": f"{act}-{s}", "status": "completed", ACT: act, SEED: s, "step": steps,
                   "wall_time_s": wall_s}
            for m in SD:
                level = 3.0 + 0.3 * math.sin(s)  # the seed's own level, shared by its two arms
                row[m] = level + (d[m][s] if act == LEAKY else 0.0)
            rows.append(row)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def study_file(tmp_path, steps: int = 2000, margins: str = "") -> str:
    path = tmp_path / "target.yaml"
    path.write_text(f"name: target\nbase: {REPO / 'configs' / 'fake.yaml'}\noverrides: {{train.steps: {steps}}}\n"
                    f"axes:\n  model.d_act: [relu, '{LEAKY}']\n  train.seed: [0, 1, 2]\n{margins}")
    return str(path)


def expected(sd: float, margin: float, alpha: float) -> int:
    """statsmodels' paired t-test pairs, but at least the 7 an exact sign-flip test needs for p < 0.05 / 3."""
    return max(7, math.ceil(TTestPower().solve_power(effect_size=margin / sd, alpha=alpha, power=0.8)))


def test_known_sd_gives_known_pairs_and_wall_time(tmp_path):
    write_pilot(tmp_path / "pilot")
    p = plan(read_study_spec(study_file(tmp_path)), tmp_path / "pilot", jobs=2)
    assert p.tested == (1, 2, 3) and p.level == pytest.approx(0.05 / 3)  # claim 6: no step_time.json
    by = {c.number: c for c in p.claims}
    assert by[2].sd == pytest.approx(0.148) and by[2].margin == pytest.approx(math.log(1.1))
    assert by[2].needed == expected(0.148, math.log(1.1), 0.05 / 3)
    assert 28 <= by[2].needed <= 32  # normal approximation ((2.39 + 0.84) * 0.148 / 0.0953)^2 = 25, + t's share
    assert by[1].needed == expected(0.02, 0.01, 0.05 / 3) and by[3].needed == expected(0.001, 0.002, 0.05 / 3)
    # wall time: seeds x 2 runs per seed x 0.1 s per step x 2000 planned steps / 2 jobs
    assert p.step_s == pytest.approx(0.1) and p.runs_per_seed == 2
    assert by[2].wall_s == pytest.approx(by[2].needed * 2 * 0.1 * 2000 / 2)
    assert by[4].needed is None and "does not test" in by[4].note
    table = plan_table(p)
    assert f"{by[1].needed} seeds -> {2 * by[1].needed} runs" in table  # claim 1 (SD = 2 margins) needs the most


def test_the_planned_studys_margins_are_used(tmp_path):
    write_pilot(tmp_path / "pilot")
    p = plan(read_study_spec(study_file(tmp_path, margins="margins: {2: 0.2}\n")), tmp_path / "pilot")
    c2 = next(c for c in p.claims if c.number == 2)
    assert c2.margin == pytest.approx(math.log(1.2)) and c2.needed == expected(0.148, math.log(1.2), 0.05 / 3)


def test_cli_plan_prints_the_table_and_a_missing_pilot_is_one_sentence(tmp_path, capsys):
    write_pilot(tmp_path / "pilot")
    assert main(["study", study_file(tmp_path), "--plan", "--pilot", str(tmp_path / "pilot"), "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    assert "pairs needed" in out and "Holm's strictest level 0.05/3" in out and "--jobs 2" in out
    assert main(["study", study_file(tmp_path), "--plan", "--pilot", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no pilot for study 'target'") and "--pilot DIR" in err and len(err.splitlines()) == 1
    assert main(["study", study_file(tmp_path), "--pilot", str(tmp_path / "pilot")]) == 2  # --pilot without --plan
    assert "--pilot only goes with --plan" in capsys.readouterr().err


def test_a_pilot_missing_an_arm_cannot_size_that_claim(tmp_path):
    write_pilot(tmp_path / "pilot", n=3)
    p = plan(read_study_spec(study_file(tmp_path)), tmp_path / "pilot")
    assert all(c.pilot_pairs == 3 for c in p.claims if c.number in (1, 2, 3))
    assert "fewer than 5 pilot pairs" in next(c for c in p.claims if c.number == 2).note
    with pytest.raises(UserError, match="no pilot"):
        plan(read_study_spec(study_file(tmp_path)), tmp_path / "empty")


##### --until-decided: looks at growing seed counts, O'Brien-Fleming alpha spending (gan/analysis/sequential.py)

def test_obrien_fleming_spending_known_values_and_looks():
    from gan.analysis.sequential import look_levels, looks, spent

    assert looks(5, 32) == [8, 16, 24, 32] and looks(10, 25) == [10, 20, 25]
    assert spent(0.25) == pytest.approx(2 * (1 - 0.9999557), rel=1e-3)  # z = 1.96 / 0.5 = 3.92
    assert spent(0.5) == pytest.approx(0.005575, rel=1e-3) and spent(1.0) == pytest.approx(0.05)
    levels = look_levels([8, 16, 24, 32])
    assert sum(levels) == pytest.approx(0.05) and levels == sorted(levels) and levels[0] < 1e-4
    with pytest.raises(UserError, match="--max-seeds 4 is below the first look"):
        looks(8, 4)


def fake_study_run(effect: float, spread: float = 0.001):
    """A stand-in for gan.study.runner.run_study: results.csv for the look file's seeds, leaky - relu = effect + noise."""
    import yaml

    def run(look_file: str, jobs: int, out: str) -> int:
        from pathlib import Path

        raw = yaml.safe_load(Path(look_file).read_text())
        seeds = raw["axes"][SEED]
        rows = []
        for act in ("relu", LEAKY):
            for s in seeds:
                row = {"run": f"{act}-{s}", "status": "completed", ACT: act, SEED: s}
                noise = spread * math.sin(7 * s + len(act))  # fixed per run
                for m, sign in ((HOYER, -1), (LOG_FCD, -1), (DEAD, -1)):
                    row[m] = 1.0 + (sign * effect if act == LEAKY else 0.0) + noise
                rows.append(row)
        Path(out).mkdir(parents=True, exist_ok=True)
        with open(Path(out) / "results.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        (Path(out) / "study.yaml").write_text(Path(look_file).read_text())
        return 0

    return run


def test_until_decided_stops_at_the_first_look_that_decides_every_claim(tmp_path, capsys):
    import json

    from gan.analysis.sequential import run_until_decided

    # a clear effect: at 8 pairs the exact sign-flip p is 2/256 (Holm x3: 0.023 > 0.0001 spent); at 16, 3e-5 x 3
    assert run_until_decided(study_file(tmp_path), 32, out=str(tmp_path / "s"), run=fake_study_run(0.5)) == 0
    record = json.loads((tmp_path / "s" / "sequential.json").read_text())
    assert [look["seeds"] for look in record["looks"]] == [8, 16]
    assert record["looks"][0]["verdicts"] == {"1": "inconclusive", "2": "inconclusive", "3": "inconclusive"}
    assert set(record["looks"][1]["verdicts"].values()) == {"supported (beyond the margin)"}
    assert "stopping" in capsys.readouterr().out


def test_until_decided_goes_to_max_seeds_when_nothing_is_decided(tmp_path):
    import json

    from gan.analysis.sequential import run_until_decided

    # no effect, spread 5x the margins of claims 1 and 3: neither a difference nor equivalence can be shown
    run_until_decided(study_file(tmp_path), 24, out=str(tmp_path / "s"), run=fake_study_run(0.0, spread=0.05))
    record = json.loads((tmp_path / "s" / "sequential.json").read_text())
    assert [look["seeds"] for look in record["looks"]] == [8, 16, 24]
    assert record["looks"][-1]["verdicts"]["1"] == "inconclusive"


def test_until_decided_stops_early_for_equivalence(tmp_path):
    import json

    from gan.analysis.sequential import run_until_decided

    # identical arms, spread 0.0002: TOST puts every effect far inside its margin already at 8 pairs
    run_until_decided(study_file(tmp_path), 32, out=str(tmp_path / "s"), run=fake_study_run(0.0, spread=0.0002))
    record = json.loads((tmp_path / "s" / "sequential.json").read_text())
    assert [look["seeds"] for look in record["looks"]] == [8]
    assert set(record["looks"][0]["verdicts"].values()) == {"equivalent"}


def test_cli_until_decided_needs_max_seeds(tmp_path, capsys):
    assert main(["study", study_file(tmp_path), "--until-decided"]) == 2
    assert "--until-decided needs --max-seeds N" in capsys.readouterr().err
    assert main(["study", study_file(tmp_path), "--max-seeds", "8"]) == 2


def test_run_and_study_costs_count_every_part_by_hand():
    """2000 steps, probes every 100 (20 probes, the data view on 1 of them: every 20th probe and the last, here the
    same one, step 2000), evaluations
    every 500 (4) plus the evaluator's setup, and the start; 6 runs at --jobs 2 are 3 waves; the feature net first."""
    from gan.analysis.plan import costs_text, run_costs, study_costs
    from gan.config.load import load_config

    cfg = load_config(None, ["train.steps=2000", "train.probe_every=100", "eval.every=500"])
    pieces = {"step": 0.2, "probe": 1.0, "probe_view": 3.0, "eval": 20.0, "eval_setup": 10.0, "startup": 15.0}
    costs = run_costs(pieces, cfg)
    assert costs == {"train": 400.0, "probe": 19 * 1.0 + 1 * 3.0, "eval": 4 * 20.0 + 10.0, "startup": 15.0}
    total = study_costs(pieces, cfg, runs=6, jobs=2, feature_s=120.0)
    assert total["train"] == 1200.0 and total["feature_net"] == 120.0
    assert total["total"] == pytest.approx(3 * (400 + 22 + 90 + 15) + 120)
    assert costs_text(total) == ("training the feature network first 2 min; training 20 min, evaluations 4 min, "
                                 "probes 1 min, starting runs 1 min")
    no_probes = load_config(None, ["train.steps=2000", "train.probe_every=0", "eval.every=0"])
    assert run_costs(pieces, no_probes) == {"train": 400.0, "probe": 0.0, "eval": 30.0, "startup": 15.0}
