"""data.train_size (a fixed class-stratified subset) and data.range ([-1, 1] or [0, 1])."""

from __future__ import annotations

import json

import pytest
import torch

from gan.config.schema import DataConfig

from gan.config.load import load_config
from gan.data.stream import BatchStream
from gan.data.training_set import content_hash, indices_hash, load_training_set, stratified_subset
from gan.data.builtin import load_split
from gan.data.images import to_float, to_measure
from gan.errors import UserError
from gan.nets.models import build_models
from gan.nets.sampling import generate
from gan.train.launch import main_train

from conftest import TINY, run_cli


def test_subset_takes_n_over_c_of_each_class_sorted_and_fixed():
    labels = torch.arange(100) % 10  # 10 images per class
    idx = stratified_subset(labels, 30, 10)
    assert idx.tolist() == sorted(idx.tolist()) and len(set(idx.tolist())) == 30
    assert torch.bincount(labels[idx], minlength=10).tolist() == [3] * 10
    assert torch.equal(idx, stratified_subset(labels, 30, 10))  # the data seed is fixed
    assert not torch.equal(idx, stratified_subset(labels, 30, 10, seed=1))
    assert not torch.equal(idx, torch.arange(30))  # a random choice, not the first images


@pytest.mark.parametrize("n,words", [(25, "not a multiple of the 10 classes"), (110, "pass at most 100"),
                                     (0, "must be positive")])
def test_bad_sizes_are_one_sentence(n, words):
    with pytest.raises(UserError, match=words):
        if n <= 0:
            load_config(None, TINY + [f"data.train_size={n}"])
        stratified_subset(torch.arange(100) % 10, n, 10)


def test_training_set_records_its_size_and_hash_and_refuses_less_than_a_batch():
    cfg = DataConfig(name="fake", fake_size=200, train_size=40)
    split, record = load_training_set(cfg, batch_size=16)
    full = load_split(cfg, train=True)
    idx = stratified_subset(full.labels, 40, 10)
    assert len(split) == 40 and torch.equal(split.images, full.images[idx])
    assert record == {"train_images": 40, "train_hash": indices_hash(idx),
                      "train_content_hash": content_hash(full.images[idx])}
    whole, whole_record = load_training_set(DataConfig(name="fake", fake_size=200), batch_size=16)
    assert torch.equal(whole.images, full.images) and whole_record["train_images"] == 200
    assert whole_record["train_hash"] != record["train_hash"]
    with pytest.raises(UserError, match="larger than the dataset"):
        load_training_set(DataConfig(name="fake", fake_size=200, train_size=10), batch_size=16)


def test_content_hash_sees_the_pixels_not_the_indices():
    images = torch.arange(2 * 1 * 4 * 4, dtype=torch.uint8).reshape(2, 1, 4, 4)
    import hashlib
    expected = hashlib.sha256(b"2x1x4x4;" + bytes(range(32))).hexdigest()[:12]  # shape, then the bytes in order
    assert content_hash(images) == "sha256:" + expected
    changed = images.clone()
    changed[1, 0, 3, 3] += 1  # one pixel of one image: same indices, other content
    assert content_hash(changed) != content_hash(images)
    assert content_hash(images.reshape(1, 2, 4, 4)) != content_hash(images)  # same bytes, another shape
    assert content_hash(images.permute(0, 1, 3, 2).contiguous().permute(0, 1, 3, 2)) == content_hash(images)


def test_every_seed_trains_on_the_same_images_and_says_so(tmp_path):
    hashes = set()
    for seed in (0, 1):
        run = tmp_path / f"s{seed}"
        assert main_train(None, TINY + ["train.steps=2", f"train.seed={seed}", "data.train_size=100"],
                          str(run), None) == 0
        summary = json.loads((run / "summary.json").read_text())
        assert summary["dataset"]["train_images"] == 100
        hashes.add((summary["dataset"]["train_hash"], summary["dataset"]["train_content_hash"]))
    assert len(hashes) == 1


def test_cli_refuses_a_bad_size_with_exit_2(tmp_path):
    done = run_cli("train", *TINY, "train.steps=2", "data.train_size=15", "--out", str(tmp_path / "r"))
    assert done.returncode == 2 and "not a multiple of the 10 classes" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "r").exists()


########################################################################################
# data.range


def test_unit_range_maps_bytes_to_0_1_and_back_to_the_measuring_scale():
    x = torch.tensor([0, 51, 255], dtype=torch.uint8)
    assert to_float(x, (0.0, 1.0)).tolist() == pytest.approx([0.0, 0.2, 1.0])
    assert torch.allclose(to_measure(to_float(x, (0.0, 1.0)), (0.0, 1.0)), to_float(x), atol=1e-6)
    assert to_measure(to_float(x), (-1.0, 1.0)) is not None and torch.equal(to_float(x), to_float(x, (-1.0, 1.0)))
    stream = BatchStream(x.view(3, 1, 1, 1).expand(3, 1, 2, 2).contiguous(), 3, 0, value_range=(0.0, 1.0))
    assert float(stream.next().min()) == 0.0 and float(stream.next().max()) == 1.0


def test_unit_range_generator_is_the_default_one_shifted():
    model = load_config(None, TINY).model
    torch.manual_seed(0)
    G_pm, _ = build_models(model, 1, 32)
    torch.manual_seed(0)
    G_01, _ = build_models(model, 1, 32, (0.0, 1.0))
    z = torch.randn(6, model.nz, 1, 1)
    with torch.no_grad():
        a, b = G_pm(z), G_01(z)
    assert float(b.min()) >= 0.0 and float(b.max()) <= 1.0
    assert torch.allclose(b, (a + 1) / 2, atol=1e-6)
    assert torch.allclose(generate(G_01, z), generate(G_pm, z), atol=1e-6)  # samples come back on [-1, 1]


def test_config_takes_the_two_ranges_and_refuses_others():
    assert load_config(None, TINY + ["data.range=[0, 1]"]).data.range == (0.0, 1.0)
    assert load_config(None, TINY).data.range == (-1.0, 1.0)
    with pytest.raises(UserError, match=r"valid values are: \[-1, 1\], \[0, 1\]"):
        load_config(None, TINY + ["data.range=[0, 255]"])


def test_a_unit_range_run_trains_and_its_grid_is_not_blank(tmp_path):
    from PIL import Image
    import numpy as np
    run = tmp_path / "run"
    assert main_train(None, TINY + ["train.steps=4", "data.range=[0, 1]", "train.probe_every=2"], str(run), None) == 0
    grid = np.asarray(Image.open(run / "samples" / "final.png").convert("L"))
    assert len(np.unique(grid)) > 10
