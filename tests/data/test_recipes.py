"""`gan data clipart` and `gan data letters` on tiny fixtures in the real formats (tests/builders_data.py): class
folders and counts, the pixels (white compositing, crop and size; glyph box, MNIST's padding), duplicates, the
manifest, the same content hash on a rebuild, and bad input (exit 2, one sentence, nothing written)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from builders_data import write_clipart, write_fonts
from gan import cli
from gan.commands import data as data_command
from gan.data import builtin, folder
from gan.data.recipes import clipart, letters
from gan.data.recipes import manifest as mf


def error_line(capsys) -> str:
    """The one `error: ...` line the CLI printed (one sentence; no traceback on stderr)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    return errors[0]


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im).copy()


def tree(root: Path) -> dict[str, list[str]]:
    """{class folder: sorted PNG names}."""
    return {d.name: sorted(p.name for p in d.glob("*.png")) for d in sorted(root.iterdir()) if d.is_dir()}


def hash_by_the_documented_rule(root: Path) -> str:
    """docs/datasets.md's content hash, written out again here (not calling the code under test)."""
    h = hashlib.sha256()
    for rel in sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png")):
        with Image.open(root / rel) as im:
            h.update(f"{rel}\0{im.mode}\0{im.width}x{im.height}\n".encode() + np.asarray(im).tobytes())
    return h.hexdigest()


@pytest.fixture
def clipart_source(tmp_path) -> Path:
    return write_clipart(tmp_path / "openclipart")


@pytest.fixture
def font_source(tmp_path) -> Path:
    return write_fonts(tmp_path / "fonts")


def build(capsys, recipe: str, source: Path, out: Path, *flags: str) -> dict:
    assert cli.main(["data", recipe, "--source", str(source), "--out", str(out), *flags]) == 0
    printed = capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["content_hash"] in printed and f"gan data folder --root {out}" in printed
    return manifest


########################################################################################
# clip art


def test_clipart_classes_counts_and_removals(tmp_path, capsys, clipart_source):
    out = tmp_path / "clipart"
    m = build(capsys, "clipart", clipart_source, out, "--min-images", "3")
    assert tree(out) == {"animals": ["birds__owl.png", "cat.png", "dog.png"],
                         "food": ["apple.png", "pear.png", "plum.png", "shared.png"]}
    assert m["classes"] == {"animals": 3, "food": 4} and m["n_images"] == 7
    assert m["classes_dropped"] == {"art": "2 images after deduplication, fewer than 3"}
    assert m["files_in_dropped_classes"] == 2
    assert m["duplicates_removed"] == 1 and m["duplicates"] == [["food/apple_copy.png", "food/apple.png"]]
    assert m["cross_class_removed"] == 0  # art/shared.png went with art; food keeps its copy
    src = m["source"]
    assert src["files_found"] == 16 and src["files_read"] == 13 and src["files_used"] == 10
    assert src["skipped_by_reason"] == {"excluded folder shapes/stars": 1, "excluded folder unsorted": 1,
                                        "not in a category folder": 1, "one colour after compositing over white": 1,
                                        "smaller than 32 px (would be upscaled)": 1, "unreadable": 1}
    assert src["packages"] == {} and src["files_not_from_a_package"] == 16  # a test folder: no Debian package
    assert m["recipe"] == "clipart" and m["recipe_version"] == clipart.RECIPE_VERSION
    assert m["settings"]["min_images"] == 3 and set(m["settings"]["excluded"]) == {"shapes/stars", "unsorted"}
    # with no minimum, art stays, and the drawing filed in art and food is kept once, in art (sorted first)
    m1 = build(capsys, "clipart", clipart_source, tmp_path / "all", "--min-images", "1")
    assert m1["classes"] == {"animals": 3, "art": 2, "food": 3} and m1["classes_dropped"] == {}
    assert m1["cross_class_removed"] == 1 and m1["cross_class"] == [["food/shared.png", "art/shared.png"]]
    # only food has 4 (once art, which can never have them, gives up its copy of shared.png): refused
    assert cli.main(["data", "clipart", "--source", str(clipart_source), "--out", str(tmp_path / "no"),
                     "--min-images", "4"]) == 2
    assert "1 of 3 categories" in error_line(capsys) and not (tmp_path / "no").exists()


