"""gan/analysis/saturation_rule.py (claim 11, and the order of its predictions in git): the rule's numbers, its call, its
scoring and verdict on hand-computed inputs; a study's cells; the prediction order read from git."""

from __future__ import annotations

import json
import math
import re
import subprocess

import pytest

from conftest import REPO
from gan.analysis import saturation_rule as rule
from gan.analysis.saturation_rule import study_prediction
from gan.study.results import make_results


def test_the_rules_numbers_are_the_stated_ones():
    """Pinned here; docs/claims.md's claim 11 text is checked against the same numbers below."""
    assert rule.WINDOW == (1000, 2000) and rule.STATISTIC == "w1001_2000/D/saturated"
    assert (rule.THRESHOLD, rule.HORIZON, rule.MARGIN) == (0.05, 4000, 0.10)
    assert rule.RATIO == "tail3/log/quality/fcd"
    assert rule.SCOPE == {"data.image_size": 32, "model.ngf": 32, "model.ndf": 32, "model.d_norm": "batch"}
    assert (rule.SUPPORTED_RIGHT, rule.CONTRADICTED_WRONG) == (3, 2)
    assert rule.rule_constants()["saturated"] == "D(x) > 0.9 and D(G(z)) < 0.1"


def test_docs_claim_11_states_the_same_numbers():
    """Once claim 11's rule is written in docs/claims.md (issue 40 item 3), its text must carry these numbers."""
    doc = (REPO / "docs" / "claims.md").read_text()
    sections = re.split(r"\n(?=#+ )", doc)
    stated = [s for s in sections if re.match(r"#+ .*[Cc]laims? 11\b", s)]  # "Claims 11 and 12" holds the step
    if not any("0.05" in s for s in stated):
        pytest.skip("docs/claims.md holds no claim 11 rule text yet (the constants are pinned above)")
    text = " ".join(stated)
    for number in ("0.9", "0.1", "1000", "2000", "0.05", "4000", "10%"):
        assert number in text, f"claim 11's text in docs/claims.md does not state {number}"


def test_predict_splits_at_the_threshold():
    assert rule.predict(0.0) == rule.NOT_AHEAD
    assert rule.predict(0.05) == rule.NOT_AHEAD  # "S > 0.05": exactly 0.05 is not ahead
    assert rule.predict(0.0500001) == rule.AHEAD and rule.predict(0.41) == rule.AHEAD
    assert rule.predict(math.nan) is None
    assert rule.cell_statistic([0.0, 0.1, math.nan, 0.2]) == pytest.approx(0.1)


def test_measured_reads_a_cells_log_ratios_by_hand():
    # ratios 0.8, 0.9, 0.85: log mean -0.16367, sd 0.0589, se 0.03401; t(0.975, 2) = 4.3027, t(0.95, 2) = 2.9200
    d = [math.log(0.8), math.log(0.9), math.log(0.85)]
    m = rule.measured(d)
    mean, sd = sum(d) / 3, (sum((x - sum(d) / 3) ** 2 for x in d) / 2) ** 0.5
    assert m["ratio"] == pytest.approx(math.exp(mean)) == pytest.approx(0.8490, abs=1e-4)  # (0.8 * 0.9 * 0.85) ** (1 / 3)
    assert m["ci_high"] == pytest.approx(math.exp(mean + 4.302653 * sd / 3 ** 0.5), rel=1e-5)
    assert m["ci_high"] == pytest.approx(0.9828, abs=1e-4) and m["side"] == rule.BELOW  # exp(-0.16367 + 0.14633)
    assert m["ci90_low"] == pytest.approx(math.exp(mean - 2.919986 * sd / 3 ** 0.5), rel=1e-5)
    assert m["n"] == 3 and not m["equivalent"]  # 0.85x is outside +-10%
    level = rule.measured([0.01, -0.01, 0.02, -0.02, 0.0, 0.01])  # tight around 1: inside +-10%
    assert level["side"] is None and level["equivalent"] and level["p_equiv"] < 0.05
    assert rule.measured([0.3, 0.25, 0.35])["side"] == rule.ABOVE
    assert rule.measured([])["n"] == 0 and rule.measured([])["side"] is None


def _m(side, equivalent, n=8):
    return {"side": side, "equivalent": equivalent, "n": n}


