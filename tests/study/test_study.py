"""`gan study` planning: folder names from the axis values, W&B names by docs/design.md's contract."""

from __future__ import annotations

import math

import pytest

from gan.errors import UserError
from gan.study.spec import read_study_spec, plan
from gan.study.runner import _train_command

from conftest import REPO

FAKE_YAML = REPO / "configs" / "fake.yaml"


def _study(tmp_path, axes: str):
    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\nbase: {FAKE_YAML}\noverrides: {{train.steps: 3}}\naxes:\n{axes}")
    return read_study_spec(path)


def test_runs_are_folders_by_axis_values_and_wandb_names_by_contract(tmp_path):
    spec = _study(tmp_path, "  model.d_act: [relu, 'leaky_relu:0.2']\n  model.ndf: [8, 16]\n  train.seed: [0, 1]\n")
    runs = plan(spec)
    assert [r.name for r in runs[:3]] == ["d_act-relu__ndf-8__seed-0", "d_act-relu__ndf-8__seed-1",
                                          "d_act-relu__ndf-16__seed-0"]
    # `<dataset>-D_<act>-G_<act>-s<seed>`, then the axis values the contract does not name (here: ndf)
    assert runs[0].wandb_name == "fake-D_relu-G_relu-s0-ndf-8"
    assert runs[-1].wandb_name == "fake-D_leaky_relu:0.2-G_relu-s1-ndf-16"
    assert len({r.wandb_name for r in runs}) == len(runs) == 8
    cmd = _train_command(spec, runs[-1], tmp_path / "runs" / runs[-1].name, "new")
    assert "name=fake-D_leaky_relu:0.2-G_relu-s1-ndf-16" in cmd and "track.group=s" in cmd
    assert cmd[-2:] == ["--out", str(tmp_path / "runs" / "d_act-leaky_relu:0.2__ndf-16__seed-1")]


def test_contract_axes_alone_give_the_plain_contract_name(tmp_path):
    runs = plan(_study(tmp_path, "  model.g_act: [elu]\n  train.seed: [3]\n"))
    assert [(r.name, r.wandb_name) for r in runs] == [("g_act-elu__seed-3", "fake-D_leaky_relu:0.2-G_elu-s3")]


def test_a_bad_axis_value_is_named_before_anything_runs(tmp_path):
    with pytest.raises(UserError, match="unknown activation 'swish'"):
        _study(tmp_path, "  model.d_act: [relu, swish]\n")


##### sub-grids (issue 21): a list of grids sharing arms, runs deduplicated by resolved config

def _grids_study(tmp_path, grids: str, name: str = "g.yaml"):
    path = tmp_path / name
    path.write_text(f"name: g\nbase: {FAKE_YAML}\noverrides: {{train.steps: 3}}\ngrids:\n{grids}")
    return read_study_spec(path)


BASELINE = ("  - name: baseline\n"
            "    axes: {model.d_act: [relu, 'leaky_relu:0.2'], train.seed: [0, 1]}\n")
NORM = ("  - name: norm\n"
        "    axes: {model.d_act: [relu, 'leaky_relu:0.2'], model.d_norm: [batch, none], train.seed: [0, 1]}\n")
SLOPES = ("  - name: slopes\n"
          "    axes: {model.d_act: [relu, 'leaky_relu:0.1'], train.seed: [0, 1]}\n")


def test_two_grids_sharing_the_baseline_arms_train_the_shared_runs_once(tmp_path):
    spec = _grids_study(tmp_path, BASELINE + NORM)
    names = [r.name for r in spec.runs]
    # baseline: 2 acts x 2 seeds; norm: 2 x 2 x 2, of which the 4 batch runs are the baseline's
    assert len(names) == len(set(names)) == 8
    assert names[:4] == ["d_act-relu__seed-0", "d_act-relu__seed-1", "d_act-leaky_relu:0.2__seed-0",
                         "d_act-leaky_relu:0.2__seed-1"]
    assert names[4:] == ["d_act-relu__d_norm-none__seed-0", "d_act-relu__d_norm-none__seed-1",
                         "d_act-leaky_relu:0.2__d_norm-none__seed-0", "d_act-leaky_relu:0.2__d_norm-none__seed-1"]
    # every run names its value of every varied key, so results.csv pairs the baseline runs as d_norm=batch
    assert all(r.settings["model.d_norm"] in ("batch", "none") for r in spec.runs)
    assert spec.runs[0].settings == {"train.steps": 3, "model.d_act": "relu", "model.d_norm": "batch",
                                     "train.seed": 0}
    assert spec.axes == {"model.d_act": ["relu", "leaky_relu:0.2"], "train.seed": [0, 1],
                         "model.d_norm": ["batch", "none"]}


