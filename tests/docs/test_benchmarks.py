"""Every benchmark script still imports and parses its flags: a renamed name in gan/ breaks a benchmark at
import time, which no other test runs (benchmarks print numbers; their values are not asserted here)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import HANG_S, REPO

SCRIPTS = sorted(p for p in (REPO / "benchmarks").glob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_benchmark_imports_and_prints_its_help(script):
    out = subprocess.run([sys.executable, str(script), "--help"], cwd=REPO, capture_output=True, text=True,
                         timeout=HANG_S)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "usage:" in out.stdout
