"""summary.json has one owner (gan/tracking/summary_file.py): its writer, its reader, and a run's status."""

from __future__ import annotations

import ast
import json

from conftest import REPO
from gan.files.layout import RunDir
from gan.tracking import summary_file as sf

# the one module that reads (and, but for metrics.jsonl's appending tracker, writes) each run file, by RunDir attribute
OWNERS = {"summary": "gan/tracking/summary_file.py", "config": "gan/config/load.py",
          "metrics": "gan/tracking/metrics_file.py"}
FILE_CALLS = {"read_text", "read_bytes", "open", "write_text", "write_bytes"}
WRITERS = {"open", "write_json_atomic", "write_text_atomic", "write_atomic"}


def _record(status: str = "completed") -> dict:
    return sf.end_record(status=status, step=40, name="r", wall_time_s=2.5, config={"train": {"steps": 40}},
                         final={"quality/fcd": 3.0}, mean={"probe/D/dead_frac": 0.25}, quality_ref={},
                         wandb_run_id=None, provenance={"code_version": "abc"}, dataset={"train_images": 60},
                         classifier={"hash": "f00"})


def test_written_and_read_back_in_the_order_summary_json_has_always_had(tmp_path):
    sf.write_summary(tmp_path, _record())
    back = json.loads(RunDir(tmp_path).summary.read_text())
    assert list(back) == ["status", "step", "name", "wall_time_s", "config", "final", "mean", "quality_ref",
                          "wandb_run_id", "provenance", "dataset", "classifier"]
    assert sf.read_summary(tmp_path) == back and back["final"] == {"quality/fcd": 3.0}
    assert sf.summary_columns(tmp_path) == {"step": 40, "wall_time_s": 2.5, "final/quality/fcd": 3.0,
                                            "mean/probe/D/dead_frac": 0.25, "classifier/hash": "f00",
                                            "provenance/code_version": "abc", "dataset/train_images": 60}


def test_a_missing_or_damaged_summary_reads_as_empty(tmp_path):
    assert sf.read_summary(tmp_path) == {} and sf.summary_columns(tmp_path) == {}
    RunDir(tmp_path).summary.write_text('{"status": "compl')  # torn by hand: the writer is atomic
    assert sf.read_summary(tmp_path) == {} and sf.run_status(tmp_path) == "new"
    assert sf.summary_columns(tmp_path) == {"step": None, "wall_time_s": None}
    RunDir(tmp_path).summary.write_text("[1, 2]")
    assert sf.read_summary(tmp_path) == {}


def test_a_runs_status_is_decided_from_its_summary_and_its_checkpoints(tmp_path):
    run = RunDir(tmp_path)
    assert sf.run_status(tmp_path) == "new" and not sf.is_finished(tmp_path)
    sf.write_summary(tmp_path, _record("interrupted"))  # a second Ctrl-C before the first checkpoint
    assert sf.run_status(tmp_path) == "new" and sf.stopped_before_first_checkpoint(tmp_path)
    run.checkpoints.mkdir()
    run.ckpt_prev.write_bytes(b"x")  # prev.pt alone still resumes (last.pt damaged and set aside)
    assert sf.run_status(tmp_path) == "interrupted" and not sf.stopped_before_first_checkpoint(tmp_path)
    for status in ("completed", "diverged"):
        sf.write_summary(tmp_path, _record(status))
        assert sf.run_status(tmp_path) == status and sf.is_finished(tmp_path)


def _hand_reads(path, attr: str) -> list[str]:
    """Calls that read or write RUN/<attr> by hand: RunDir(d).<attr>.read_text(), open(x.<attr>), ..."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        on_file = isinstance(f, ast.Attribute) and f.attr in FILE_CALLS and \
            isinstance(f.value, ast.Attribute) and f.value.attr == attr
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        into = name in WRITERS and node.args and isinstance(node.args[0], ast.Attribute) and node.args[0].attr == attr
        if on_file or into:
            found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_no_module_but_its_owner_reads_a_run_file_by_hand():
    for attr, owner in OWNERS.items():
        found = [hit for p in sorted((REPO / "gan").rglob("*.py")) if p.relative_to(REPO).as_posix() != owner
                 for hit in _hand_reads(p, attr)]
        assert found == [], f"RUN/{attr} read or written outside {owner}"
