"""`gan advise`: its guards (one sentence, exit 2, before anything trains), the compare command it prints, and the
advice it reads from a hand-built pilot and a hand-built record (gan/analysis/advice.py, gan/report/advice.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from gan.analysis import advice
from gan.analysis import saturation_rule as rule
from gan.analysis.study_analysis import write_analysis
from gan.cli import main
from gan.commands import advise as command
from gan.config.load import load_config
from gan.report.advice import write_advice
from gan.study.collect import collect_results
from gan.study.spec import read_study_spec

SETTINGS = {"data": {"name": "fashion_mnist", "image_size": 32}, "model": {"ngf": 32, "ndf": 32, "d_norm": "batch"}}


@pytest.mark.parametrize("args, says", [
    (["configs/fake.yaml", "--steps", "1999"], "--steps 1999 is too short: the rule reads the ReLU D's steps 1001-2000"),
    (["configs/fake.yaml", "--seeds", "1"], "--seeds 1: the pilot needs at least 2 paired seeds"),
    (["no/such/thing"], "'no/such/thing' is not a config file, a folder or .zip of images"),
    (["configs/fake.yaml", "model.nddf=16"], "unknown config key 'model.nddf'"),
    (["configs/fake.yaml", "--jobs", "0"], "--jobs must be positive"),
])
def test_bad_input_is_one_sentence_and_exit_2(args, says, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    assert main(["advise", *args]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_an_empty_folder_is_refused_before_any_plan(tmp_path, capsys):
    (tmp_path / "imgs").mkdir()
    assert main(["advise", str(tmp_path / "imgs"), "--out", str(tmp_path / "pilot")]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and str(tmp_path / "imgs") in err and "Traceback" not in err
    assert not (tmp_path / "pilot").exists()  # nothing planned, nothing written


def test_setup_reads_a_config_a_folder_or_overrides(tmp_path):
    (tmp_path / "imgs").mkdir()
    assert command._setup("configs/fake.yaml", ["model.ndf=16"]) == ("configs/fake.yaml", ["model.ndf=16"]) \
        if Path("configs/fake.yaml").is_file() else True
    assert command._setup(str(tmp_path / "imgs"), []) == (None, ["data.name=folder", f"data.root={tmp_path / 'imgs'}"])
    assert command._setup("data.name=folder", ["data.root=x"]) == (None, ["data.name=folder", "data.root=x"])


def test_the_compare_command_trains_what_the_pilot_trained(monkeypatch):
    monkeypatch.chdir(REPO)
    cfg = load_config("configs/fashion_mnist.yaml", ["model.ngf=32", "model.ndf=32", "model.d_norm=none"])
    cmd, overrides = command.compare_command(cfg, 4000)
    # the preset's base is a folder at 32x32, half width, 2000 steps: only what differs is passed
    assert overrides == ["data.name=fashion_mnist", "data.root=data", "model.d_norm=none", "train.steps=4000"]
    assert cmd == ("gan study configs/study/compare.yaml data.name=fashion_mnist data.root=data model.d_norm=none "
                   "train.steps=4000 --until-decided --max-seeds 24 --jobs 2")
    spec = read_study_spec(REPO / "configs/study/compare.yaml", tuple(overrides))  # the printed command is valid
    assert len(spec.runs) == 16 and spec.runs[0].settings["train.steps"] == 4000


def _run(root: Path, name: str, seed: int, act: str, steps: int, saturated: int, fcd_scale: float) -> None:
    """A finished run: a row every 50 steps (ReLU: `saturated` of the 20 rows in steps 1001-2000 saturated),
    probes every 100, FCD and KID every 500."""
    d = root / "runs" / name
    (d / "samples").mkdir(parents=True)
    rows = []
    for step in range(50, steps + 1, 50):
        in_window = 1000 < step <= 2000 and (step - 1000) // 50 <= saturated
        sat = act == "relu" and (step <= 1000 or in_window)
        row = {"step": step, "loss/D": 1.0, "loss/G": 1.0, "D/real_prob": 0.95 if sat else 0.7,
               "D/fake_prob": 0.05 if sat else 0.3}
        if step % 100 == 0:
            row |= {"probe/overfit/r_t": 0.5, "probe/input_grad/norm": 0.01, "probe/input_grad/hoyer": 0.3,
                    "probe/D/dead_frac": 0.0}
        if step % 500 == 0:
            row |= {"quality/fcd": 100.0 / (step / 500) * fcd_scale, "quality/kid": 5.0 / (step / 500) * fcd_scale}
        rows.append(row)
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d / "summary.json").write_text(json.dumps({"status": "completed", "step": steps, "wall_time_s": 10.0}))
    (d / "config.yaml").write_text(yaml.safe_dump({**SETTINGS, "train": {"steps": steps, "seed": seed},
                                                   "model": {**SETTINGS["model"], "d_act": act}}))


def make_pilot(root: Path, saturated: dict[int, int], ratio: dict[int, float], steps: int = 2000) -> Path:
    """A study folder of paired runs: seed -> ReLU saturated rows (of 20 in the window), seed -> FCD ratio."""
    root.mkdir(parents=True)
    (root / "study.yaml").write_text(yaml.safe_dump({"name": "p", "axes": {
        "train.seed": sorted(saturated), "model.d_act": ["relu", "leaky_relu:0.2"]}}))
    spec = read_study_spec(root / "study.yaml")
    for r in spec.runs:
        seed, act = r.settings["train.seed"], r.settings["model.d_act"]
        relu = act == "relu"
        _run(root, r.name, seed, act, steps, saturated[seed] if relu else 0, 1.0 if relu else ratio[seed])
    collect_results(root, spec, spec.runs)
    write_analysis(root)
    return root


def test_advice_from_a_hand_built_pilot_and_record(tmp_path):
    # the record: one committed 4000-step cell whose ReLU saturated (S 0.2) and where LeakyReLU was 10% better
    make_pilot(tmp_path / "repo" / "results" / "x", {0: 4, 1: 4, 2: 4}, {0: 0.9, 1: 0.89, 2: 0.91}, steps=4000)
    # the pilot: ReLU saturated in 2, 3, 2 of the 20 window rows (S 0.1, 0.15, 0.1), LeakyReLU 5% behind so far
    pilot = make_pilot(tmp_path / "pilot", {0: 2, 1: 3, 2: 2}, {0: 1.05, 1: 1.04, 2: 1.06})
    setup = {"base": "configs/fashion_mnist.yaml", "overrides": [], "settings": {
        "data.image_size": 32, "model.ngf": 32, "model.ndf": 32, "model.d_norm": "batch"}, "length": 2000,
        "seeds": 3, "steps": 2000, "jobs": 2, "command": "gan advise configs/fashion_mnist.yaml"}
    plan = {"pieces": {"step": 0.1, "probe": 1.0, "probe_view": 2.0, "eval": 10.0, "eval_setup": 5.0,
                       "startup": 10.0}, "estimate": {"total": 1000.0, "train": 600.0}, "measured_s": 1200.0}
    cmp_cfg = load_config(None, ["train.steps=2000", "train.probe_every=0", "eval.every=500"])
    a = advice.advise(pilot, setup, plan, tmp_path / "repo", "gan study configs/study/compare.yaml ...", cmp_cfg)
    p = a["prediction"]
    assert p["s"] == pytest.approx((0.1 + 0.15 + 0.1) / 3) and p["call"] == rule.AHEAD
    assert p["decisive"] and p["for_length"] is None and p["length"] == 2000  # 2000 steps: outside the horizon
    # the ReLU D's profile: steps 1-1000 saturated throughout; the pilot's committed range is the record cell's
    sat = a["relu"]["profile"]["keys"]["D/saturated"]["mean"]
    assert sat[:2] == [1.0, 1.0] and sat[2] == pytest.approx((2 + 3 + 2) / 30)
    assert a["ranges"]["D/saturated"][2] == [pytest.approx(4 / 10), pytest.approx(4 / 10)]
    fcd = a["curves"]["ratios"]["fcd"]
    assert fcd["steps"] == [500, 1000, 1500, 2000] and fcd["ratio"][0] == pytest.approx((1.05 * 1.04 * 1.06) ** (1 / 3))
    rec = a["record"]
    assert [(r["study"], r["score"], r["when"]) for r in rec["rows"]] == [("results/x", rule.RIGHT, "after the data")]
    assert rec["verdict"] == rule.INCONCLUSIVE and rec["after"] == {"right": 1, "wrong": 0, "undecided": 0}
    # 16 runs of 2000 steps at --jobs 2: 8 waves of (200 s training + 4 evaluations + setup + start)
    assert a["compare"]["first_look"]["total"] == pytest.approx(8 * (200 + 4 * 10 + 5 + 10))
    (pilot / "advise.json").write_text(json.dumps(a))
    text = write_advice(pilot)
    order = [text.index(h) for h in ("## 1. What your ReLU D does", "## 2. LeakyReLU / ReLU at each evaluation",
                                     "## 3. The prediction", "## 4. The rule's track record", "## Limits")]
    assert order == sorted(order)
    assert "outside the rule: it makes no tested prediction there" in text and "LeakyReLU(0.2) ahead" in text
    assert "20 min measured, 17 min planned" in text and "measured / planned 1.20" in text
    assert (pilot / "advise.png").read_bytes()[:4] == b"\x89PNG" and (pilot / "advise.md").read_text() == text


def test_a_pilot_out_of_the_rules_scope_gets_no_call(tmp_path):
    pilot = make_pilot(tmp_path / "pilot", {0: 5, 1: 0}, {0: 1.0, 1: 1.0})
    p = advice.prediction(json.loads((pilot / "analysis.json").read_text())["saturation_rule"]["cells"][0],
                          {"data.image_size": 64, "model.ngf": 32, "model.ndf": 32, "model.d_norm": "batch"}, 4000)
    assert p["call"] is None and p["no_prediction"] == ("the rule has no evidence for this setup: data.image_size=64 "
                                                        "(the rule: 32)") and not p["decisive"]
    # in scope, but seeds on both sides of the threshold (S 0.25 and 0): a call, not decisive
    p = advice.prediction(json.loads((pilot / "analysis.json").read_text())["saturation_rule"]["cells"][0],
                          {"data.image_size": 32}, 4000)
    assert p["call"] == rule.AHEAD and p["for_length"] == rule.AHEAD and not p["decisive"]
    assert math.isclose(p["s"], 0.125)


def test_a_cell_repeating_another_is_marked_and_not_counted(tmp_path):
    for name in ("a", "b"):  # the same runs twice (as the range study's [-1, 1] cell repeats the answer study's)
        make_pilot(tmp_path / "repo" / "results" / name, {0: 4, 1: 5}, {0: 0.9, 1: 0.92}, steps=4000)
    rec = advice.track_record(tmp_path / "repo")
    assert rec["cells"] == 2 and rec["independent"] == 1
    assert rec["rows"][1]["repeats"] == "results/a / baseline (seeds 0, 1)" and "repeats" not in rec["rows"][0]


def test_the_within_cell_correlation_is_pooled_over_centred_seeds():
    a = {"s_per_seed": {"0": 0.1, "1": 0.2, "2": 0.3}, "log_ratio_per_seed": {"0": 0.3, "1": 0.2, "2": 0.1}}
    b = {"s_per_seed": {"0": 0.5, "1": 0.6, "2": 0.7}, "log_ratio_per_seed": {"0": 0.9, "1": 0.8, "2": 0.7}}
    flat = {"s_per_seed": {"0": 0.0, "1": 0.0, "2": 0.0}, "log_ratio_per_seed": {"0": 0.5, "1": 0.0, "2": 0.9}}
    # each cell alone: S up, log ratio down; across cells both are higher in b (uncentred, r would be +0.79): only the
    # within-cell part counts
    r, n = advice._within_cell_r([a, b, flat])
    assert r == pytest.approx(-1.0) and n == 6
    assert math.isnan(advice._within_cell_r([flat])[0])
