"""No unused import in gan/ or tests/ (ruff's F401): an import left behind by a move is an arrow in the module graph
(tests/docs/test_layering.py) that nothing uses, and it hides which module really needs which."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_no_unused_imports():
    ruff = pytest.importorskip("ruff.__main__", reason="ruff is not installed (pip install -e '.[test]' installs it): "
                                                       "unused imports are not checked")
    done = subprocess.run([ruff.find_ruff_bin(), "check", "--select", "F401", "--no-cache", "--quiet", "gan", "tests"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"unused imports (`ruff check --select F401 --fix gan tests` removes them):\n" \
                                 f"{done.stdout}{done.stderr}"
