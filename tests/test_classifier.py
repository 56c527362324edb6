"""gan/classifier.py: the dataset classifier (shapes, deterministic training) and its on-disk cache."""

from __future__ import annotations

import pytest
import torch

from gan import classifier
from gan.config import RunConfig, apply_overrides
from gan.data import ImageSet


def _cfg(tmp_path, *overrides: str) -> RunConfig:
    return apply_overrides(RunConfig(), [f"data.root={tmp_path / 'data'}", "data.name=fake", *overrides])


@pytest.mark.parametrize("nc,size", [(1, 32), (1, 64), (3, 32), (3, 64)])
def test_classifier_shapes_for_mnist_and_cifar(nc, size):
    net = classifier.build_classifier(nc).eval()
    f, logits = net.features_and_logits(torch.zeros(2, nc, size, size))
    assert f.shape == (2, net.num_features) and logits.shape == (2, 10)


def test_rgb_training_with_augmentation_is_deterministic_at_64px():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (64, 3, 64, 64), dtype=torch.uint8, generator=g)
    split = ImageSet(images, torch.arange(64) % 10, 10)
    state = torch.get_rng_state()
    a, info = classifier.train_classifier(split, split, epochs=1, batch_size=32)
    b, _ = classifier.train_classifier(split, split, epochs=1, batch_size=32)
    assert torch.equal(state, torch.get_rng_state())
    assert 0.0 <= info["test_acc"] <= 1.0
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_classifier_is_cached_and_reused(tmp_path, monkeypatch):
    cfg = _cfg(tmp_path)
    net, meta = classifier.load_classifier(cfg.data)
    assert (tmp_path / "gan_cache" / "classifier-fake512-32px-v1.pt").is_file()  # GAN_CACHE_DIR (conftest)
    assert 0.0 <= meta["test_acc"] <= 1.0 and meta["nc"] == 1

    def no_training(*args, **kwargs):
        raise AssertionError("the cached classifier was trained again")

    monkeypatch.setattr(classifier, "train_classifier", no_training)
    again, meta2 = classifier.load_classifier(cfg.data)
    assert meta2["test_acc"] == meta["test_acc"]
    assert all(torch.equal(x, y) for x, y in zip(net.state_dict().values(), again.state_dict().values()))


def test_unreadable_cache_is_rebuilt(tmp_path):
    cfg = _cfg(tmp_path)
    path = tmp_path / "gan_cache" / "classifier-fake512-32px-v1.pt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match="unreadable classifier cache"):
        _, meta = classifier.load_classifier(cfg.data)
    assert torch.load(path, weights_only=True)["meta"]["test_acc"] == meta["test_acc"]


def test_cifar10_path_trains_an_rgb_classifier_keyed_by_size(tmp_path, monkeypatch):
    g = torch.Generator().manual_seed(0)
    tiny = ImageSet(torch.randint(0, 256, (16, 3, 64, 64), dtype=torch.uint8, generator=g), torch.arange(16) % 10, 10)
    monkeypatch.setattr(classifier, "load_split", lambda cfg, train, device="cpu": tiny)
    monkeypatch.setitem(classifier.EPOCHS, "cifar10", 1)
    net, meta = classifier.load_classifier(_cfg(tmp_path, "data.name=cifar10", "data.image_size=64").data)
    assert meta["nc"] == 3 and meta["image_size"] == 64 and meta["path"].endswith("classifier-cifar10-64px-v1.pt")
    assert net(torch.zeros(2, 3, 64, 64)).shape == (2, 10)


def test_default_cache_dir_is_under_data_root(tmp_path, monkeypatch):
    monkeypatch.delenv("GAN_CACHE_DIR")
    assert classifier.cache_dir(_cfg(tmp_path).data) == tmp_path / "data" / ".gan_cache"
