"""gan/measure/classifier.py: the dataset classifier (shapes, deterministic training) and its on-disk cache."""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from gan.config.datasets import BUILTIN
from gan.measure import classifier
from gan.config.schema import RunConfig
from gan.config.load import apply_overrides
from gan.data.images import ImageSet
from gan.data.builtin import load_split
from gan.errors import UserError


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
    with pytest.warns(UserWarning, match="classifier cache .* training it again"):
        _, meta = classifier.load_classifier(cfg.data)
    assert torch.load(path, weights_only=True)["meta"]["test_acc"] == meta["test_acc"]
    assert json.loads(path.with_suffix(".json").read_text())["sha256"] == meta["sha256"]


########################################################################################
# the cache proves what it is: identity + sha256 beside the weights, accuracy measured on load


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A good `fake` classifier cache (weights + identity JSON), trained once for this module."""
    cache = tmp_path_factory.mktemp("good_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GAN_CACHE_DIR", str(cache))
        net, meta = classifier.load_classifier(_cfg(tmp_path_factory.mktemp("d")).data)
    return cache, net, meta


def _seed_cache(trained, tmp_path) -> Path:
    """Copy the good pair into this test's cache dir (GAN_CACHE_DIR, conftest); returns the weights' path."""
    cache, _, _ = trained
    dst = tmp_path / "gan_cache"
    dst.mkdir(exist_ok=True)
    for name in ("classifier-fake512-32px-v1.pt", "classifier-fake512-32px-v1.json"):
        shutil.copy(cache / name, dst / name)
    return dst / "classifier-fake512-32px-v1.pt"


def _count_training(monkeypatch, trained) -> list:
    """Replace training by a call counter returning the good net (so a retrain costs nothing)."""
    calls = []

    def fake_training(train, test, epochs, device="cpu", **kwargs):
        calls.append(epochs)
        return copy.deepcopy(trained[1]), {"test_acc": 1.0, "train_time_s": 0.0, "epochs": epochs}

    monkeypatch.setattr(classifier, "train_classifier", fake_training)
    return calls


def _random_weights(seed: int = 7) -> dict:
    torch.manual_seed(seed)
    return classifier.build_classifier(1).state_dict()


def test_good_cache_is_used_and_its_accuracy_measured_not_read(trained, tmp_path, monkeypatch):
    path = _seed_cache(trained, tmp_path)
    record = json.loads(path.with_suffix(".json").read_text())
    record["test_acc"] = 0.123  # what the file claims is not what is reported
    path.with_suffix(".json").write_text(json.dumps(record))
    calls = _count_training(monkeypatch, trained)
    net, meta = classifier.load_classifier(_cfg(tmp_path).data)
    assert calls == []
    assert meta["sha256"] == trained[2]["sha256"] == classifier.state_hash(net.state_dict())
    assert meta["test_acc"] == classifier.accuracy(net, *_test_split(tmp_path)) and meta["test_acc"] >= 0.5
    assert meta["test_acc_when_trained"] == 0.123 and meta["test_acc_s"] > 0
    assert meta["n_train"] == 512 and meta["n_test"] == 128 and meta["dataset"] == "fake"


def _test_split(tmp_path):
    split = load_split(_cfg(tmp_path).data, train=False)
    return split.images, split.labels


def test_foreign_weights_without_identity_are_retrained_not_used(trained, tmp_path, monkeypatch):
    path = _seed_cache(trained, tmp_path)
    path.with_suffix(".json").unlink()
    torch.save({"state_dict": _random_weights(), "meta": trained[2]}, path)  # right shape, claims to be good
    calls = _count_training(monkeypatch, trained)
    with pytest.warns(UserWarning, match="has no identity file"):
        net, meta = classifier.load_classifier(_cfg(tmp_path).data)
    assert calls == [BUILTIN["fake"].classifier_epochs] == [8]
    assert meta["sha256"] == trained[2]["sha256"] != classifier.state_hash(_random_weights())
    assert json.loads(path.with_suffix(".json").read_text())["sha256"] == trained[2]["sha256"]


def test_random_weights_with_a_valid_identity_are_refused_by_measured_accuracy(trained, tmp_path, monkeypatch):
    path = _seed_cache(trained, tmp_path)
    weights = _random_weights()
    torch.save({"state_dict": weights, "meta": trained[2]}, path)
    record = json.loads(path.with_suffix(".json").read_text())
    record["sha256"] = classifier.state_hash(weights)  # a consistent pair: only its accuracy gives it away
    path.with_suffix(".json").write_text(json.dumps(record))
    calls = _count_training(monkeypatch, trained)
    with pytest.warns(UserWarning, match=r"reaches only 0\.\d+ test accuracy \(below 0\.50 for fake\)"):
        _, meta = classifier.load_classifier(_cfg(tmp_path).data)
    assert len(calls) == 1 and meta["sha256"] == trained[2]["sha256"]


@pytest.mark.parametrize("field,value,why", [("n_test", 999, "another n_test"), ("dataset", "mnist", "another dataset"),
                                             ("widths", [16, 32, 64], "another widths"),
                                             ("sha256", "0" * 64, "does not match the sha256")])
def test_identity_mismatch_is_retrained(trained, tmp_path, monkeypatch, field, value, why):
    path = _seed_cache(trained, tmp_path)
    record = json.loads(path.with_suffix(".json").read_text())
    (record if field == "sha256" else record["identity"])[field] = value
    path.with_suffix(".json").write_text(json.dumps(record))
    calls = _count_training(monkeypatch, trained)
    with pytest.warns(UserWarning, match=why):
        classifier.load_classifier(_cfg(tmp_path).data)
    assert len(calls) == 1


def test_a_classifier_trained_below_the_threshold_is_refused(tmp_path, monkeypatch):
    monkeypatch.setitem(BUILTIN, "fake", replace(BUILTIN["fake"], min_test_acc=1.01, classifier_epochs=1))
    with pytest.raises(UserError, match=r"reached only .* test accuracy \(below 1\.01\)"):
        classifier.load_classifier(_cfg(tmp_path).data)
    assert sorted(p.name for p in (tmp_path / "gan_cache").iterdir()) == ["classifier-fake512-32px-v1.pt.lock"]


def test_ctrl_c_while_training_leaves_no_cache_and_says_what_to_run(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(classifier, "train_classifier", interrupted)
    with pytest.raises(classifier.Interrupted, match="rerun the same command"):
        classifier.load_classifier(_cfg(tmp_path).data)
    assert sorted(p.name for p in (tmp_path / "gan_cache").iterdir()) == ["classifier-fake512-32px-v1.pt.lock"]


def test_ctrl_c_while_writing_the_cache_leaves_nothing_usable(trained, tmp_path, monkeypatch):
    _count_training(monkeypatch, trained)
    real_save = torch.save

    def save_then_stop(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)  # the temp file is complete ...
        raise KeyboardInterrupt  # ... and Ctrl-C lands before the renames

    monkeypatch.setattr(classifier.torch, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        classifier.load_classifier(_cfg(tmp_path).data)
    assert sorted(p.name for p in (tmp_path / "gan_cache").iterdir()) == ["classifier-fake512-32px-v1.pt.lock"]


def test_ctrl_c_during_the_classifier_exits_130_with_the_next_step(tmp_path, monkeypatch, capsys):
    from conftest import TINY
    from gan import cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(classifier, "train_classifier", interrupted)
    code = cli.main(["train", *TINY, f"data.root={tmp_path / 'data'}", "eval.enabled=true", "train.steps=2",
                     "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 130
    assert err.strip().splitlines()[-1] == (
        "interrupted: stopped while training the fake quality classifier (nothing was cached); "
        "rerun the same command: the classifier is trained again")
    assert not (tmp_path / "run" / "checkpoints").exists()  # so the same command starts the run afresh


def test_cifar10_path_trains_an_rgb_classifier_keyed_by_size(tmp_path, monkeypatch):
    g = torch.Generator().manual_seed(0)
    tiny = ImageSet(torch.randint(0, 256, (16, 3, 64, 64), dtype=torch.uint8, generator=g), torch.arange(16) % 10, 10)
    monkeypatch.setattr(classifier, "load_split", lambda cfg, train, device="cpu": tiny)
    # 1 epoch; 16 random images: chance accuracy
    monkeypatch.setitem(BUILTIN, "cifar10", replace(BUILTIN["cifar10"], classifier_epochs=1, min_test_acc=0.0))
    net, meta = classifier.load_classifier(_cfg(tmp_path, "data.name=cifar10", "data.image_size=64").data)
    assert meta["nc"] == 3 and meta["image_size"] == 64 and meta["path"].endswith("classifier-cifar10-64px-v1.pt")
    assert net(torch.zeros(2, 3, 64, 64)).shape == (2, 10)


def test_default_cache_dir_is_under_data_root(tmp_path, monkeypatch):
    monkeypatch.delenv("GAN_CACHE_DIR")
    assert classifier.cache_dir(_cfg(tmp_path).data) == tmp_path / "data" / ".gan_cache"


########################################################################################
# the shipped classifiers (results/answer/classifier_cache): used when the user's cache has none, never trusted blindly


def _ship(trained, tmp_path, monkeypatch) -> Path:
    """The good `fake` pair as a shipped folder (GAN_SHIPPED_CACHE); the test's own cache stays empty."""
    cache, _, _ = trained
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    for name in ("classifier-fake512-32px-v1.pt", "classifier-fake512-32px-v1.json"):
        shutil.copy(cache / name, shipped / name)
    monkeypatch.setenv("GAN_SHIPPED_CACHE", str(shipped))
    return shipped


