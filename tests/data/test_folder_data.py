"""gan/data/folder.py on folders written here with PIL: layouts, formats, modes, the cache, the split, bad input."""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan.data import folder as fd
from gan.data import folder_decode
from gan.errors import UserError

N = fd.MIN_IMAGES + 40  # the smallest folders load_folder accepts, with room to spoil a few files


def pattern(i: int, size=(40, 36), colour=True) -> np.ndarray:
    """uint8 (h, w, 3): a per-image gradient with a bar, distinct per i; grey when not colour."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    x = np.stack([(xx * 9 + i) % 256, (yy * 11 + 3 * i) % 256, ((xx + yy) * 5 + 7 * i) % 256], -1)
    x[h // 3:h // 2] = 255 - x[h // 3:h // 2]
    return (x if colour else x[..., :1].repeat(3, -1)).astype(np.uint8)


def write_folder(root: Path, n=N, classes=("cat", "dog"), ext="png", colour=True, size=(40, 36)) -> Path:
    for i in range(n):
        sub = root / classes[i % len(classes)] if classes else root
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pattern(i, size, colour)).save(sub / f"img{i:04d}.{ext}")
    return root


def load(root, tmp_path, **kw):
    return fd.load_folder(root, kw.pop("image_size", 32), cache_root=tmp_path / "cache", **kw)


def png16(arr: np.ndarray) -> bytes:
    """A 16-bit PNG (grey (h, w, 1) or RGB (h, w, 3) uint16), which Pillow cannot write."""
    h, w, c = arr.shape
    raw = b"".join(b"\0" + arr[y].astype(">u2").tobytes() for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))  # noqa: E731
    ihdr = struct.pack(">IIBBBBB", w, h, 16, {1: 0, 3: 2}[c], 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


# ---------------------------------------------------------------------------------------- layouts and formats

def test_labelled_png_folder(tmp_path):
    ds = load(write_folder(tmp_path / "pets"), tmp_path)
    assert ds.class_names == ["cat", "dog"] and ds.num_classes == 2 and ds.channels == 3
    assert ds.train_images.shape == (ds.n_train, 3, 32, 32) and ds.train_images.dtype == torch.uint8
    assert ds.test_labels.dtype == torch.int64 and len(ds.test_images) == fd.held_out_size(N) == N // 2
    names = ds.names()
    assert sorted(names) == sorted(f"{c}/img{i:04d}.png" for i, c in zip(range(N), ["cat", "dog"] * N))
    assert [ds.class_names[y] for y in ds.labels] == [n.split("/")[0] for n in names]
    assert torch.bincount(ds.test_labels).tolist() == [N // 4, N // 4]  # stratified
    assert not ds.from_cache and "cat: 220" in ds.summary() and "held out" in ds.summary()


def test_flat_grey_jpeg_folder_is_unlabelled_and_one_channel(tmp_path):
    ds = load(write_folder(tmp_path / "flat", classes=(), ext="jpg", colour=False), tmp_path)
    assert ds.num_classes == 0 and (ds.labels == -1).all() and ds.channels == 1
    assert ds.meta["channels_requested"] == "auto" and "unlabelled" in ds.summary()


def test_webp_bmp_other_and_hidden_files(tmp_path):
    root = tmp_path / "mixed"
    (root / "a" / "deep").mkdir(parents=True)
    (root / "b").mkdir()
    for i in range(N):
        Image.fromarray(pattern(i)).save(root / "a" / "deep" / f"{i}.WEBP", lossless=True)
        Image.fromarray(pattern(i)).save(root / "b" / f"{i}.bmp")
    (root / "README.txt").write_text("hello")
    (root / "a" / "notes.csv").write_text("x")
    (root / ".DS_Store").write_bytes(b"junk")
    (root / "b" / "._0.bmp").write_bytes(b"AppleDouble")
    ds = load(root, tmp_path)
    assert len(ds.labels) == 2 * N and ds.class_names == ["a", "b"] and ds.ignored == 2
    rows = {n: i for i, n in enumerate(ds.names())}
    assert np.array_equal(ds.images[rows["a/deep/7.WEBP"]], ds.images[rows["b/7.bmp"]])  # both lossless
    assert "ignored 2 files" in ds.summary()


def test_zip_with_a_top_folder_equals_the_folder(tmp_path):
    root = write_folder(tmp_path / "pets")
    with zipfile.ZipFile(tmp_path / "pets.zip", "w", zipfile.ZIP_STORED) as z:
        for p in sorted(root.rglob("*.png")):
            z.write(p, "pets/" + p.relative_to(root).as_posix())
        z.writestr("__MACOSX/pets/._x.png", b"junk")
    a, b = load(root, tmp_path), load(tmp_path / "pets.zip", tmp_path)
    assert b.meta["kind"] == "zip" and b.class_names == ["cat", "dog"]
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert [n.removeprefix("pets/") for n in b.names()] == a.names()


def test_parallel_decoding_gives_the_same_arrays(tmp_path):
    root = write_folder(tmp_path / "many", n=fd.PARALLEL_MIN + 8, ext="jpg")
    one = fd.load_folder(root, 32, cache_root=tmp_path / "c1", workers=1)
    two = fd.load_folder(root, 32, cache_root=tmp_path / "c2", workers=2)
    assert two.meta["workers"] == 2 and np.array_equal(one.images, two.images)


# ---------------------------------------------------------------------------------------- pixels

def test_modes_16_bit_alpha_and_palette(tmp_path):
    root = write_folder(tmp_path / "modes", classes=(), colour=False)
    grey16 = np.full((36, 40, 1), 128 * 257, np.uint16)  # 128 in 16 bits; Pillow's own "L" would say 255
    (root / "g16.png").write_bytes(png16(grey16))
    (root / "rgb16.png").write_bytes(png16(np.dstack([grey16 * 0 + 65535, grey16 * 0, grey16]).astype(np.uint16)))
    Image.new("RGBA", (40, 36), (255, 0, 0, 0)).save(root / "clear.png")  # transparent red: white
    Image.new("LA", (40, 36), (0, 128)).save(root / "la.png")  # half-transparent black on white
    pal = Image.new("P", (40, 36), 1)
    pal.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    pal.save(root / "pal.png")
    pal.save(root / "paltrans.png", transparency=1)
    Image.new("1", (40, 36), 1).save(root / "bits.bmp")
    Image.new("CMYK", (40, 36), (0, 0, 0, 255)).save(root / "cmyk.jpg")
    ds = load(root, tmp_path)
    px = {n: ds.images[i, :, 16, 16].tolist() for i, n in enumerate(ds.names())}
    assert ds.channels == 3 and ds.skipped == []
    assert px["g16.png"] == [128] * 3 and px["rgb16.png"] == [255, 0, 128]
    assert px["clear.png"] == [255] * 3 and abs(px["la.png"][0] - 127) <= 1
    assert px["pal.png"] == [0, 0, 255] and px["paltrans.png"] == [255] * 3 and px["bits.bmp"] == [255] * 3
    assert max(px["cmyk.jpg"]) <= 2


def test_centre_crop_upscale_warning_and_luma(tmp_path):
    root = write_folder(tmp_path / "crop", classes=(), colour=False, size=(40, 40))
    wide = np.zeros((20, 80, 3), np.uint8)
    wide[:, :30] = (255, 0, 0)
    wide[:, 30:50] = (0, 255, 0)  # the centred 20 x 20 square
    wide[:, 50:] = (0, 0, 255)
    Image.fromarray(wide).save(root / "wide.png")
    with pytest.warns(UserWarning, match=r"^1 images .* smaller than 32 px and were upscaled") as rec:
        ds = load(root, tmp_path)
    assert len([w for w in rec if "upscaled" in str(w.message)]) == 1
    i = ds.names().index("wide.png")
    assert ds.channels == 3 and (ds.images[i, :, 4:-4, 4:-4] == np.array([0, 255, 0])[:, None, None]).all()
    with pytest.warns(UserWarning, match="upscaled"):
        grey = load(root, tmp_path, channels=1)
    assert grey.channels == 1 and grey.images[grey.names().index("wide.png"), 0, 16, 16] == 150  # 587*255/1000


def test_large_caches_are_memory_mapped_and_tensors_share_memory(tmp_path):
    ds = load(write_folder(tmp_path / "pets"), tmp_path, mmap=True)
    assert isinstance(ds.images, np.memmap) and ds.images.mode == "c"
    assert ds.train_images.data_ptr() == ds.images.ctypes.data  # a view, not a copy
    assert not isinstance(load(tmp_path / "pets", tmp_path).images, np.memmap)  # small: read into RAM


# ---------------------------------------------------------------------------------------- the cache

def test_cache_is_reused_without_decoding(tmp_path, monkeypatch):
    root = write_folder(tmp_path / "pets")
    first = load(root, tmp_path)
    monkeypatch.setattr(folder_decode, "_decode_chunk", lambda *a: pytest.fail("decoded again"))
    again = load(root, tmp_path)
    assert again.from_cache and np.array_equal(first.images, again.images) and "reused" in again.summary()


def test_edited_folder_is_prepared_again_and_says_so(tmp_path, capsys):
    root = write_folder(tmp_path / "pets")
    old = load(root, tmp_path)
    (root / "cat" / "img0000.png").unlink()
    Image.fromarray(pattern(999)).save(root / "dog" / "new.png")
    Image.fromarray(pattern(998)).save(root / "dog" / "img0001.png")
    os.utime(root / "dog" / "img0001.png", ns=(1, 1))
    capsys.readouterr()
    new = load(root, tmp_path)
    assert capsys.readouterr().err.strip() == \
        "folder changed since it was prepared (1 added, 1 removed, 1 modified): preparing again"
    assert not new.from_cache and "dog/new.png" in new.names() and not old.cache_dir.exists()
    assert len([d for d in (tmp_path / "cache").iterdir() if d.is_dir()]) == 1


def test_damaged_cache_is_prepared_again(tmp_path):
    root = write_folder(tmp_path / "pets")
    ds = load(root, tmp_path)
    (ds.cache_dir / "images.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.warns(UserWarning, match="is damaged"):
        again = load(root, tmp_path)
    assert not again.from_cache and np.array_equal(again.images, ds.images)


# ---------------------------------------------------------------------------------------- the split

def test_held_out_size_rule():
    assert [fd.held_out_size(n) for n in (400, 1000, 4000, 5000, 12_345)] == [200, 500, 500, 500, 1235]


def test_split_is_stratified_fixed_and_stable():
    names = [f"c{i % 3}/{i}.png" for i in range(3000)]
    labels = np.array([0 if i < 2000 else 1 + i % 2 for i in range(3000)])  # classes of 2000, 500, 500
    test = fd.split_rows(names, labels)
    assert test.sum() == 500 and np.bincount(labels[test]).tolist() == [333, 84, 83]
    assert np.array_equal(test, fd.split_rows(names, labels))  # no RNG state involved
    shuffled = np.random.default_rng(1).permutation(3000)  # file order does not matter
    assert np.array_equal(fd.split_rows([names[i] for i in shuffled], labels[shuffled]), test[shuffled])
    grown = fd.split_rows(names + ["c0/extra.png"], np.append(labels, 0))  # one more file moves few images
    assert (grown[:3000] != test).sum() <= 2
    flat = fd.split_rows(names, np.full(3000, -1))
    assert flat.sum() == 500


# ---------------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("case, match", [
    ("missing", "does not exist"), ("text_file", "is a file but not a .zip"), ("bad_zip", "is not a readable zip"),
    ("empty", "is empty"), ("no_images", r"has no PNG, JPEG, WebP or BMP image \(2 other files ignored\)"),
    ("too_few", f"has 10 images but at least {fd.MIN_IMAGES} are needed"),
])
def test_bad_input_is_one_user_error(tmp_path, case, match):
    root = tmp_path / "in"
    if case == "text_file":
        root = tmp_path / "in.txt"
        root.write_text("x")
    elif case == "bad_zip":
        root = tmp_path / "in.zip"
        root.write_bytes(b"PK not really")
    elif case != "missing":
        root.mkdir()
    if case == "no_images":
        (root / "a.txt").write_text("x")
        (root / "b.gif").write_bytes(b"GIF89a")
    if case == "too_few":
        write_folder(root, n=10)
    with pytest.raises(UserError, match=match) as err:
        load(root, tmp_path)
    assert "\n" not in str(err.value) and "; " in str(err.value)  # what is wrong; how to fix it


def test_unreadable_folder(tmp_path, monkeypatch):
    root = write_folder(tmp_path / "pets")
    real = os.scandir
    monkeypatch.setattr(fd.os, "scandir", lambda p: (_ for _ in ()).throw(PermissionError(13, "denied"))
                        if Path(p).name == "dog" else real(p))
    with pytest.raises(UserError, match=r"cannot read '.*dog' \(permission denied\); make it readable"):
        load(root, tmp_path)


def spoil(root: Path, k: int) -> list[str]:
    """Truncate or overwrite k images (a mix of truncated PNG, truncated JPEG and garbage)."""
    files = sorted(root.rglob("*.png"))[:k]
    for j, p in enumerate(files):
        data = p.read_bytes()
        if j % 3 == 0:
            p.write_bytes(data[: len(data) // 2])
        elif j % 3 == 1:
            buf = io.BytesIO()
            Image.open(p).save(buf, "JPEG")
            p.write_bytes(buf.getvalue()[:200])
        else:
            p.write_bytes(b"not an image at all")
    return [p.relative_to(root).as_posix() for p in files]


def test_a_few_corrupt_files_are_skipped_and_named(tmp_path):
    root = write_folder(tmp_path / "pets")
    bad = spoil(root, 6)
    with pytest.warns(UserWarning, match=r"skipped 6 corrupt or unreadable of 440 files .*'cat/img0000.png'"):
        ds = load(root, tmp_path)
    assert [s[0] for s in ds.skipped] == bad and len(ds.labels) == N - 6
    assert "skipped 6 unreadable files" in ds.summary()


def test_many_corrupt_files_are_refused_and_the_good_cache_kept(tmp_path):
    root = write_folder(tmp_path / "pets")
    good = load(root, tmp_path)
    spoil(root, N // 10 + 1)
    with pytest.raises(UserError, match=r"45 of 440 image files .* are corrupt or unreadable, more than 10%"):
        load(root, tmp_path)
    assert (good.cache_dir / "meta.json").is_file()
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.is_dir()] == [good.cache_dir.name]  # no temp left
    for p in root.rglob("*.png"):
        p.write_bytes(b"junk")
    with pytest.raises(UserError, match=f"none of the {N} image files"):
        load(root, tmp_path)


def test_unwritable_cache_root(tmp_path):
    (tmp_path / "cache").write_text("a file where the cache folder should be")
    with pytest.raises(UserError, match="cannot write the folder cache under .*; set GAN_CACHE_DIR"):
        load(write_folder(tmp_path / "pets", n=fd.MIN_IMAGES), tmp_path)
