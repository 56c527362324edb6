"""gan/measure/overfit.py: the over-strong-D numbers on hand-built logits, and a tiny run that logs them."""

from __future__ import annotations

import json
import math

import pytest
import torch

from gan.tracking.metrics_file import read_metrics
from gan.measure.overfit import overfit_metrics
from gan.train.launch import main_train

from conftest import TINY


def _bce_real(logits: list[float]) -> float:
    """mean over samples of -log sigmoid(l) = log(1 + exp(-l)), by hand."""
    return sum(math.log1p(math.exp(-v)) for v in logits) / len(logits)


def test_values_by_hand():
    train, held, fake = [2.0, 1.0, -1.0, 0.0], [0.0, 0.0, 0.0, 0.0], [-2.0, -2.0, -2.0, -2.0]
    m = {k.rsplit("/", 1)[1]: float(v) for k, v in overfit_metrics(*map(torch.tensor, (train, held, fake))).items()}
    assert m["r_t"] == pytest.approx((1 + 1 - 1 + 0) / 4)  # sign(0) = 0
    assert m["r_v"] == pytest.approx((0.5 - 0.0) / (0.5 - (-2.0)))  # 0.2: held-out reals a fifth of the way to fakes
    assert m["heldout_gap"] == pytest.approx(math.log(2) - _bce_real(train))
    assert m["saturated"] == 0.0  # mean sigmoid of the training reals is ~0.60


def test_saturation_needs_both_sides():
    sure_real, sure_fake = torch.full((8,), 3.0), torch.full((8,), -3.0)  # sigmoid 0.953 and 0.047
    assert float(overfit_metrics(sure_real, sure_real, sure_fake)["probe/overfit/saturated"]) == 1.0
    assert float(overfit_metrics(sure_real, sure_real, torch.full((8,), -2.0))["probe/overfit/saturated"]) == 0.0
    assert float(overfit_metrics(torch.full((8,), 2.0), sure_real, sure_fake)["probe/overfit/saturated"]) == 0.0


def test_held_out_like_training_is_zero_like_fakes_is_one():
    train, fake = torch.tensor([3.0, 1.0]), torch.tensor([-1.0, -3.0])
    assert float(overfit_metrics(train, train, fake)["probe/overfit/r_v"]) == 0.0
    assert float(overfit_metrics(train, fake, fake)["probe/overfit/r_v"]) == 1.0
    assert float(overfit_metrics(train, train, fake)["probe/overfit/heldout_gap"]) == 0.0
    assert float(overfit_metrics(train, train, fake)["probe/overfit/r_t"]) == 1.0


def test_r_v_is_nan_when_fakes_score_like_training_reals():
    same = torch.tensor([0.5, -0.5])
    assert math.isnan(float(overfit_metrics(same, torch.tensor([1.0, 1.0]), same)["probe/overfit/r_v"]))


def test_a_tiny_run_logs_them_at_probe_steps_and_their_means(tmp_path):
    run = tmp_path / "run"
    assert main_train(None, TINY + ["train.steps=4", "train.probe_every=2"], str(run), None) == 0
    rows = {r["step"]: r for r in read_metrics(run)}
    keys = [f"probe/overfit/{k}" for k in ("r_t", "r_v", "heldout_gap", "saturated")]
    for step in (2, 4):
        assert all(k in rows[step] and math.isfinite(rows[step][k]) for k in keys)
        assert -1.0 <= rows[step]["probe/overfit/r_t"] <= 1.0 and rows[step]["probe/overfit/saturated"] in (0.0, 1.0)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["mean"]["probe/overfit/saturated"] == pytest.approx(
        (rows[2]["probe/overfit/saturated"] + rows[4]["probe/overfit/saturated"]) / 2)
