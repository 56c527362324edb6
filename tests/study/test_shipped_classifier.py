"""`make demo` reuses the shipped Fashion-MNIST classifier (results/answer/classifier_cache) instead of training one:
a study on Fashion-MNIST with an empty cache trains no classifier and measures with the committed one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gan.config.datasets import BUILTIN
from gan.files.layout import SHIPPED_CACHE, StudyDir

REPO = Path(__file__).resolve().parents[2]
CLASSIFIER = "classifier-fashion_mnist-32px-v1"
SHA = "d8732d9d23d1e74ea3ca619d6dcd5f0ab3fdaf12054582eaf0464f5334d57e81"  # results/answer/classifier_cache's
FLOOR = "reference-fashion_mnist-32px-v1-classifier-n2048-cd8732d9d23d1.json"


@pytest.mark.slow
@pytest.mark.skipif(not (Path(BUILTIN["fashion_mnist"].debian[1]) / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
def test_a_fashion_mnist_study_with_an_empty_cache_trains_no_classifier(tmp_path):
    study = tmp_path / "s.yaml"
    study.write_text(f"""name: shipped
base: {REPO / 'configs/fashion_mnist.yaml'}
overrides: {{model.ngf: 8, model.ndf: 8, train.batch_size: 16, train.steps: 4, train.log_every: 2,
            train.probe_every: 0, train.sample_every: 4, train.ckpt_every: 4, eval.every: 4, eval.n_samples: 2048,
            track.wandb: disabled}}
axes:
  model.d_act: [relu, "leaky_relu:0.2"]
  train.seed: [0]
""")
    cache, out = tmp_path / "cache", StudyDir(tmp_path / "study")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "GAN_CACHE_DIR": str(cache)}
    env.pop("GAN_SHIPPED_CACHE", None)  # the repository's own shipped folder
    proc = subprocess.run([sys.executable, "-m", "gan", "study", str(study), f"data.root={tmp_path / 'data'}",
                           "--out", str(out.path)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, proc.stderr[-2000:]
    logs = proc.stderr + "".join(out.run(n).train_log.read_text() for n in ("d_act-relu__seed-0",
                                                                             "d_act-leaky_relu:0.2__seed-0"))
    assert "(once, cached)" not in logs  # the bar of a classifier being trained
    assert f"quality classifier: the shipped one ({SHIPPED_CACHE / (CLASSIFIER + '.pt')}, sha256 {SHA[:12]}" \
        in proc.stderr  # once, while the study prepares its caches; the runs then find it in the cache
    assert (cache / f"{CLASSIFIER}.pt").read_bytes() == (SHIPPED_CACHE / f"{CLASSIFIER}.pt").read_bytes()
    floor = json.loads((SHIPPED_CACHE / FLOOR).read_text())
    assert json.loads((cache / FLOOR).read_text()) == floor
    for name in ("d_act-relu__seed-0", "d_act-leaky_relu:0.2__seed-0"):
        summary = json.loads(out.run(name).summary.read_text())
        assert summary["status"] == "completed" and summary["classifier"]["hash"] == f"sha256:{SHA}"
        assert summary["quality_ref"]["quality/ref/fcd"] == floor["quality/ref/fcd"]
