"""gan/measure/rotation_features.py: rotation-prediction features, their sanity ranking and their cache, on tiny images."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gan.measure import rotation_features as rf
from gan.measure.classifier import build_classifier, state_hash
from gan.data.images import to_float
from gan.errors import UserError

STEPS = 10  # enough for 100% rotation accuracy on the images below; ~3 s on one loaded CPU thread


def strokes(n: int, seed: int, nc: int = 1, size: int = 32) -> torch.Tensor:
    """uint8 (n, nc, S, S): an upright "L" (bar and a foot to the right) at a random place on a gradient."""
    g = np.random.default_rng(seed)
    yy = np.mgrid[0:size, 0:size][0]
    out = np.empty((n, nc, size, size), np.uint8)
    for i in range(n):
        img = 40 + 60 * yy / size + g.normal(0, 8, (size, size))
        x0, y0, h, w = g.integers(4, 14), g.integers(3, 10), g.integers(12, 18), g.integers(6, 12)
        img[y0:y0 + h, x0:x0 + 3] = 230
        img[y0 + h - 3:y0 + h, x0:x0 + w] = 230
        out[i] = np.clip(img, 0, 255).astype(np.uint8)
    return torch.from_numpy(out)


@pytest.fixture(scope="module")
def data():
    return strokes(256, seed=0), strokes(96, seed=1)


@pytest.fixture(scope="module")
def built(data, tmp_path_factory):
    """One network trained for real and cached (shared: training is the slow part)."""
    torch.set_num_threads(1)
    path = rf.cache_path_for(tmp_path_factory.mktemp("rot"), "0123456789abcdef0123")
    net, meta = rf.load_rotation_features(*data, path, steps=STEPS, data_key="0123456789abcdef0123")
    return path, net, meta


def cheap(monkeypatch, distances=None):
    """Replace training by an untrained network and the sanity distances by given ones (cache tests)."""
    calls = []
    monkeypatch.setattr(rf, "train_rotation_net", lambda images, *a, **k: calls.append(1) or
                        build_classifier(images.shape[1], num_classes=4).eval())
    monkeypatch.setattr(rf, "sanity_distances", lambda *a, **k: distances or {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0})
    monkeypatch.setattr(rf, "rotation_accuracy", lambda *a, **k: 1.0)  # no weak-network warning
    return calls


def test_rotations_turn_each_image_k_quarter_turns():
    x = torch.zeros(2, 1, 4, 4)
    x[:, 0, 0, 1] = 1.0  # a mark in the top row
    r, y = rf.rotations(x)
    assert r.shape == (8, 1, 4, 4) and y.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert torch.equal(r[2:4], torch.rot90(x, 1, (2, 3))) and r[2, 0, 2, 0] == 1.0  # counter-clockwise


def test_sanity_ranking_holds_and_the_network_is_cached(built, data):
    path, net, meta = built
    values = list(meta["sanity"].values())
    assert list(meta["sanity"]) == ["real train images", "blurred (sigma 1)", "blurred (sigma 2)", "uniform noise"]
    assert values == sorted(values) and meta["rotation_acc"] > 0.9
    assert path.is_file() and meta["sha256"] == state_hash(net.state_dict()) and meta["path"] == str(path)
    assert meta["identity"]["data"] == "0123456789abcdef0123" and meta["identity"]["steps"] == STEPS
    f, logits = net.fused().features_and_logits(to_float(data[1][:5]))  # what gan/measure/quality.py's Evaluator calls
    assert f.shape == (5, net.num_features) == (5, 128) and logits.shape == (5, 4)


def test_the_cache_is_reused_without_training(built, data, monkeypatch):
    path, net, meta = built
    calls = cheap(monkeypatch)
    again, meta2 = rf.load_rotation_features(*data, path, steps=STEPS, data_key="0123456789abcdef0123")
    assert calls == [] and meta2["sha256"] == meta["sha256"]
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))


def test_other_data_or_a_damaged_file_is_trained_again(data, tmp_path, monkeypatch):
    path = tmp_path / "rot.pt"
    calls = cheap(monkeypatch)
    rf.load_rotation_features(*data, path)  # no data_key: a fingerprint of the images identifies them
    rf.load_rotation_features(*data, path)
    assert len(calls) == 1
    with pytest.warns(UserWarning, match="was made for another data"):
        rf.load_rotation_features(data[0].flip(0), data[1], path)
    path.write_bytes(b"junk")
    with pytest.warns(UserWarning, match="is unreadable"):
        rf.load_rotation_features(*data, path)
    assert len(calls) == 3


def test_a_network_that_fails_the_ranking_is_refused_and_not_cached(data, tmp_path, monkeypatch):
    path = tmp_path / "rot.pt"
    cheap(monkeypatch, {"real train images": 0.1, "blurred (sigma 1)": 5.0, "blurred (sigma 2)": 3.0,
                        "uniform noise": 90.0})
    with pytest.raises(UserError, match=r"fails the sanity check .*blurred \(sigma 2\) 3, .* do not rise") as err:
        rf.load_rotation_features(*data, path)
    assert "\n" not in str(err.value) and not path.exists()


def test_a_failed_network_is_remembered_and_refused_at_once_for_the_same_data(data, tmp_path, monkeypatch):
    path = tmp_path / "rot.pt"
    ranking = {"real train images": 0.1, "blurred (sigma 1)": 5.0, "blurred (sigma 2)": 3.0, "uniform noise": 90.0}
    calls = cheap(monkeypatch, ranking)
    with pytest.raises(UserError, match="fails the sanity check"):
        rf.load_rotation_features(*data, path)
    record = json.loads(rf.failure_path(path).read_text())
    assert rf.failure_path(path).name == "rot.failed.json" and record["sanity"] == ranking
    assert record["identity"] == rf.identity(*data, None, rf.STEPS)
    with pytest.raises(UserError) as err:  # the rerun: refused before any training, saying the ranking and the fix
        rf.load_rotation_features(*data, path)
    assert calls == [1]
    assert str(err.value).startswith(f"the rotation feature network failed its sanity check when it was made "
                                     f"({record['when']}: Frechet distances real train images 0.1, blurred (sigma 1) 5, "
                                     "blurred (sigma 2) 3, uniform noise 90 do not rise in that order), so it is not "
                                     "trained again; add images or use class subfolders")
    assert str(err.value).endswith(f"(or delete '{rf.failure_path(path)}' to train it again anyway)")
    with pytest.raises(UserError, match="fails the sanity check"):  # other images: a network of their own is tried
        rf.load_rotation_features(data[0].flip(0), data[1], path)
    assert calls == [1, 1]


def test_the_real_ranking_breaks_when_its_inputs_are_swapped(built, data, monkeypatch):
    _, net, _ = built
    real = rf.corruptions
    monkeypatch.setattr(rf, "corruptions", lambda x, g: dict(reversed(list(real(x, g).items()))))
    with pytest.raises(UserError, match="fails the sanity check"):
        rf.check_ranking(rf.sanity_distances(net, *data))
