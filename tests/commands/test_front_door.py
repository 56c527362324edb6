"""`gan --help`, `gan config` and a mistyped command answer without importing torch (a light front door: ~0.2 s,
not ~3 s, or 13 s on a busy machine)."""

import subprocess
import sys

import pytest

from conftest import HANG_S, REPO

PROBE = """
import sys
from gan.cli import main
try:
    code = main({args!r})
except SystemExit as e:
    code = e.code
print("torch imported:", "torch" in sys.modules, "exit:", code)
"""


@pytest.mark.parametrize("args", [["--help"], ["config"], ["config", "model.d_act"], ["train", "--help"]])
def test_help_and_config_import_no_torch(args):
    out = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], cwd=REPO, capture_output=True, text=True,
                         timeout=HANG_S)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] in ("torch imported: False exit: 0", "torch imported: False exit: None")


@pytest.mark.parametrize("args", [["data", "folder", "--root", "nowhere/at/all"], ["data", "folder", "--root", "x",
                                  "--image-size", "48"], ["train", "configs/fake.yaml", "train.stepz=3"],
                                  ["train", "configs/folder.yaml", "data.root=nowhere/at/all"],
                                  ["study", "configs/study/compare.yaml", "data.root=nowhere/at/all"]])
def test_a_mistake_is_refused_before_torch_loads(args):
    # importing torch takes seconds on a busy machine (13 s at load 10 here): a typo must not wait for it
    out = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "torch imported: False exit: 2", out.stderr
    assert out.stderr.startswith("error: ") and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_a_closed_pipe_is_not_a_traceback(monkeypatch, capsys):
    # `gan config | head -1`: the reader left before gan finished writing; gan stops quietly (exit 0), no traceback
    import os

    from gan.cli import main

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone: every write to the pipe fails with EPIPE (BrokenPipeError)
    stdout = os.fdopen(write_end, "w", buffering=1)
    monkeypatch.setattr("sys.stdout", stdout)
    try:
        assert main(["config"]) == 0
    finally:
        stdout.close()
    assert capsys.readouterr().err == ""
