"""`gan config`: help, defaults and valid values come from the config fields, and the README table is its output."""

from __future__ import annotations

import pytest

from gan import cli
from gan.config.schema import DEVICES, FIELDS, KEYS, RunConfig, show_value
from gan.config.load import load_config
from gan.config.help import README_END, README_START, render_markdown, rows
from gan.errors import UserError

from conftest import REPO


def test_readme_key_table_is_gan_config_markdown():
    text = (REPO / "README.md").read_text()
    assert README_START in text and README_END in text, "README lost its config-table markers"
    table = text.split(README_START, 1)[1].split(README_END, 1)[0].strip()
    assert table == render_markdown(), "README config table is stale: paste `gan config --markdown` between the markers"
    assert "| `train.device` | str | `auto` | `auto`, `cpu`, `cuda`, `cuda:N`, `mps` |" in table
    for key in KEYS:  # every key documented, once
        assert table.count(f"| `{key}` |") == 1, key


def test_every_key_has_help_and_its_real_default():
    by_key = {r["key"]: r for r in rows()}
    assert list(by_key) == list(KEYS)
    assert all(FIELDS[k].metadata["help"] for k in KEYS)
    assert by_key["train.lr"]["default"] == "0.0002" and by_key["train.lr_d"]["type"] == "float | null"
    assert by_key["track.tags"] == {"key": "track.tags", "type": "list of str", "default": "[]",
                                    "choices": "", "help": "W&B tags, a list"}
    assert by_key["model.d_act"]["default"] == RunConfig().model.d_act


def test_validation_accepts_exactly_the_documented_choices():
    for key, f in FIELDS.items():
        choices = f.metadata.get("choices")
        if not choices or f.metadata["choices"] is DEVICES:
            continue
        for c in choices:
            value = c.replace("<slope>", "0.1") if isinstance(c, str) else show_value(c)  # as documented
            assert load_config(None, [f"{key}={value}"])  # documented -> accepted
        with pytest.raises(UserError, match=key.replace(".", r"\.")):
            load_config(None, [f"{key}=not_a_choice_{key}"])
    for ok in ("auto", "cpu", "cuda", "cuda:1", "mps"):
        assert load_config(None, [f"train.device={ok}"]).train.device == ok
    with pytest.raises(UserError, match="valid values are: auto, cpu, cuda, cuda:N, mps"):
        load_config(None, ["train.device=cuda:x"])


def test_gan_config_prints_one_key_or_section_and_refuses_unknown(capsys):
    assert cli.main(["config", "train.device"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].split()[:3] == ["train.device", "str", "auto"]
    assert "valid: auto, cpu, cuda, cuda:N, mps" in out[0]
    assert cli.main(["config", "model"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.strip().splitlines()] == \
        [k for k in KEYS if k.startswith("model.")]
    assert cli.main(["config", "train.devic"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: unknown config key 'train.devic': did you mean 'train.device'?"
