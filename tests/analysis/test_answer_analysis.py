"""The cross-study answer as analysis (gan/analysis/answer_analysis.py): claim 12, the interventions, on hand-built
study folders whose per-seed LeakyReLU / ReLU ratios are set by hand; the steps-to-quality contrast."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import yaml
from scipy import stats as sps

from builders_study import make_study
from gan import cli
from gan.analysis.answer_analysis import NOT_CHANGED, load_inputs, compute_answer, steps_section
from gan.analysis.stats import holm
from gan.analysis.study_analysis import write_analysis

BASE = [1.10, 1.15, 1.20, 1.12, 1.18]  # base study: LeakyReLU's FCD 10-20% above ReLU's, 5 seeds
STRONG = [0.90, 0.92, 0.88, 0.95, 0.91, 0.89, 0.93]  # an intervention study where LeakyReLU is ahead, 7 seeds


def built(root, ratios, kid=None, saturation=0.0, claim12=None):
    """A fake study whose claim-2 pairs are log(ratios) exactly: ReLU's tail-3 FCD 10, LeakyReLU's 10 * ratio
    (KID 0.1 and 0.1 * kid ratio), the ReLU runs' half2/D/saturated = `saturation`; `claim12` into study.yaml."""
    make_study(root, seeds=tuple(range(len(ratios))), failed=False)
    with (root / "results.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        leaky, seed = r["model.d_act"] != "relu", int(r["train.seed"])
        r["tail3/log/quality/fcd"] = math.log(10 * (ratios[seed] if leaky else 1))
        r["tail3/log/quality/kid"] = math.log(0.1 * (kid[seed] if leaky and kid else 1))
        r["half2/D/saturated"] = 0.0 if leaky else saturation
    with (root / "results.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    if claim12 is not None:
        spec = yaml.safe_load((root / "study.yaml").read_text())
        (root / "study.yaml").write_text(yaml.safe_dump({**spec, "claim12": claim12}, sort_keys=False))
    write_analysis(root)
    return root


def welch_by_hand(a, b):
    """mean(a) - mean(b), its 95% interval and two-sided p, Welch-Satterthwaite degrees of freedom, by formula."""
    a, b = np.log(a), np.log(b)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se, diff = math.sqrt(va + vb), a.mean() - b.mean()
    dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = sps.t.ppf(0.975, dof) * se
    return diff, diff - half, diff + half, 2 * sps.t.sf(abs(diff) / se, dof)


def _answer(tmp_path, base, interventions, studies=None):
    inputs = load_inputs(studies if studies is not None else [f"{base}=FM"], interventions=interventions)
    return compute_answer(inputs)


def _row(answer, kind="intervention"):
    (row,) = [r for r in answer["rows"] if r["kind"] == kind]
    return row


def test_claim12_is_welch_on_the_intervention_and_base_log_ratios_in_the_one_holm_family(tmp_path):
    base = built(tmp_path / "fm", BASE)
    strong = built(tmp_path / "strong", STRONG, kid=[1.0] * 7, saturation=0.40,
                   claim12={"base": str(base), "direction": "lower"})
    answer = _answer(tmp_path, base, [f"{strong}=FM-strong-D"])
    row = _row(answer)
    c = row["claim"]
    diff, lo, hi, p = welch_by_hand(STRONG, BASE)
    assert row["label"] == "FM-strong-D vs FM" and c["number"] == 12 and c["direction"] == "less"
    assert (c["test"]["mean"], c["test"]["ci_low"], c["test"]["ci_high"]) == pytest.approx((diff, lo, hi))
    assert c["p"] == pytest.approx(p) and c["test"]["n"] == 12 and row["margin"] == pytest.approx(math.log(1.1))
    # ratio of ratios 0.91 / 1.15 = 0.79x, its CI wholly below 1 / 1.1: supported beyond the margin
    assert math.exp(diff) == pytest.approx(np.exp(np.log(STRONG).mean() - np.log(BASE).mean()))
    assert hi < -math.log(1.1) and c["verdict"] == "supported (beyond the margin)"
    # KID beside it: the base study's KID ratios are 1 (every seed), the intervention's too: a zero-width interval
    assert c["kid"]["mean"] == pytest.approx(0.0)
    # one Holm family: the base study's claims 1-3 and claim 12
    tested = [r["claim"] for r in answer["rows"] if r["claim"]["p"] is not None and math.isfinite(r["claim"]["p"])]
    assert len(tested) == 4 and answer["family"]["tested"] == 4
    assert [t["p_adjusted"] for t in tested] == pytest.approx(holm([t["p"] for t in tested]))
    (iv,) = answer["interventions"]
    assert iv["check"] == {"metric": "half2/D/saturated", "arm": "relu", "relu_mean": pytest.approx(0.40), "runs": 7,
                           "op": ">=", "threshold": 0.05, "passed": True}


@pytest.mark.parametrize("direction, saturation, verdict", [
    ("lower", 0.04, NOT_CHANGED),  # a stronger D that does not make ReLU's D saturate
    ("lower", 0.05, "supported (beyond the margin)"),  # the threshold itself passes (>=)
    ("higher", 0.06, NOT_CHANGED),  # a weaker D whose ReLU still saturates
    ("higher", 0.05, "contradicted (beyond the margin)")])  # predicted > 1, measured 0.79x
def test_the_manipulation_check_decides_whether_claim12_is_tested(tmp_path, direction, saturation, verdict):
    base = built(tmp_path / "fm", BASE)
    iv = built(tmp_path / "iv", STRONG, saturation=saturation, claim12={"base": str(base), "direction": direction})
    answer = _answer(tmp_path, base, [f"{iv}=IV"])
    c = _row(answer)["claim"]
    assert c["verdict"] == verdict
    if verdict == NOT_CHANGED:  # out of the family: no p, the three base claims alone are corrected
        assert c["p"] is None or math.isnan(c["p"])
        assert answer["family"]["tested"] == 3 and not answer["interventions"][0]["check"]["passed"]
        assert c["test"]["n"] == 12  # the numbers are still shown
    else:
        assert answer["family"]["tested"] == 4 and c["direction"] == ("less" if direction == "lower" else "greater")


def test_an_intervention_whose_base_is_not_in_the_table_is_labelled_by_its_folder(tmp_path):
    base = built(tmp_path / "fm_base", BASE)
    other = built(tmp_path / "digits", STRONG)
    iv = built(tmp_path / "iv", STRONG, saturation=0.3, claim12={"base": str(base), "direction": "lower"})
    answer = _answer(tmp_path, base, [f"{iv}=IV"], studies=[f"{other}=digits"])
    assert _row(answer)["label"] == "IV vs fm_base"


def test_gan_answer_with_an_intervention_renders_its_row_and_check_and_the_guards_are_one_sentence(tmp_path, capsys):
    base = built(tmp_path / "fm", BASE)
    iv = built(tmp_path / "iv", STRONG, saturation=0.02, claim12={"base": str(base), "direction": "lower"})
    out = tmp_path / "answer"
    assert cli.main(["answer", f"{base}=FM", "--out", str(out), "--intervention", f"{iv}=FM-strong-D"]) == 0
    md = (out / "answer.md").read_text()
    assert md.startswith(f"Written by `gan answer {base}=FM --out {out} --intervention {iv}=FM-strong-D`.")
    (line,) = [x for x in md.splitlines() if x.startswith("| 12. ")]
    assert "| FM-strong-D vs FM |" in line and f"| {NOT_CHANGED} |" in line
    assert "FM-strong-D (base FM, direction lower): 0.02 over 7 runs, needs >= 0.05: failed" in md
    assert json.loads((out / "answer.json").read_text())["interventions"][0]["check"]["passed"] is False
    capsys.readouterr()
    no_block = built(tmp_path / "plain", STRONG)
    assert cli.main(["answer", f"{base}=FM", "--out", str(out), "--intervention", str(no_block)]) == 2
    err = capsys.readouterr().err
    assert "has no valid claim12 block" in err and "direction: lower}" in err and len(err.strip().splitlines()) == 1
    lost = built(tmp_path / "lost", STRONG, claim12={"base": str(tmp_path / "nowhere"), "direction": "lower"})
    assert cli.main(["answer", f"{base}=FM", "--out", str(out), "--intervention", str(lost)]) == 2
    assert "names the base study" in capsys.readouterr().err


def test_a_claim12_block_is_checked_when_the_study_file_is_read(tmp_path):
    from gan.errors import UserError
    from gan.study.spec import read_study_spec

    spec = {"name": "iv", "base": "configs/fashion_mnist.yaml", "axes": {"train.seed": [0]}}
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(yaml.safe_dump({**spec, "claim12": {"base": "results/answer/fashion_mnist", "direction": "lower"}}))
    bad.write_text(yaml.safe_dump({**spec, "claim12": {"base": "results/answer/fashion_mnist", "direction": "down"}}))
    assert read_study_spec(good).raw["claim12"]["direction"] == "lower"
    with pytest.raises(UserError, match="claim12 must be"):
        read_study_spec(bad)


def test_steps_to_quality_between_studies_is_welch_on_the_per_pair_log_shifts():
    a = {"n": 3, "dropped": 0, "fit_from": 1000, "pairs": list(np.log([0.9, 0.92, 0.88]))}
    b = {"n": 4, "dropped": 1, "fit_from": 1000, "pairs": list(np.log([1.1, 1.05, 1.12, 1.08]))}
    for s in (a, b):
        s.update(mean=0.0, ci_low=0.0, ci_high=0.0, ratio=1.0, ratio_low=1.0, ratio_high=1.0)
    section = steps_section([("A", {"steps_to_quality": {"fcd": a, "kid": a}}),
                             ("B", {"steps_to_quality": {"fcd": b, "kid": b}}), ("C", {"steps_to_quality": None})])
    assert [s["label"] for s in section["studies"]] == ["A", "B"] and section["studies"][1]["fcd"]["dropped"] == 1
    (c,) = section["contrasts"]
    diff, lo, hi, p = welch_by_hand([0.9, 0.92, 0.88], [1.1, 1.05, 1.12, 1.08])
    assert c["label"] == "A vs B" and c["fcd"]["n"] == 7
    assert (c["fcd"]["ratio"], c["fcd"]["ratio_low"], c["fcd"]["ratio_high"]) == pytest.approx(
        (math.exp(diff), math.exp(lo), math.exp(hi)))
    assert c["fcd"]["p"] == pytest.approx(p)
