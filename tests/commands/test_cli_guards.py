"""Defects a review found in the CLI's edges: `gan eval` overrides that change what was trained, a study's
`base:` run from another directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REPO, TINY
from gan.cli import main
from gan.errors import UserError
from gan.commands.eval import _refuse_trained_overrides
from gan.study.spec import read_study_spec
from gan.train.launch import main_train


########################################################################################
# gan eval: the weights are scored in the network and on the data they were trained with

@pytest.mark.parametrize("override", ["model.g_act=elu", "model.ngf=8", "data.name=mnist", "data.image_size=64",
                                      "model.d_norm=none"])
def test_eval_refuses_overrides_that_change_what_was_trained(tmp_path, capsys, override):
    run_dir = tmp_path / "run"
    assert main_train(None, TINY + ["train.steps=2"], str(run_dir), None) == 0
    capsys.readouterr()
    assert main(["eval", str(run_dir), override]) == 2
    err = capsys.readouterr().err.strip()
    key = override.split("=")[0]
    assert err.startswith(f"error: gan eval cannot override '{key}'") and len(err.splitlines()) == 1
    assert not (run_dir / "eval.json").exists()  # nothing was scored, nothing overwritten


def test_eval_keeps_overrides_that_do_not_change_what_was_trained():
    _refuse_trained_overrides(["eval.n_samples=64", "train.device=cpu", "data.root=/elsewhere", "data.download=true"])
    with pytest.raises(UserError, match="'model'"):
        _refuse_trained_overrides(["model={g_act: elu}"])


########################################################################################
# gan study: `base:` relative to the study file when the current directory does not hold it

def _project(tmp_path: Path) -> Path:
    """tmp/proj/configs/mini.yaml and tmp/proj/configs/study/s.yaml naming it as `configs/mini.yaml`."""
    proj = tmp_path / "proj"
    (proj / "configs" / "study").mkdir(parents=True)
    (proj / "configs" / "mini.yaml").write_text("data: {name: fake}\nmodel: {ngf: 8, ndf: 8}\n")
    (proj / "configs" / "study" / "s.yaml").write_text(
        "name: s\nbase: configs/mini.yaml\noverrides: {train.steps: 2}\naxes:\n  train.seed: [0, 1]\n")
    return proj


def test_study_base_is_found_from_the_study_file_when_not_from_cwd(tmp_path, monkeypatch, capsys):
    proj = _project(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    spec = read_study_spec(proj / "configs" / "study" / "s.yaml")
    assert Path(spec.base) == (proj / "configs" / "mini.yaml").resolve()
    assert len(spec.runs) == 2
    err = capsys.readouterr().err
    assert "is not in the current directory; using" in err and str(proj / "configs" / "mini.yaml") in err


def test_study_base_from_cwd_wins_and_is_kept_as_written(tmp_path, monkeypatch, capsys):
    proj = _project(tmp_path)
    monkeypatch.chdir(proj)
    assert read_study_spec("configs/study/s.yaml").base == "configs/mini.yaml"
    assert capsys.readouterr().err == ""


def test_study_base_missing_everywhere_is_one_sentence(tmp_path, monkeypatch):
    proj = _project(tmp_path)
    (proj / "configs" / "mini.yaml").unlink()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="neither from the current directory nor from"):
        read_study_spec(proj / "configs" / "study" / "s.yaml")


def test_repo_study_preset_plans_from_another_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Path(read_study_spec(REPO / "configs" / "study" / "tiny.yaml").base) == REPO / "configs" / "fake.yaml"


def test_gan_data_offers_every_dataset_the_config_accepts():
    from gan.cli import build_parser
    from gan.commands.data import RECIPES
    from gan.config.schema import DATASETS

    data = next(a for a in build_parser()._subparsers._group_actions[0].choices["data"]._actions
                if a.dest == "name")
    assert tuple(data.choices) == (*DATASETS, *RECIPES) and RECIPES == ("clipart", "letters")
