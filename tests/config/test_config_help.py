"""`gan config`: help, defaults and valid values come from the config fields, and docs/config.md's table is its
output."""

from __future__ import annotations

import re

import pytest

from gan import cli
from gan.config.schema import DEVICES, FIELDS, KEYS, RunConfig, show_value
from gan.config.load import load_config
from gan.config.help import TABLE_END, TABLE_START, render_markdown, rows
from gan.errors import UserError

from conftest import REPO


def test_docs_key_table_is_gan_config_markdown():
    text = (REPO / "docs" / "config.md").read_text()
    assert TABLE_START in text and TABLE_END in text, "docs/config.md lost its config-table markers"
    table = text.split(TABLE_START, 1)[1].split(TABLE_END, 1)[0].strip()
    assert table == render_markdown(), \
        "docs/config.md's config table is stale: paste `gan config --markdown` between the markers"
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
            value = re.sub(r"<\w+>", "0.1", c) if isinstance(c, str) else show_value(c)  # as documented
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
    assert len(out) == 2 and out[1].split()[:3] == ["train.device", "str", "auto"]
    assert "valid: auto, cpu, cuda, cuda:N, mps" in out[1]
    assert cli.main(["config", "model"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.strip().splitlines()[1:]] == \
        [k for k in KEYS if k.startswith("model.")]
    assert cli.main(["config", "train.devic"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: unknown config key 'train.devic': did you mean 'train.device'?"
    assert cli.main(["config", "trian"]) == 2  # a section is a KEY here too
    assert capsys.readouterr().err.strip() == "error: unknown config key 'trian': did you mean 'train'?"


def test_gan_config_has_a_header_row_aligned_with_its_columns(capsys):
    assert cli.main(["config"]) == 0
    lines = capsys.readouterr().out.rstrip("\n").splitlines()
    header, body = lines[0], lines[1:]
    assert header.split() == ["key", "type", "default", "meaning"]
    assert [line.split()[0] for line in body] == list(KEYS)
    starts = [header.index(word) for word in ("type", "default", "meaning")]
    name = next(line for line in body if line.startswith("name "))  # type `str | null` holds spaces
    assert name[starts[0]:starts[1]].strip() == "str | null" and name[starts[1]:starts[2]].strip() == "null"
    for line in body:  # every row's type, default and meaning start under their header word
        assert all(line[s - 2:s] == "  " and line[s] != " " for s in starts), line


def test_markdown_table_keeps_its_header_and_escapes_the_bar_in_types():
    table = render_markdown().splitlines()
    assert table[:2] == ["| key | type | default | valid values | meaning |", "|---|---|---|---|---|"]
    assert "| `name` | str \\| null | `null` |  |" in table[2]
    assert all(row.replace("\\|", "").count("|") == 6 for row in table)  # five cells: six bars once \| is removed
