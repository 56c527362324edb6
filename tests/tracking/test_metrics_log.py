"""gan/tracking/metrics_file.py: metrics.jsonl and summary.json are strict JSON, a divergence included."""

from __future__ import annotations

import json
import math

from conftest import TINY
from gan.files.atomic import json_safe, write_json_atomic
from gan.tracking.metrics_file import read_metrics
from gan.train.launch import main_train


def _strict(text: str):
    """json.loads that rejects NaN / Infinity, as jq, JavaScript and strict pandas engines do."""
    def refuse(name):
        raise ValueError(f"bare {name} is not JSON")
    return json.loads(text, parse_constant=refuse)


def test_json_safe_and_atomic_write_turn_non_finite_into_null(tmp_path):
    obj = {"a": math.nan, "b": [1.0, math.inf], "c": {"d": -math.inf, "e": 2}}
    assert json_safe(obj) == {"a": None, "b": [1.0, None], "c": {"d": None, "e": 2}}
    write_json_atomic(tmp_path / "x.json", obj)
    assert _strict((tmp_path / "x.json").read_text()) == json_safe(obj)


def test_divergence_writes_null_in_metrics_jsonl_and_says_why(tmp_path):
    run_dir = tmp_path / "run"
    assert main_train(None, TINY + ["train.steps=8", "train.lr_g=1e30"], str(run_dir), None) == 1  # diverged
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    rows = [_strict(line) for line in lines]  # every line parses strictly
    last = rows[-1]
    bad = sorted(k for k, v in last.items() if v is None)
    assert bad and all(k.startswith(("loss/", "D/")) for k in bad)
    summary = _strict((run_dir / "summary.json").read_text())
    assert summary["status"] == "diverged"
    assert summary["nonfinite"] == {k: last["step"] for k in bad}  # the keys that are null, from that step
    back = read_metrics(run_dir)[-1]  # Python readers get NaN back
    assert all(math.isnan(back[k]) for k in bad)
