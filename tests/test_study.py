"""`gan study` planning: folder names from the axis values, W&B names by docs/design.md's contract."""

from __future__ import annotations

import pytest

from gan.errors import UserError
from gan.study import _train_command, read_study_spec, plan

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