def test_clipart_pixels_white_background_centre_crop_32px(tmp_path, capsys, clipart_source):
    out = tmp_path / "clipart"
    build(capsys, "clipart", clipart_source, out, "--min-images", "1")
    cat = pixels(out / "animals" / "cat.png")  # a red square on transparent black, 64x64
    assert cat.shape == (32, 32, 3) and cat.dtype == np.uint8
    assert cat[0, 0].tolist() == [255, 255, 255] and cat[31, 31].tolist() == [255, 255, 255]  # transparent -> white
    assert cat[16, 16].tolist() == [255, 0, 0]
    owl = pixels(out / "animals" / "birds__owl.png")  # 192x64, blue | green | blue: only the green third is kept
    assert owl.shape == (32, 32, 3)
    assert (owl[:, 4:28] == [0, 255, 0]).all() and owl[..., 2].max() < 40
    for p in out.rglob("*.png"):
        with Image.open(p) as im:
            assert im.mode == "RGB" and im.size == (32, 32)


def test_clipart_rebuild_same_hash_and_the_folder_loader_reads_it_unchanged(tmp_path, capsys, clipart_source,
                                                                            monkeypatch):
    out, again = tmp_path / "clipart", tmp_path / "again"
    first = build(capsys, "clipart", clipart_source, out, "--min-images", "1")
    assert first["content_hash"] == hash_by_the_documented_rule(out) == mf.content_hash(out)
    assert build(capsys, "clipart", clipart_source, again, "--min-images", "1")["content_hash"] == first["content_hash"]
    (out / "food" / "apple.png").unlink()  # a damaged earlier build is replaced, whole
    assert build(capsys, "clipart", clipart_source, out, "--min-images", "1")["content_hash"] == first["content_hash"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again", "clipart", "openclipart"]  # no temp left
    monkeypatch.setattr(folder, "MIN_IMAGES", 4)
    ds = folder.load_folder(out, 32, cache_root=tmp_path / "gan_cache")
    assert ds.class_names == ["animals", "art", "food"] and ds.channels == 3 and len(ds.labels) == 8
    for row, name in enumerate(ds.names()):
        assert (ds.images[row] == pixels(out / name).transpose(2, 0, 1)).all(), name


def test_clipart_missing_source_is_one_sentence_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "clipart"
    for source in (tmp_path / "nowhere", tmp_path):  # absent; present without category folders of PNGs
        assert cli.main(["data", "clipart", "--source", str(source), "--out", str(out)]) == 2
        line = error_line(capsys)
        assert "apt-get install -y openclipart-png" in line and line.count(". ") == 0, line
        assert not out.exists() and not list(tmp_path.glob(".clipart*"))


def test_an_existing_folder_that_is_not_a_build_is_never_touched(tmp_path, capsys, clipart_source):
    out = tmp_path / "mine"
    (out / "keep").mkdir(parents=True)
    (out / "keep" / "photo.png").write_bytes(b"precious")
    assert cli.main(["data", "clipart", "--source", str(clipart_source), "--out", str(out)]) == 2
    assert "is not an earlier `gan data clipart` build" in error_line(capsys)
    assert [p.name for p in out.rglob("*")] == ["keep", "photo.png"] and not list(tmp_path.glob(".mine*"))


########################################################################################
# letters


def test_letters_classes_counts_duplicates_and_manifest(tmp_path, capsys, font_source):
    out = tmp_path / "letters"
    m = build(capsys, "letters", font_source, out)
    names = ["DejaVuSans.ttf.png", "DejaVuSansMono-Oblique.ttf.png", "DejaVuSerif-Bold.ttf.png"]
    assert tree(out) == {ch: names for ch in "ABCDEFGHIJ"}
    assert m["classes"] == {ch: 3 for ch in "ABCDEFGHIJ"} and m["n_images"] == 30
    assert m["duplicates_removed"] == 10 and m["cross_class_removed"] == 0  # the byte copy of DejaVuSans
    assert ["copy/SansAgain.ttf:A", "DejaVuSans.ttf:A"] in m["duplicates"]
    src = m["source"]
    assert src["font_files"] == 6 and src["other_files"] == 1 and src["faces_read"] == 6 and src["faces_used"] == 4
    assert src["skipped_by_reason"] == {"link to a file already read": 1, "no Unicode glyph for some of A-J": 1,
                                        "unreadable": 1}
    assert [f for f, _ in src["fonts"]] == ["DejaVuSans.ttf", "DejaVuSansMono-Oblique.ttf", "DejaVuSerif-Bold.ttf",
                                            "copy/SansAgain.ttf"]
    assert src["fonts"][0][1] == "DejaVu Sans" and src["packages"] == {} and src["fonts_not_from_a_package"] == 4
    assert m["settings"]["image_size"] == 32 and m["libraries"]["freetype"]


def test_letters_pixels_box_centring_and_mnist_padding(tmp_path, capsys, font_source):
    out = tmp_path / "letters"
    build(capsys, "letters", font_source, out)
    for p in sorted(out.rglob("*.png")):
        with Image.open(p) as im:
            assert im.mode == "L" and im.size == (32, 32)
        x = pixels(p)
        inner = torch.from_numpy(x[2:30, 2:30].copy())[None, None]  # the 28x28 field
        assert torch.equal(builtin._resize(inner, 32)[0, 0], torch.from_numpy(x))  # padded as MNIST is here
        rows, cols = np.flatnonzero(x.any(1)), np.flatnonzero(x.any(0))
        h, w = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
        assert max(h, w) == 20, (p, h, w)  # the longer side fills the 20 px box
        assert abs((rows[0] + rows[-1]) / 2 - 15.5) <= 0.5 and abs((cols[0] + cols[-1]) / 2 - 15.5) <= 0.5
        assert x[0].max() == 0 and x.max() == 255  # white on black
    # an I is tall and thin: 20 px high, a few wide
    i = pixels(out / "I" / "DejaVuSans.ttf.png")
    assert np.flatnonzero(i.any(0)).size < 6 and np.flatnonzero(i.any(1)).size == 20


def test_letters_rebuild_same_hash(tmp_path, capsys, font_source):
    first = build(capsys, "letters", font_source, tmp_path / "a")
    second = build(capsys, "letters", font_source, tmp_path / "b")
    assert first["content_hash"] == second["content_hash"] == hash_by_the_documented_rule(tmp_path / "b")
    assert first["build_s"] >= 0 and first["source"]["skipped"] == second["source"]["skipped"]


def test_letters_missing_fonts_is_one_sentence_and_writes_nothing(tmp_path, capsys, font_source):
    only_symbols = tmp_path / "symbols"
    only_symbols.mkdir()
    shutil.copy(font_source / "STIXSizOneSymReg.ttf", only_symbols)  # a font, but no A-J
    out = tmp_path / "letters"
    for source in (tmp_path / "nowhere", only_symbols):
        assert cli.main(["data", "letters", "--source", str(source), "--out", str(out)]) == 2
        line = error_line(capsys)
        assert "apt-get install -y fonts-dejavu" in line and line.count(". ") == 0, line
        assert not out.exists() and not list(tmp_path.glob(".letters*"))


########################################################################################
# the command and the shared pieces


@pytest.mark.parametrize("argv, says", [
    (["data", "clipart", "--root", "x"], "are not for `gan data clipart`"),
    (["data", "letters", "--min-images", "3"], "--min-images is for `gan data clipart`"),
    (["data", "mnist", "--out", "x"], "are for `gan data clipart` and `gan data letters`"),
    (["data", "clipart", "--min-images", "0"], "--min-images must be at least 1"),
])
def test_recipe_flags_are_checked(argv, says, capsys):
    assert cli.main(argv) == 2
    assert says in error_line(capsys)


def test_the_command_names_the_recipes_sources():
    assert data_command.RECIPE_SOURCES == {"clipart": clipart.SOURCE, "letters": letters.SOURCE}


def test_drop_duplicates_within_and_across_classes():
    a, b, c = (np.full((2, 2), v, np.uint8) for v in (0, 1, 2))
    cands = [mf.Candidate("x", "1", "s1", a), mf.Candidate("x", "2", "s2", a.copy()), mf.Candidate("x", "3", "s3", b),
             mf.Candidate("y", "4", "s4", b.copy()), mf.Candidate("y", "5", "s5", c)]
    kept, report = mf.drop_duplicates(cands)  # "drop": b is in x and y, so neither keeps it
    assert [k.source for k in kept] == ["s1", "s5"] and report["duplicates"] == [["s2", "s1"]]
    assert report["cross_class"] == [["s3", None], ["s4", None]] and report["cross_class_removed"] == 2
    kept, report = mf.drop_duplicates(cands, cross_class="first")
    assert [k.source for k in kept] == ["s1", "s3", "s5"] and report["cross_class"] == [["s4", "s3"]]


def test_dpkg_pattern_escapes_glob_characters():
    assert mf.dpkg_pattern("/f/Karla[wght].ttf") == "/f/Karla\\[wght].ttf"
    assert mf.dpkg_pattern("/f/a*b?c\\d") == "/f/a\\*b\\?c\\\\d"


@pytest.mark.skipif(shutil.which("dpkg-query") is None or not Path("/etc/debian_version").exists(),
                    reason="not a Debian system")
def test_debian_packages_names_the_owner_and_counts_the_rest(tmp_path):
    (tmp_path / "mine.png").write_bytes(b"x")
    (tmp_path / "link").symlink_to("/etc/debian_version")  # as update-alternatives links fonts: the target counts
    packages, unowned = mf.debian_packages([Path("/etc/debian_version"), tmp_path / "mine.png", tmp_path / "link"])
    assert list(packages) == ["base-files"] and packages["base-files"][0].isdigit() and unowned == 1