def test_a_shipped_classifier_is_checked_and_copied_into_the_cache_instead_of_trained(trained, tmp_path, monkeypatch,
                                                                                      capsys):
    shipped = _ship(trained, tmp_path, monkeypatch)
    calls = _count_training(monkeypatch, trained)
    net, meta = classifier.load_classifier(_cfg(tmp_path).data)
    assert calls == [] and meta["sha256"] == trained[2]["sha256"] and meta["test_acc"] >= 0.5
    cached = tmp_path / "gan_cache" / "classifier-fake512-32px-v1.pt"
    assert cached.read_bytes() == (shipped / cached.name).read_bytes()
    assert cached.with_suffix(".json").read_bytes() == (shipped / "classifier-fake512-32px-v1.json").read_bytes()
    assert f"quality classifier: the shipped one ({shipped / cached.name}, sha256 {meta['sha256'][:12]}" \
        in capsys.readouterr().err
    (shipped / cached.name).unlink()  # from now on the user's own cache answers
    assert classifier.load_classifier(_cfg(tmp_path).data)[1]["sha256"] == meta["sha256"] and calls == []


def test_a_changed_shipped_classifier_is_refused_and_one_is_trained(trained, tmp_path, monkeypatch):
    shipped = _ship(trained, tmp_path, monkeypatch)
    torch.save({"state_dict": _random_weights(), "meta": trained[2]}, shipped / "classifier-fake512-32px-v1.pt")
    calls = _count_training(monkeypatch, trained)
    with pytest.warns(UserWarning, match="shipped classifier .* does not match the sha256 .* training one instead"):
        classifier.load_classifier(_cfg(tmp_path).data)
    assert len(calls) == 1