@pytest.mark.parametrize("call, side, equivalent, expected", [
    (rule.AHEAD, rule.BELOW, False, rule.RIGHT), (rule.AHEAD, rule.ABOVE, False, rule.WRONG),
    (rule.AHEAD, None, True, rule.WRONG), (rule.AHEAD, None, False, rule.UNDECIDED),
    (rule.NOT_AHEAD, rule.ABOVE, False, rule.RIGHT), (rule.NOT_AHEAD, rule.BELOW, False, rule.WRONG),
    (rule.NOT_AHEAD, None, True, rule.RIGHT), (rule.NOT_AHEAD, None, False, rule.UNDECIDED),
])
def test_score_follows_claim_11s_table(call, side, equivalent, expected):
    assert rule.score(call, _m(side, equivalent)) == expected


def test_score_without_a_call_or_pairs():
    assert rule.score(None, _m(rule.BELOW, False)) is None
    assert rule.score(rule.AHEAD, _m(None, False, n=1)) == rule.UNDECIDED


def test_verdict_counts_right_and_wrong():
    R, W, U = rule.RIGHT, rule.WRONG, rule.UNDECIDED
    assert rule.verdict([R, R, R])[0] == rule.SUPPORTED
    assert rule.verdict([R, R, R, U])[0] == rule.SUPPORTED
    assert rule.verdict([R, R, R, W])[0] == rule.INCONCLUSIVE  # one wrong: not supported, not yet contradicted
    assert rule.verdict([R, W, W])[0] == rule.CONTRADICTED
    assert rule.verdict([R, R])[0] == rule.INCONCLUSIVE
    assert rule.verdict([]) == (rule.INCONCLUSIVE, "0 predictions made before the data: 0 right, 0 wrong, "
                                "0 undecided; supported needs at least 3 right and none wrong, contradicted 2 wrong")


def test_no_prediction_outside_the_stated_setup_or_length():
    ok = {"data.image_size": 32, "model.ngf": 32, "model.ndf": 32, "model.d_norm": "batch", "train.lr_d": 4e-4}
    assert rule.no_prediction_why(ok, 4000) is None
    assert rule.no_prediction_why(ok, 10000) == ("the rule has no evidence for this setup: 10000 training steps "
                                                 "(the rule: 4000)")
    why = rule.no_prediction_why({**ok, "data.image_size": 64, "model.d_norm": "none"}, 4000)
    assert why == ("the rule has no evidence for this setup: data.image_size=64 (the rule: 32); model.d_norm=none "
                   "(the rule: batch)")


def _rows(step_probs):
    return [{"step": s, "D/real_prob": r, "D/fake_prob": f} for s, (r, f) in step_probs.items()]


def test_reading_scores_each_cell_of_a_study():
    """Two cells (d_norm batch / none) of 3 seeds: hand-set S and FCDs give one 'right' and one without a call."""
    rows, metrics = [], {}
    for norm, s_values, ratio in (("batch", (0.2, 0.1, 0.0), (0.8, 0.85, 0.9)), ("none", (0.0, 0.0, 0.0),
                                                                                (1.3, 1.25, 1.35))):
        for seed in range(3):
            for act in ("relu", "leaky_relu:0.2"):
                run = f"{act}-{norm}-{seed}"
                fcd = 10.0 * (ratio[seed] if act != "relu" else 1.0)
                row = {"run": run, "status": "completed", "model.d_act": act, "model.d_norm": norm,
                       "train.seed": seed, "step": 4000, "tail3/log/quality/fcd": math.log(fcd)}
                if act == "relu":
                    row["w1001_2000/D/saturated"] = s_values[seed]
                rows.append(row)
                metrics[run] = _rows({100: (0.99, 0.01), 1200: (0.95, 0.02 if seed == 0 else 0.5), 1800: (0.6, 0.4)})
    results = make_results(rows, {"axes": {"model.d_act": ["relu", "leaky_relu:0.2"],
                                           "model.d_norm": ["batch", "none"], "train.seed": [0, 1, 2]}})
    settings = {"data.name": "fashion_mnist", "data.image_size": 32, "model.ngf": 32, "model.ndf": 32}
    out = rule.reading(results, metrics, lambda run: {**settings, "model.d_norm": run.split("-")[1]})
    batch, none = out["cells"]
    assert batch["cell"] == "baseline" and none["cell"] == "d_norm=none"
    assert batch["s"] == pytest.approx(0.1) and batch["s_per_seed"] == {"0": 0.2, "1": 0.1, "2": 0.0}
    assert batch["prediction"] == rule.AHEAD and batch["measured"]["side"] == rule.BELOW
    assert batch["score"] == rule.RIGHT and batch["found"] == "LeakyReLU ahead"
    assert batch["log_ratio_per_seed"] == {"0": pytest.approx(math.log(0.8)), "1": pytest.approx(math.log(0.85)),
                                           "2": pytest.approx(math.log(0.9))}
    assert none["prediction"] is None and "model.d_norm=none (the rule: batch)" in none["no_prediction"]
    assert none["score"] is None and none["found"] == "LeakyReLU behind"
    sat = batch["relu_profile"]["keys"]["D/saturated"]
    # windows (0, 500], (500, 1000], (1000, 1500], (1500, 2000]: step 100 saturated in every run; step 1200 in seed 0
    assert sat["mean"][0] == 1.0 and math.isnan(sat["mean"][1])
    assert sat["mean"][2] == pytest.approx(1 / 3) and sat["mean"][3] == 0.0


