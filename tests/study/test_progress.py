"""`gan study` shows the steps inside each running run (gan/study/progress.py), not only how many runs are done."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

from gan import cli
from gan.files.layout import RunDir
from gan.study.progress import RunBars, last_step

REPO = Path(__file__).resolve().parents[2]


def _row(step: int) -> str:
    return json.dumps({"step": step, "loss/D": 0.5, "probe/D/dead_frac": 0.0}) + "\n"


def test_the_last_step_is_the_last_complete_row_of_metrics_jsonl(tmp_path):
    run = RunDir(tmp_path / "r")
    assert last_step(run.path) is None  # no folder yet: the run is still setting up
    run.path.mkdir()
    run.metrics.write_text("")
    assert last_step(run.path) is None
    run.metrics.write_text(_row(20) + _row(40))
    assert last_step(run.path) == 40
    with open(run.metrics, "a") as f:
        f.write(_row(60)[:25])  # a row being written: not read until its newline
    assert last_step(run.path) == 40
    run.metrics.write_text(_row(20) + _row(40) + _row(60).strip())  # whole, but its newline not yet written
    assert last_step(run.path) == 40
    run.metrics.write_text("x" * 20000 + "\n" + _row(80) * 200 + _row(100))  # a long file: only its tail is read
    assert last_step(run.path) == 100


def test_each_running_run_gets_a_bar_that_moves_with_its_metrics(tmp_path):
    out = io.StringIO()
    a, b = RunDir(tmp_path / "a"), RunDir(tmp_path / "b")
    for run in (a, b):
        run.path.mkdir()
    bars = RunBars({"a": 100, "b": 100, "c": 100}, file=out)
    bars.update({"a": a.path, "b": b.path})
    assert {n: bar.n for n, (bar, _) in bars._bars.items()} == {"a": 0, "b": 0}
    a.metrics.write_text(_row(20))
    bars.update({"a": a.path, "b": b.path})
    assert bars._bars["a"][0].n == 20 and bars._bars["b"][0].n == 0
    a.metrics.write_text(_row(20) + _row(100))
    b.metrics.write_text(_row(40))
    bars.update({"b": b.path})  # a finished: its bar shows its last step, then closes; b moves
    assert list(bars._bars) == ["b"] and bars._bars["b"][0].n == 40
    bars.update({"b": b.path, "c": tmp_path / "c"})  # c takes the line a left
    assert bars._slots == {"b": 2, "c": 1}
    bars.close()
    text = out.getvalue()
    assert re.search(r"  a: 100%\|[^\n\r]*\| 100/100", text) and re.search(r"  b:  40%\|[^\n\r]*\| 40/100", text)
    assert "  c:   0%|" in text and "setting up (data, quality features)" in text


def test_a_study_runs_one_run_per_core_by_default_and_shows_a_step_bar_per_run(tmp_path, capsys):
    study = tmp_path / "s.yaml"
    study.write_text((REPO / "configs/study/tiny.yaml").read_text().replace("base: configs/fake.yaml",
                                                                           f"base: {REPO / 'configs/fake.yaml'}"))
    assert cli.main(["study", str(study), "--out", str(tmp_path / "study")]) == 0  # no --jobs
    out, err = capsys.readouterr()
    cores = os.cpu_count()
    assert f"4 to run ({cores} at a time, 1 thread each)" in out  # the README's commands use every core as written
    for name in ("d_act-relu__seed-0", "d_act-relu__seed-1", "d_act-leaky_relu:0.2__seed-0",
                 "d_act-leaky_relu:0.2__seed-1"):
        assert re.search(rf"  {re.escape(name)}: 100%\|[^\n\r]*\| 6/6 ", err), name  # tiny.yaml: 6 steps
    assert "study: 100%" in err
