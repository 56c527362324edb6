"""notebooks/activation_study.ipynb runs headless against a tiny synthetic study dir."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "activation_study.ipynb"


def _make_study():
    """tests/builders_study.py's synthetic study builder (loaded by path: works under any pytest import mode)."""
    spec = importlib.util.spec_from_file_location("_gan_builders_study", Path(__file__).parents[1] / "builders_study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_study


@pytest.mark.slow
def test_notebook_executes_on_synthetic_study(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    study = _make_study()(tmp_path / "study")
    monkeypatch.setenv("GAN_STUDY_DIR", str(study))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit the notebook without outputs"
    # run from an unrelated cwd: the notebook must depend only on GAN_STUDY_DIR
    # 900 s per cell and for the kernel's start (conftest.HANG_S): guards against a hang, not a speed requirement
    nbclient.NotebookClient(nb, timeout=900, startup_timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(str(o.get("data", {}).get("text/markdown", "")) + str(o.get("text", "")) for o in outputs)
    assert "| # | claim |" in text and "| supported (beyond the margin) |" in text
    assert "| diverged |" in text  # the failed run is listed
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 7  # every figure of the report
