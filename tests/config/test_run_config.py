"""A run folder's config.yaml is read through the config loader (read_run_config), by collect, headline and analysis."""

from __future__ import annotations

from gan.config.load import read_run_config
from gan.files.layout import RunDir


def test_a_run_config_loads_validated_and_says_which_keys_it_names(tmp_path):
    RunDir(tmp_path).config.write_text("name: r\ndata: {name: fake, image_size: 32}\nmodel: {d_act: 'leaky_relu:0.2'}\n"
                                       "train: {steps: 40}\n")
    saved = read_run_config(tmp_path)
    assert saved.cfg.train.steps == 40 and saved.cfg.model.d_act == "leaky_relu:0.2"
    assert saved.cfg.data.range == (-1.0, 1.0)  # not named (a run older than the key): its default
    assert saved.settings() == {"name": "r", "data.name": "fake", "data.image_size": 32,
                                "model.d_act": "leaky_relu:0.2", "train.steps": 40}


def test_a_missing_or_invalid_run_config_reads_as_none(tmp_path):
    assert read_run_config(tmp_path) is None
    RunDir(tmp_path).config.write_text("train: {stepz: 40}\n")
    assert read_run_config(tmp_path) is None
    RunDir(tmp_path).config.write_text("train: [1\n")
    assert read_run_config(tmp_path) is None