def test_adding_a_grid_renames_no_existing_run(tmp_path):
    one = {r.name: r.settings for r in _grids_study(tmp_path, BASELINE, "a.yaml").runs}
    two = {r.name: r.settings for r in _grids_study(tmp_path, BASELINE + NORM, "b.yaml").runs}
    three = {r.name: r.settings for r in _grids_study(tmp_path, SLOPES + BASELINE + NORM, "c.yaml").runs}
    assert set(one) <= set(two) <= set(three)
    assert len(three) == 10  # + leaky_relu:0.1 x 2 seeds; its relu runs are the baseline's
    assert "d_act-leaky_relu:0.1__seed-1" in three


def test_a_grid_override_is_named_and_dedup_uses_the_resolved_config(tmp_path):
    spec = _grids_study(tmp_path, BASELINE + "  - overrides: {model.ndf: 16}\n"
                                              "    axes: {model.d_act: [relu], train.seed: [0]}\n"
                                              "  - overrides: {model.d_norm: batch}\n"  # = the base: the same runs
                                              "    axes: {model.d_act: [relu], train.seed: [0, 1]}\n")
    assert [r.name for r in spec.runs][4:] == ["d_act-relu__ndf-16__seed-0"]


def test_a_single_axes_file_keeps_todays_folder_names(tmp_path):
    spec = _study(tmp_path, "  model.d_act: [relu]\n  model.d_norm: [none]\n  train.seed: [2]\n")
    assert [r.name for r in spec.runs] == ["d_act-relu__d_norm-none__seed-2"] and spec.grids == ()
    quick = read_study_spec(REPO / "configs" / "study" / "quick.yaml")
    assert [r.name for r in quick.runs][:2] == ["d_act-relu__seed-0", "d_act-relu__seed-1"]


@pytest.mark.parametrize("grids, message", [
    ("  - {name: x}\n", "grid 1 \\('x'\\) must be a mapping with 'axes'"),
    ("  - axes: {train.seed: 3}\n", "grid 1: 'axes' must map config keys to non-empty lists"),
    ("  - axes: {train.seed: [0]}\n    overrides: [1]\n", "grid 1: 'overrides' must map config keys"),
    ("  {}\n", "'grids' must be a non-empty list"),
])
def test_bad_grids_are_named(tmp_path, grids, message):
    with pytest.raises(UserError, match=message):
        _grids_study(tmp_path, grids)


def test_axes_and_grids_together_are_refused(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(f"base: {FAKE_YAML}\naxes: {{train.seed: [0]}}\ngrids:\n" + BASELINE)
    with pytest.raises(UserError, match="both 'axes' and 'grids'"):
        read_study_spec(path)


def test_results_csv_of_a_grids_study_has_one_row_per_distinct_run(tmp_path):
    import csv

    from gan.study.collect import collect_results

    spec = _grids_study(tmp_path, BASELINE + NORM)
    (tmp_path / "study").mkdir()
    with open(collect_results(tmp_path / "study", spec, list(spec.runs))) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 and len({r["run"] for r in rows}) == 8
    assert sorted({r["model.d_norm"] for r in rows}) == ["batch", "none"]
    # the grids column: the shared batch runs belong to both grids, the none runs to the norm grid only
    grids = {r["run"]: r["grids"] for r in rows}
    assert grids["d_act-relu__seed-0"] == "baseline;norm"
    assert grids["d_act-relu__d_norm-none__seed-1"] == "norm"


def test_claims_1_to_3_read_the_first_grid_only():
    """A d_norm=none grid where LeakyReLU is much worse must not move claim 2 (the default condition)."""
    from gan.analysis.claims.evaluate import evaluate_claims
    from gan.analysis.claims.registry import LOG_FCD
    from gan.study.results import make_results

    study = {"grids": [{"name": "baseline", "axes": {}}, {"name": "norm", "axes": {}}]}
    rows = []
    for seed in range(8):
        for act in ("relu", "leaky_relu:0.2"):
            for norm, grids in (("batch", "baseline;norm"), ("none", "norm")):
                worse = 1.0 if norm == "batch" else (3.0 if act != "relu" else 1.0)
                rows.append({"run": f"{act}-{norm}-{seed}", "model.d_act": act, "model.d_norm": norm,
                             "train.seed": seed, "grids": grids, LOG_FCD: math.log(10 * worse) + 0.01 * seed})
    claims = {c.number: c for c in evaluate_claims(make_results(rows, study)) if c.primary}
    assert claims[2].n_pairs == 8 and abs(claims[2].effect - 1.0) < 1e-9
    assert "first grid ('baseline') only" in claims[2].detail
    assert claims[8].n_pairs == 8  # the interaction still reads both cells
    assert math.exp(claims[8].test.mean) > 2.9