def _git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def _repo(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir(parents=True)
    _git("init", "-q", cwd=repo)
    _git("config", "user.email", "t@t", cwd=repo)
    _git("config", "user.name", "t", cwd=repo)
    return repo


def _advice(call, s):
    return json.dumps({"made_utc": "2026-12-08T10:00:00Z", "prediction": {"call": call, "s": s}})


def _commit(repo, path, text, message):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    _git("add", str(path.relative_to(repo)), cwd=repo)
    _git("commit", "-q", "-m", message, cwd=repo)


def test_a_prediction_committed_before_the_runs_counts_and_its_first_version_is_the_call(tmp_path):
    repo = _repo(tmp_path)
    pred, study = repo / "pilot" / "advise.json", repo / "study"
    _commit(repo, pred, _advice(rule.AHEAD, 0.2), "prediction")
    _commit(repo, study / "runs" / "a" / "summary.json", "{}", "runs")
    _commit(repo, pred, _advice(rule.NOT_AHEAD, 0.0), "advise rerun: the file changed after the data")
    p = study_prediction(study, "pilot/advise.json", _m(rule.BELOW, False))
    assert p["before_the_data"] and p["call"] == rule.AHEAD and p["score"] == rule.RIGHT  # the first version's call
    assert p["order"].startswith("made before the data")


def test_a_prediction_committed_after_the_runs_does_not_count(tmp_path):
    repo = _repo(tmp_path)
    pred, study = repo / "pilot" / "advise.json", repo / "study"
    _commit(repo, study / "runs" / "a" / "summary.json", "{}", "runs")
    _commit(repo, pred, _advice(rule.AHEAD, 0.2), "prediction")
    p = study_prediction(study, "pilot/advise.json", _m(rule.BELOW, False))
    assert not p["before_the_data"] and p["score"] == rule.RIGHT and p["order"].startswith("not before the data")
    both = _repo(tmp_path / "b")  # one commit holding both: no order at all
    pred2, study2 = both / "pilot" / "advise.json", both / "study"
    pred2.parent.mkdir(parents=True)
    pred2.write_text(_advice(rule.AHEAD, 0.2))
    (study2 / "runs" / "a").mkdir(parents=True)
    (study2 / "runs" / "a" / "summary.json").write_text("{}")
    _git("add", ".", cwd=both)
    _git("commit", "-q", "-m", "both", cwd=both)
    assert not study_prediction(study2, "pilot/advise.json", _m(rule.BELOW, False))["before_the_data"]


def test_an_uncommitted_prediction_is_scored_but_not_before_the_data(tmp_path):
    (tmp_path / "advise.json").write_text(_advice(rule.NOT_AHEAD, 0.0))
    p = study_prediction(tmp_path / "study", str(tmp_path / "advise.json"), _m(None, True))
    assert p["score"] == rule.RIGHT and not p["before_the_data"]
    assert study_prediction(tmp_path, None, _m(None, True)) is None
    missing = study_prediction(tmp_path, str(tmp_path / "nope.json"), _m(None, True))
    assert missing["score"] is None and "cannot be read" in missing["order"]


def test_a_prediction_is_not_scored_on_a_study_of_another_length(tmp_path):
    (tmp_path / "advise.json").write_text(_advice(rule.AHEAD, 0.2))
    p = study_prediction(tmp_path, str(tmp_path / "advise.json"), _m(rule.BELOW, False), steps=10000)
    assert p["score"] is None and p["order"].endswith("the study trained 10000 steps and the call is about 4000: "
                                                      "not scored")


def test_a_study_file_names_its_prediction_by_a_path(tmp_path):
    from gan.errors import UserError
    from gan.study.spec import read_study_spec

    base = {"name": "s", "axes": {"train.seed": [0, 1], "model.d_act": ["relu", "leaky_relu:0.2"]}}
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(json.dumps({**base, "prediction": "results/rule/x/advise.json"}))
    bad.write_text(json.dumps({**base, "prediction": 3}))
    assert read_study_spec(good).raw["prediction"] == "results/rule/x/advise.json"
    with pytest.raises(UserError, match="'prediction' must be the path of the advise.json the study tests"):
        read_study_spec(bad)
