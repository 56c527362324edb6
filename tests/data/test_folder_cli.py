"""Your own images through the tool: `gan data folder`, training and quality on a folder, bad inputs (exit 2,
one sentence), data.train_size on folders, and the class metrics that only a classifier of real classes gives."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from builders_data import N, write_images
from conftest import TINY
from gan import cli
from gan.config.load import load_config
from gan.data import dataset, folder
from gan.data.training_set import load_training_set
from gan.measure import quality
from gan.measure import rotation_features as rf


@pytest.fixture(autouse=True)
def _small(monkeypatch):
    monkeypatch.setattr(folder, "MIN_IMAGES", 40)
    monkeypatch.setattr(rf, "STEPS", 60)


def error_line(capsys) -> str:
    """The one `error: ...` line (one sentence, no line breaks) the CLI printed."""
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, errors
    return errors[0]


########################################################################################
# bad inputs: exit 2 and one sentence


def _missing(tmp_path):
    return tmp_path / "nowhere"


def _empty(tmp_path):
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


def _not_a_zip(tmp_path):
    (tmp_path / "images.zip").write_text("this is not a zip")
    return tmp_path / "images.zip"


def _too_few(tmp_path):
    return write_images(tmp_path / "few", n=10)


def _too_corrupt(tmp_path):
    return write_images(tmp_path / "bad", n=N, corrupt=8)  # 8 of 56 files: 14% > 10%


@pytest.mark.parametrize("make, says", [(_missing, "does not exist"), (_empty, "is empty"),
                                        (_not_a_zip, "is not a readable zip file"),
                                        (_too_few, "at least 40 are needed"),
                                        (_too_corrupt, "are corrupt or unreadable, more than 10%")])
def test_bad_input_is_one_sentence_and_exit_2(tmp_path, capsys, make, says):
    root = make(tmp_path)
    assert cli.main(["data", "folder", "--root", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and says in err[0], err  # the refusal, alone
    assert cli.main(["train", *TINY, "data.name=folder", f"data.root={root}", "--out", str(tmp_path / "r")]) == 2
    assert says in error_line(capsys)
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_gan_data_folder_without_root_and_builtin_channels(capsys):
    assert cli.main(["data", "folder"]) == 2 and "needs --root" in error_line(capsys)
    with pytest.raises(Exception, match="does not apply to 'fake'"):
        dataset.channels(load_config(None, ["data.name=fake", "data.channels=3"]).data)


########################################################################################
# preparing, training and measuring


def test_gan_data_folder_prints_classes_size_channels_and_skipped(tmp_path, capsys):
    root = write_images(tmp_path / "pets", labelled=True)
    (root / "a" / "broken.png").write_bytes(b"not an image")
    (root / "notes.txt").write_text("ignored")
    assert cli.main(["data", "folder", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "48 images" in out and "32x32, 1 channels" in out and "a: 24" in out and "b: 24" in out
    assert "skipped 1 unreadable files: a/broken.png" in out and "ignored 1 files" in out
    assert "quality: a classifier of its 2 classes (trained on the class subfolders); not trained yet: the first " \
        "`gan train` or `gan study` trains it once, 100 steps, about " in out  # 100 epochs of 24 images in one batch
    assert re.search(r"min here \(a step measured now: [0-9.e-]+ s on \d+ threads?\)", out)


def test_gan_data_folder_says_when_its_feature_network_is_cached_or_remembered_as_failed(tmp_path, capsys):
    root = write_images(tmp_path / "flat")  # no class subfolders: rotation features
    assert cli.main(["data", "folder", "--root", str(root)]) == 0
    assert "quality: rotation features (a network trained on the images alone to tell how each was turned: no " \
           "class subfolders); not trained yet: the first `gan train` or `gan study` trains it once, 60 steps" \
        in capsys.readouterr().out
    cfg = load_config(None, ["data.name=folder", f"data.root={root}"])
    key = dataset.data_key(cfg.data)
    path = rf.cache_path_for(dataset.cache_root(cfg.data), key)
    train, test = dataset.load_split(cfg.data, train=True), dataset.load_split(cfg.data, train=False)
    ranking = {"real train images": 0.1, "blurred (sigma 1)": 5.0, "blurred (sigma 2)": 3.0, "uniform noise": 90.0}
    rf.remember_failure(path, rf.identity(train.images, test.images, key, rf.STEPS), ranking)
    assert cli.main(["data", "folder", "--root", str(root)]) == 0
    assert "it FAILED its sanity check when it was made (" in capsys.readouterr().out
    assert cli.main(["train", *TINY, "data.name=folder", f"data.root={root}", "eval.enabled=true",
                     "--out", str(tmp_path / "r")]) == 2  # and training refuses before training the network
    assert "failed its sanity check when it was made" in error_line(capsys)
    rf.failure_path(path).unlink()
    rf.load_rotation_features(train.images, test.images, path, data_key=key, steps=rf.STEPS)
    assert cli.main(["data", "folder", "--root", str(root)]) == 0
    assert f"already trained and cached ({path})" in capsys.readouterr().out


def test_channels_come_from_the_data(tmp_path):
    root = write_images(tmp_path / "grey")
    cfg = load_config(None, ["data.name=folder", f"data.root={root}"]).data
    assert dataset.channels(cfg) == 1 and dataset.num_classes(cfg) == 0
    rgb = load_config(None, ["data.name=folder", f"data.root={root}", "data.channels=3"]).data
    assert dataset.channels(rgb) == 3 and dataset.load_split(rgb, train=True).images.shape[1:] == (3, 32, 32)


def test_a_folder_is_listed_once_per_process_until_it_changes(tmp_path, monkeypatch):
    root = write_images(tmp_path / "imgs")
    calls = []
    real = folder.load_folder
    monkeypatch.setattr(folder, "load_folder", lambda *a, **k: calls.append(a) or real(*a, **k))
    cfg = load_config(None, ["data.name=folder", f"data.root={root}"]).data
    dataset.channels(cfg), dataset.num_classes(cfg), dataset.data_key(cfg), dataset.load_split(cfg, train=False)
    assert len(calls) == 1  # four questions, one listing of the folder
    write_images(tmp_path / "more", n=2)
    (tmp_path / "more" / "img000.png").rename(root / "extra.png")  # one more image: the folder's mtime moves
    assert len(dataset.load_split(cfg, train=True)) + len(dataset.load_split(cfg, train=False)) == N + 1
    assert len(calls) == 2  # prepared again, once


def test_train_size_on_folders(tmp_path):
    flat = write_images(tmp_path / "flat")
    cfg = load_config(None, ["data.name=folder", f"data.root={flat}", "data.train_size=16"]).data
    a, rec_a = load_training_set(cfg, 8)
    b, rec_b = load_training_set(cfg, 8)
    assert len(a) == 16 and rec_a == rec_b and torch.equal(a.images, b.images)  # fixed, seeded
    with pytest.raises(Exception, match="more than the 24 training images"):
        load_training_set(load_config(None, ["data.name=folder", f"data.root={flat}", "data.train_size=99"]).data, 8)
    labelled = write_images(tmp_path / "lab", labelled=True)
    s, _ = load_training_set(load_config(None, ["data.name=folder", f"data.root={labelled}",
                                                "data.train_size=16"]).data, 8)
    assert torch.bincount(s.labels).tolist() == [8, 8]  # stratified


def test_unlabelled_folder_trains_with_rotation_features_and_no_class_metrics(tmp_path):
    root = write_images(tmp_path / "flat")
    out = tmp_path / "run"
    code = cli.main(["train", *TINY, "data.name=folder", f"data.root={root}", "train.steps=4",
                     "eval.enabled=true", "eval.n_samples=16", "--out", str(out)])
    assert code == 0
    final = json.loads((out / "summary.json").read_text())["final"]
    assert "quality/fcd" in final and "quality/kid" in final and "quality/coverage" in final
    assert not {"quality/is", "quality/modes_covered", "quality/class_kl"} & set(final)  # rotations are no classes
    assert any(p.name.startswith("rotation-folder-") for p in Path(tmp_path / "gan_cache").iterdir())


def test_labelled_folder_uses_a_checked_classifier_with_class_metrics(tmp_path):
    root = write_images(tmp_path / "lab", labelled=True)
    cfg = load_config(None, [*TINY, "data.name=folder", f"data.root={root}", "eval.n_samples=16"])
    ev = quality.Evaluator(cfg)
    sanity = ev.classifier_meta["sanity"]  # checked: real < blurred < more blurred < noise
    assert ev.kind == "classifier" and ev.classes and list(sanity.values()) == sorted(sanity.values())
    flat = load_config(None, [*TINY, "data.name=folder", f"data.root={write_images(tmp_path / 'flat')}",
                              "eval.features=classifier"])
    with pytest.raises(Exception, match="needs labelled images"):
        quality.Evaluator(flat)


def test_quality_metrics_without_class_logits_leave_class_metrics_out():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(32, 8, generator=g), torch.randn(32, 8, generator=g)
    with pytest.warns(UserWarning, match="biased"):
        both = quality.quality_metrics(real, fake, torch.randn(32, 4, generator=g))
        none = quality.quality_metrics(real, fake, None)
    assert {"quality/is", "quality/modes_covered", "quality/class_kl"} <= set(both)
    assert set(none) == set(both) - {"quality/is", "quality/modes_covered", "quality/class_kl"}
    assert all(none[k] == both[k] for k in none)


def test_inception_weights_that_are_not_a_file_are_refused(tmp_path):
    with pytest.raises(Exception, match="is not a file"):
        quality.load_inception("cpu", str(tmp_path / "missing.pth"))


@pytest.mark.slow
def test_inception_loads_offline_from_a_local_weights_file(tmp_path, monkeypatch):
    """eval.inception_weights: torchmetrics / torch-fidelity read a local file and never the network (random
    weights here, saved in the layout of torch-fidelity's FID weights)."""
    pytest.importorskip("torch_fidelity")
    import torch_fidelity.feature_extractor_inceptionv3 as fe
    from torchmetrics.image.fid import NoTrainInceptionV3

    with monkeypatch.context() as m:  # build once without weights, to have a state dict of the right shapes
        m.setattr(fe, "load_state_dict_from_url", lambda *a, **k: {})
        m.setattr(torch.nn.Module, "load_state_dict", lambda self, *a, **k: None)
        state = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"]).state_dict()
    path = tmp_path / quality.INCEPTION_FILE
    torch.save(state, path)
    monkeypatch.setattr(fe, "load_state_dict_from_url", lambda *a, **k: pytest.fail("tried to download"))
    net = quality.load_inception("cpu", str(path))
    assert net(torch.zeros(2, 3, 32, 32, dtype=torch.uint8)).shape == (2, 2048)
    root = write_images(tmp_path / "flat")  # unlabelled: Inception alone, no class metrics
    cfg = load_config(None, [*TINY, "data.name=folder", f"data.root={root}", "eval.features=inception",
                             f"eval.inception_weights={path}", "eval.n_samples=8"])
    ev = quality.Evaluator(cfg)
    assert ev.classifier is None and ev.distance_name == "fid"
    from gan.nets.models import build_models
    with pytest.warns(UserWarning, match="biased"):
        row = ev.evaluate(build_models(cfg.model, 1, 32)[0])
    assert {"quality/fid", "quality/is", "quality/kid"} <= set(row) and "quality/modes_covered" not in row


def test_a_labelled_folder_whose_classifier_fails_its_ranking_is_refused_at_once_the_next_time(tmp_path,
                                                                                               monkeypatch):
    from gan.errors import UserError
    from gan.measure import features
    from gan.measure.classifier import build_classifier

    root = write_images(tmp_path / "pets", labelled=True)
    cfg = load_config(None, ["data.name=folder", f"data.root={root}"])
    loads = []
    monkeypatch.setattr(features, "load_classifier", lambda *a, **k: loads.append(1) or
                        (build_classifier(1, 2).eval(), {"test_acc_s": 0.1}))
    monkeypatch.setattr(rf, "sanity_distances", lambda *a, **k: {"real train images": 0.1, "blurred (sigma 1)": 5.0,
                                                                 "blurred (sigma 2)": 3.0, "uniform noise": 90.0})
    with pytest.raises(UserError, match="fails the sanity check"):
        features.load_features(cfg)
    with pytest.raises(UserError) as err:
        features.load_features(cfg)
    assert loads == [1]  # the rerun loads (or trains) nothing
    assert f"the classifier of the classes of '{root}' failed its sanity check when it was made (" in str(err.value)
    assert "blurred (sigma 2) 3, uniform noise 90 do not rise in that order), so it is not trained again; add images " \
           "to each class, or use eval.features=rotation" in str(err.value)
