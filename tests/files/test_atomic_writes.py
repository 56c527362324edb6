"""Every file one stage hands the next is written whole or not at all (gan/files/atomic.py): a write that fails
midway (a full disk, a kill) leaves the previous file as it was, and no module writes such a file by hand."""

from __future__ import annotations

import ast
import json
import os
import tempfile
import types
import warnings
from pathlib import Path

import pytest
import torch

from conftest import REPO
from gan.files import atomic
from gan.files.layout import RunDir, StudyDir

# Plain writes that are not a stage's output, or that are made whole another way: (module, call) -> why.
NOT_HANDED_ON = {
    ("gan/files/lock.py", "open"): "the lock file itself (empty; flock)",
    ("gan/data/folder.py", "save"): "into a temp folder that is renamed whole into the cache",
    ("gan/data/folder.py", "write_text"): "into a temp folder that is renamed whole into the cache",
    ("gan/data/recipes/manifest.py", "save"): "into a temp folder that is renamed whole (gan data clipart/letters)",
    ("gan/measure/rotation_features.py", "save"): "its cache file: a temp file renamed over the target by hand",
    ("gan/tracking/dashboard.py", "save"): "a W&B report saved on the W&B server, not a file",
}
SAVERS = {"savefig", "save_image", "save"}


def _plain_writes(path: Path) -> list[tuple[str, str, int]]:
    """(module, call, line) of each write not handed to write_atomic in a lambda: write_text / write_bytes,
    savefig / save_image / torch.save / np.save / Image.save, open(..., "w" or "x")."""
    tree = ast.parse(path.read_text())
    in_lambda = {id(n) for node in ast.walk(tree) if isinstance(node, ast.Lambda) for n in ast.walk(node.body)}
    hits = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or id(node) in in_lambda:
            continue
        f = node.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        modes = [a.value for a in [*node.args[1:2], *(k.value for k in node.keywords if k.arg == "mode")]
                 if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        writes_anew = name == "open" and any(c in m for m in modes for c in "wx")
        if name in ("write_text", "write_bytes") or name in SAVERS or writes_anew:
            hits.append((path.relative_to(REPO).as_posix(), name, node.lineno))
    return hits


def test_no_module_writes_a_file_by_hand_but_the_listed_ones():
    found = [hit for p in sorted((REPO / "gan").rglob("*.py")) for hit in _plain_writes(p)
             if hit[:2] not in NOT_HANDED_ON]
    assert found == [], "write these through gan/files/atomic.py (or list why not in NOT_HANDED_ON)"


class _TornFile:
    """The temp file of one write: takes half of the first chunk, then fails as a full disk does."""

    def __init__(self, f):
        self._f = f

    def write(self, data):
        self._f.write(bytes(data[: max(1, len(data) // 2)]))
        self._f.flush()
        raise OSError(28, "No space left on device")

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


def _tear(monkeypatch, name: str) -> None:
    """The next atomic write of a file called `name` fails midway through its bytes; other files are written."""
    torn: set[int] = set()

    def mkstemp(**kw):
        fd, tmp = tempfile.mkstemp(**kw)
        if Path(tmp).name.startswith(f".{name}."):
            torn.add(fd)
        return fd, tmp

    def fdopen(fd, *a, **kw):
        f = os.fdopen(fd, *a, **kw)
        return _TornFile(f) if fd in torn else f

    monkeypatch.setattr(atomic, "tempfile", types.SimpleNamespace(mkstemp=mkstemp))
    monkeypatch.setattr(atomic, "os", types.SimpleNamespace(fdopen=fdopen, fsync=os.fsync, replace=os.replace))


def _intact(path: Path, before: bytes) -> None:
    assert path.read_bytes() == before  # the previous file, whole
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []  # no temp file left behind


def test_the_torn_file_would_tear_a_plain_write(tmp_path):
    """What the tests below plant: written by hand, the same failure leaves half a file under the real name."""
    path = tmp_path / "results.csv"
    path.write_text("old\n")
    with open(path, "wb") as f, pytest.raises(OSError):
        _TornFile(f).write(b"new contents\n")
    assert path.read_bytes() == b"new co"


def test_results_csv_survives_a_collect_that_fails_midway(tmp_path, monkeypatch):
    from gan.study.collect import collect_results
    from gan.study.spec import PlannedRun, StudySpec

    run = StudyDir(tmp_path).run("a")
    run.path.mkdir(parents=True)
    run.metrics.write_text(json.dumps({"step": 2, "quality/fcd": 3.0}) + "\n")
    run.summary.write_text(json.dumps({"status": "completed", "step": 2, "final": {"quality/fcd": 3.0}}))
    spec = StudySpec("t", None, {}, {"train.seed": [0]})
    path = collect_results(tmp_path, spec, [PlannedRun("a", {"train.seed": 0}, "a")])
    before = path.read_bytes()
    run.summary.write_text(json.dumps({"status": "diverged", "step": 1}))
    _tear(monkeypatch, "results.csv")
    with pytest.raises(OSError):
        collect_results(tmp_path, spec, [PlannedRun("a", {"train.seed": 0}, "a")])
    _intact(path, before)


def test_the_report_survives_a_rewrite_that_fails_midway(tmp_path, monkeypatch):
    from builders_study import make_study
    from gan.report.study_report import write_report

    study = make_study(tmp_path / "s", seeds=(0, 1, 2))
    path = StudyDir(study).report_md
    path.parent.mkdir(parents=True)
    path.write_text("# the report of the last `gan report`\n")
    _tear(monkeypatch, path.name)
    with warnings.catch_warnings(), pytest.raises(OSError):
        warnings.simplefilter("ignore")
        write_report(study)
    _intact(path, b"# the report of the last `gan report`\n")
    assert StudyDir(study).figure("samples").is_file()  # the figures before it were written


def test_packed_and_unpacked_metrics_survive_a_write_that_fails_midway(tmp_path, monkeypatch):
    from gan.study import small_files

    run = StudyDir(tmp_path).run("a")
    run.path.mkdir(parents=True)
    run.metrics.write_text("".join(json.dumps({"step": i}) + "\n" for i in range(50)))
    run.summary.write_text(json.dumps({"status": "completed"}))
    small_files.pack(tmp_path)
    gz = run.metrics_gz.read_bytes()
    os.utime(run.metrics_gz, (0, 0))  # older than metrics.jsonl: pack writes it again
    _tear(monkeypatch, "metrics.jsonl.gz")
    with pytest.raises(OSError):
        small_files.pack(tmp_path)
    _intact(run.metrics_gz, gz)
    monkeypatch.undo()
    run.metrics.unlink()
    _tear(monkeypatch, "metrics.jsonl")
    with pytest.raises(OSError):
        small_files.unpack(tmp_path)
    assert not run.metrics.exists() and [p.name for p in run.path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_sample_grid_survives_a_write_that_fails_midway(tmp_path, monkeypatch):
    from gan.nets.sampling import save_grid

    path = RunDir(tmp_path).final_samples
    save_grid(torch.zeros(4, 1, 8, 8), path, nrow=2)
    before = path.read_bytes()
    _tear(monkeypatch, "final.png")
    with pytest.raises(OSError):
        save_grid(torch.ones(4, 1, 8, 8), path, nrow=2)
    _intact(path, before)
