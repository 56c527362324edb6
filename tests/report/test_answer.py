"""The answer's pieces on hand-built values: the effect at every evaluation step, the early-horizon column,
the forest rows and `gan answer` over two synthetic studies."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gan import cli
from gan.report.answer import answer_table
from gan.analysis.claims.evaluate import evaluate_claims
from gan.analysis.claims.registry import EARLY_LOG_FCD
from gan.study.derived import derived_columns, early_log_value
from gan.analysis.effect_curve import describe, effect_curves
from gan.report.forest import RatioLocator, forest_rows
from gan.study.results import make_results
from builders_study import PNG_MAGIC, make_study

def analysed(root, **kw):
    """A fake study with its analysis.json, as `gan report` leaves it (`gan answer` only reads it)."""
    from gan.analysis.study_analysis import write_analysis

    write_analysis(make_study(root, **kw))
    return root


STUDY = {"axes": {"model.d_act": ["relu", "leaky_relu:0.2"], "train.seed": [0, 1, 2]}}


def _study(ratios_by_step: dict[int, list[float]]):
    """Three seeds; ReLU FCD 10 at every step, LeakyReLU 10 * ratio[seed] at that step."""
    rows, metrics = [], {}
    for seed in range(3):
        for act in ("relu", "leaky_relu:0.2"):
            name = f"{act}-s{seed}"
            rows.append({"run": name, "status": "completed", "model.d_act": act, "train.seed": seed})
            metrics[name] = [{"step": s, "quality/fcd": 10.0 * (r[seed] if act != "relu" else 1.0)}
                             for s, r in ratios_by_step.items()]
    return make_results(rows, STUDY), metrics


def test_effect_curve_is_the_paired_log_ratio_at_each_step():
    res, metrics = _study({500: [0.5, 0.5, 0.5], 1000: [0.8, 0.9, 1.0]})
    (curve,) = effect_curves(res, metrics, "leaky_relu:0.2", margin=math.log1p(0.1))
    assert curve.steps == (500, 1000) and curve.cell == ""
    (r500, lo500, hi500), (r1000, lo1000, hi1000) = curve.ratio()
    assert r500 == pytest.approx(0.5) and lo500 == pytest.approx(0.5) and hi500 == pytest.approx(0.5)
    d = np.log([0.8, 0.9, 1.0])  # hand-computed t-interval, 2 degrees of freedom (t = 4.3027)
    half = 4.302653 * d.std(ddof=1) / math.sqrt(3)
    assert r1000 == pytest.approx(math.exp(d.mean()))
    assert (lo1000, hi1000) == pytest.approx((math.exp(d.mean() - half), math.exp(d.mean() + half)), rel=1e-5)
    assert all(t.n == 3 for t in curve.tests)


def test_simultaneous_band_is_bonferroni_over_the_steps():
    res, metrics = _study({500: [0.8, 0.9, 1.0], 1000: [0.7, 0.9, 1.1], 1500: [0.9, 0.95, 1.0]})
    (curve,) = effect_curves(res, metrics, "leaky_relu:0.2", margin=math.log1p(0.1))
    from scipy import stats as sps
    t = sps.t.ppf(1 - 0.05 / 3 / 2, 2)  # each of 3 steps at 1 - 0.05 / 3, two-sided, 2 degrees of freedom
    for (lo, hi), (r, plo, phi), ratios in zip(curve.band(), curve.ratio(), ([0.8, 0.9, 1.0], [0.7, 0.9, 1.1],
                                                                             [0.9, 0.95, 1.0])):
        d = np.log(ratios)
        half = t * d.std(ddof=1) / math.sqrt(3)
        assert (lo, hi) == pytest.approx((math.exp(d.mean() - half), math.exp(d.mean() + half)), rel=1e-6)
        assert lo < plo and phi < hi  # wider than the pointwise interval
    assert "simultaneous 95% bands, Bonferroni over 3 steps" in describe([curve], math.log1p(0.1))[0]


def test_effect_curve_says_when_the_reading_changes_with_training_length():
    res, metrics = _study({500: [0.5, 0.5, 0.5], 4000: [1.0, 1.0, 1.0]})
    (text,) = describe(effect_curves(res, metrics, "leaky_relu:0.2"), math.log1p(0.1))
    assert "step 500: LeakyReLU better by more than the margin" in text
    assert "step 4000: within the margin" in text and "points one way" in text
    res, metrics = _study({500: [0.5, 0.5, 0.5], 1000: [0.5, 0.5, 0.5], 4000: [1.5, 1.6, 1.7]})
    (text,) = describe(effect_curves(res, metrics, "leaky_relu:0.2"), math.log1p(0.1))
    assert "steps 500-1000: LeakyReLU better by more than the margin" in text
    assert "step 4000: LeakyReLU worse by more than the margin" in text
    assert "direction of the effect changes with training length" in text
    # the answer study's shape: a small early advantage whose CI excludes 1 but lies inside the margin, then worse
    res, metrics = _study({500: [0.935, 0.94, 0.945], 4000: [1.5, 1.6, 1.7]})
    (text,) = describe(effect_curves(res, metrics, "leaky_relu:0.2"), math.log1p(0.1))
    assert "step 500: LeakyReLU better, within the margin" in text
    assert "direction of the effect changes with training length" in text
    res, metrics = _study({500: [0.95, 1.05, 1.2]})
    (text,) = describe(effect_curves(res, metrics, "leaky_relu:0.2"), math.log1p(0.1))
    assert "step 500: unclear" in text and "no step shows an effect" in text and "includes a ratio of 1" in text


def test_effect_curve_one_curve_per_cell_and_needs_two_pairs():
    rows, metrics = [], {}
    for norm in ("batch", "none"):
        for seed in range(2):
            for act in ("relu", "leaky_relu:0.2"):
                name = f"{act}-{norm}-s{seed}"
                rows.append({"run": name, "model.d_act": act, "model.d_norm": norm, "train.seed": seed})
                fcd = 10.0 if act == "relu" or norm == "batch" else 5.0
                metrics[name] = [{"step": 100, "quality/fcd": fcd}] + ([{"step": 200, "quality/fcd": fcd}]
                                                                       if seed == 0 else [])
    res = make_results(rows, {"axes": {"model.d_act": [], "model.d_norm": [], "train.seed": []}})
    curves = {c.cell: c for c in effect_curves(res, metrics, "leaky_relu:0.2")}
    assert set(curves) == {"d_norm=batch", "d_norm=none"}
    assert curves["d_norm=none"].steps == (100,)  # step 200 has one pair only: left out
    assert curves["d_norm=none"].ratio()[0][0] == pytest.approx(0.5)
    assert curves["d_norm=batch"].ratio()[0][0] == pytest.approx(1.0)


def test_early_horizon_value_and_column():
    rows = [{"step": s, "quality/fcd": f} for s, f in ((500, 40.0), (1000, 20.0), (1500, 10.0), (4000, 3.0))]
    assert early_log_value(rows, "quality/fcd") == pytest.approx(math.log(20.0))
    assert early_log_value([{"step": 900, "quality/fcd": 8.0}], "quality/fcd") == pytest.approx(math.log(8.0))
    assert early_log_value([{"step": 2000, "quality/fcd": 8.0}], "quality/fcd") is None  # too far from 1000
    assert derived_columns(rows)[EARLY_LOG_FCD] == pytest.approx(math.log(20.0))


def test_early_horizon_is_a_descriptive_row(tmp_path):
    from gan.study.read import load_study_results

    study = load_study_results(make_study(tmp_path / "s", steps=2000))  # FCD rows from step 1000 on
    claims = evaluate_claims(study.results)
    early = [c for c in claims if c.metric == EARLY_LOG_FCD]
    assert len(early) == 1 and not early[0].primary and early[0].verdict == "descriptive"
    assert early[0].log and early[0].effect < 1  # synthetic LeakyReLU has the lower FCD


def test_gan_answer_over_two_studies(tmp_path, capsys):
    a, b = analysed(tmp_path / "fm"), analysed(tmp_path / "m5", seeds=tuple(range(6)), failed=False)
    out = tmp_path / "answer"
    assert cli.main(["answer", f"{a}=Fashion-MNIST", f"{b}=mnist5k", "--out", str(out)]) == 0
    assert (out / "forest.png").read_bytes().startswith(PNG_MAGIC)
    for lab in ("Fashion-MNIST", "mnist5k"):  # same-noise grids: ReLU and LeakyReLU of one seed
        assert (out / f"samples_{lab}.png").read_bytes().startswith(PNG_MAGIC)
    md = (out / "answer.md").read_text()
    assert md == capsys.readouterr().out.split("forest plot written")[0]
    lines = [line for line in md.splitlines() if line.startswith("| 2. ")]
    assert [line.split(" | ")[1] for line in lines] == ["Fashion-MNIST", "mnist5k"]
    assert "| 9 |" in lines[0] and "| 6 |" in lines[1]  # pairs: one ReLU run failed in the first study
    assert (out / "effect_over_training.png").read_bytes().startswith(PNG_MAGIC)
    assert "![effect_over_training](effect_over_training.png)" in md
    mech = [line.split(" | ") for line in md.split("## The mechanism, as measured")[1].splitlines()
            if line.startswith("| ") and not line.startswith("| dataset")]
    assert {(m[0], m[1]) for m in mech} == {("| Fashion-MNIST", "baseline"), ("| mnist5k", "baseline")}
    assert mech[0][-1] == "9 |" and mech[-1][-1] == "6 |"  # the pairs of the paired difference


def test_a_context_study_is_drawn_and_tabled_but_not_decided(tmp_path, capsys):
    a, b = analysed(tmp_path / "fm"), analysed(tmp_path / "long", seeds=tuple(range(4)), failed=False)
    out = tmp_path / "answer"
    assert cli.main(["answer", f"{a}=FM", "--out", str(out), "--context", f"{b}=FM-long"]) == 0
    md = (out / "answer.md").read_text()
    assert md.startswith(f"Written by `gan answer {a}=FM --out {out} --context {b}=FM-long`.")
    table = md[:md.index("p (Holm)")]
    assert "| FM |" in table and "FM-long" not in table.split("`.")[1]  # no verdict row, no contrast
    assert "| FM-long | baseline |" in md.split("## The mechanism, as measured")[1]
    assert (out / "effect_over_training.png").read_bytes().startswith(PNG_MAGIC)


def test_a_claims_only_study_is_decided_in_the_family_but_contrasted_with_no_study(tmp_path):
    a, b, c = (analysed(tmp_path / n) for n in ("fm", "digits", "range"))
    out = tmp_path / "answer"
    both = cli.main(["answer", f"{a}=FM", f"{b}=digits", "--out", str(out / "1"), "--claims-only", f"{c}=FM-range"])
    three = cli.main(["answer", f"{a}=FM", f"{b}=digits", f"{c}=FM-range", "--out", str(out / "2")])
    assert both == three == 0
    md = (out / "1" / "answer.md").read_text()
    assert md.startswith(f"Written by `gan answer {a}=FM {b}=digits --out {out / '1'} --claims-only {c}=FM-range`.")
    rows = [line.split(" | ")[:2] for line in md[:md.index("p (Holm)")].splitlines() if line.startswith("| 1")]
    assert [r[1] for r in rows] == ["FM", "digits", "FM-range", "FM vs digits"]  # claim 1 rows, then one contrast
    contrasts = [line for line in (out / "2" / "answer.md").read_text().splitlines() if line.startswith("| 10.")]
    assert len(contrasts) == 3 and sum(line.startswith("| 10.") for line in md.splitlines()) == 1
    assert (out / "1" / "samples_FM-range.png").read_bytes().startswith(PNG_MAGIC)


def test_gan_answer_without_results_is_one_sentence(tmp_path, capsys):
    assert cli.main(["answer", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "has no results.csv" in capsys.readouterr().err


def test_gan_answer_refuses_a_stale_analysis_and_leaves_the_study_as_it_was(tmp_path, capsys):
    """`gan answer` reads other studies' folders: it never rewrites their analysis.json, it names the command."""
    a = analysed(tmp_path / "fm")
    results = a / "results.csv"
    results.write_text(results.read_text().replace(",completed,", ",diverged,", 1))  # a study collected again
    before = (a / "analysis.json").read_bytes()
    assert cli.main(["answer", f"{a}=FM", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"run `gan report {a}`" in err and "stale" in err and len(err.strip().splitlines()) == 1
    assert (a / "analysis.json").read_bytes() == before and not (tmp_path / "o" / "answer.md").exists()


def test_forest_rows_skip_untested_claims(tmp_path):
    from gan.study.read import load_study_results

    study = load_study_results(make_study(tmp_path / "s"))
    rows = forest_rows("x", study.results, evaluate_claims(study.results))
    assert sorted(r.claim.number for r in rows) == [1, 2, 3]
    head, table = answer_table(rows)
    assert head[-2:] == ["smallest effect ruled out", "KID beside it"]
    assert all(r[-3] == "supported (beyond the margin)" for r in table)


def test_ratio_axis_labels_the_margins_on_a_narrow_axis_only():
    """0.8x..1.4x (a forest plot's FCD panel): 0.9 and 1.1 are labelled so a 10% margin can be read; over two
    decades the per-decade ratios come back (0.9 beside 1 would overlap there)."""
    narrow = RatioLocator().tick_values(0.8, 1.4)
    assert narrow == [0.8, 0.9, 1.0, 1.1, 1.25]
    wide = RatioLocator().tick_values(0.1, 10.0)
    assert 0.9 not in wide and 1.1 not in wide
    assert any(math.isclose(t, 0.5) for t in wide) and any(math.isclose(t, 2.0) for t in wide)


def test_dataset_contrast_is_welch_on_per_seed_log_ratios():
    from scipy import stats as sps

    from gan.analysis.claims.rules import dataset_contrast, welch_test
    a = np.log([1.10, 1.15, 1.20, 1.12, 1.18])  # LeakyReLU worse on A
    b = np.log([0.90, 0.92, 0.88, 0.95, 0.91, 0.89, 0.93])  # better on B
    t = welch_test(a, b, math.log1p(0.1))
    ref = sps.ttest_ind(a, b, equal_var=False)
    assert t.mean == pytest.approx(a.mean() - b.mean()) and t.p == pytest.approx(ref.pvalue) and t.n == 12
    se = math.sqrt(a.var(ddof=1) / 5 + b.var(ddof=1) / 7)
    dof = se ** 4 / ((a.var(ddof=1) / 5) ** 2 / 4 + (b.var(ddof=1) / 7) ** 2 / 6)  # Welch-Satterthwaite by hand
    half = sps.t.ppf(0.975, dof) * se
    assert (t.ci_low, t.ci_high) == pytest.approx((t.mean - half, t.mean + half))
    c = dataset_contrast("A", a, "B", b, "tail3/log/quality/fcd", math.log1p(0.1))
    assert c.number == 10 and c.direction == "either" and c.effect == pytest.approx(math.exp(a.mean() - b.mean()))
    same = welch_test(a, a + 0.001, math.log1p(0.1))
    assert same.p > 0.5 and same.p_equiv < 0.05  # the same effect on both: equivalent within 10%


def test_answer_holm_runs_over_the_whole_table(tmp_path):
    from gan.analysis.answer_analysis import answer_claims
    from gan.analysis.study_analysis import read_analysis

    studies = [(lab, read_analysis(analysed(tmp_path / lab, seeds=tuple(range(8))))) for lab in ("A", "B")]
    rows = answer_claims(studies)
    tested = [c for _, _, c, _ in rows if math.isfinite(c.p)]
    contrast = [c for lab, kind, c, _ in rows if lab == "A vs B" and kind == "dataset_contrast"]
    assert len(contrast) == 1 and contrast[0].number == 10
    assert len(tested) == 2 * 3 + 1  # claims 1-3 of each study and the contrast: one family of 7
    from gan.analysis.stats import holm
    assert [c.p_adjusted for c in tested] == pytest.approx(holm([c.p for c in tested]))


def test_answer_md_is_rendered_from_answer_json_alone(tmp_path):
    """The statistics live in answer.json (gan/analysis/answer_analysis.py); the renderer computes none: a number
    planted in answer.json is what answer.md shows."""
    import json

    from gan.report.answer import write_answer

    a, b = analysed(tmp_path / "fm"), analysed(tmp_path / "m5", seeds=tuple(range(6)), failed=False)
    out = tmp_path / "answer"
    assert cli.main(["answer", f"{a}=FM", f"{b}=digits", "--out", str(out)]) == 0
    answer = json.loads((out / "answer.json").read_text())
    assert answer["written_by"] == f"gan answer {a}=FM {b}=digits --out {out}"
    assert [(r["label"], r["kind"], r["claim"]["number"]) for r in answer["rows"]] == [
        ("FM", "claim", n) for n in range(1, 10)] + [("digits", "claim", n) for n in range(1, 10)] + [
        ("FM vs digits", "dataset_contrast", 10)]
    assert answer["family"]["tested"] == 7  # claims 1-3 of each study and the contrast
    row = next(r for r in answer["rows"] if r["kind"] == "dataset_contrast")
    row["claim"]["test"]["mean"] = math.log(3.21)  # planted
    (out / "answer.json").write_text(json.dumps(answer))
    write_answer(out)
    (line,) = [x for x in (out / "answer.md").read_text().splitlines() if x.startswith("| 10. ")]
    assert "| 3.21x [" in line


def test_the_answer_shows_steps_to_quality_per_study_and_per_contrast_beside_claim_10(tmp_path):
    import json

    a, b = analysed(tmp_path / "fm", steps=2000), analysed(tmp_path / "m5", steps=2000, failed=False)
    out = tmp_path / "answer"
    assert cli.main(["answer", f"{a}=FM", f"{b}=digits", "--out", str(out)]) == 0
    steps = json.loads((out / "answer.json").read_text())["steps_to_quality"]
    assert [s["label"] for s in steps["studies"]] == ["FM", "digits"] and steps["contrasts"][0]["label"] == "FM vs digits"
    md = (out / "answer.md").read_text()
    section = md.split("## One currency across datasets: steps to quality")[1].split("## The mechanism")[0]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| ") and "dataset" not in line]
    assert [r[0] for r in rows] == ["| FM", "| digits", "| FM vs digits"]
    fm, contrast = steps["studies"][0]["fcd"], steps["contrasts"][0]["fcd"]
    assert rows[0][1] == f"x{fm['ratio']:.3g} [{fm['ratio_low']:.3g}, {fm['ratio_high']:.3g}]" and rows[0][2] == "9"
    assert rows[2][1].startswith(f"x{contrast['ratio']:.3g} [") and rows[2][2] == "19"
    (ten,) = [x.split(" | ") for x in md.splitlines() if x.startswith("| 10. ")]
    assert rows[2][4] == ten[3] + " |"  # claim 10's ratio of ratios beside it, as the main table gives it
    assert "Written by" in md.splitlines()[0] and md.index("p (Holm)") < md.index("## One currency")
