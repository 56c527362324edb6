"""`gan data letters`: the letters A-J rendered from every installed font, a notMNIST-like labelled grey folder.

    manifest = build_letters(out="data/letters", source="/usr/share/fonts")

Fonts: every TrueType / OpenType file (.ttf .otf .ttc .otc) under SOURCE (links to folders not followed), in
sorted order of its path, each face of a collection, one file once (a link to a file already read is skipped). A face is used when fontTools
finds outlines (glyf, CFF or CFF2: bitmap-only and colour-bitmap fonts are skipped) and its best Unicode cmap
maps each of U+0041-U+004A (A-J) to a glyph, ten distinct glyphs (symbol fonts, CJK- or script-only fonts
without Latin capitals are skipped here). Variable fonts give their default instance.

Pixels, per letter (MNIST's recipe, with the bounding box centred): Pillow renders it white on black at
RENDER_PX pixels per em (FreeType, basic layout); the ink's bounding box is cropped and scaled, aspect kept, so
its longer side is 20 px (area average: a pixel's grey is the share of it the glyph covers); it is centred by
that box in 28x28 (MNIST centred its digits by their centre of mass instead), then padded 2 px of black on each
side to 32x32 exactly as gan/data/builtin.py pads MNIST (F.pad(images, (2, 2, 2, 2))). A face whose letter
renders empty, or that Pillow cannot open, is skipped whole. Exact duplicates of the 32x32 result (fonts share
glyphs: metric clones, families packaged twice) are removed by gan/data/recipes/manifest.py.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import PIL
from PIL import Image, ImageDraw, ImageFont, features
from tqdm.auto import tqdm

from gan.data.recipes import manifest as mf
from gan.errors import UserError, short_reason

RECIPE_VERSION = 1  # bump when the fonts chosen, the pixels or the rules below change
SOURCE = "/usr/share/fonts"
LETTERS = "ABCDEFGHIJ"
EXTENSIONS = (".ttf", ".otf", ".ttc", ".otc")
RENDER_PX = 128  # pixels per em the glyph is drawn at before it is scaled into the box
BOX, FIELD, PAD = 20, 28, 2  # MNIST: the glyph fits a 20x20 box in a 28x28 field; padded to 32 as MNIST is here
MAX_CANVAS = 8 * RENDER_PX  # a glyph drawn larger than this (broken metrics) skips its face
INSTALL = "apt-get install -y fonts-dejavu fonts-liberation fonts-freefont-ttf fonts-noto-core fonts-urw-base35"


def missing_source(source: Path) -> UserError:
    return UserError(f"no TrueType / OpenType font with the letters A-J under '{source}'; install Debian font "
                     f"packages (`{INSTALL}`; docs/datasets.md lists the set measured here) or pass --source DIR")


def font_files(source: Path) -> tuple[list[str], list[list[str]], int]:
    """(font files relative to source in sorted order, [[file, why skipped]] for links to files already listed,
    number of other files)."""
    found, skipped, other, seen = [], [], 0, {}
    listed = sorted(Path(d, f).relative_to(source).as_posix()  # links to folders are not followed
                    for d, _, names in os.walk(source) for f in names)
    for rel in listed:
        p = source / rel
        if not p.is_file():  # a broken link
            other += 1
            continue
        if not p.name.lower().endswith(EXTENSIONS):
            other += 1
            continue
        real = os.path.realpath(p)
        if real in seen:
            skipped.append([rel, f"same file as {seen[real]}"])
            continue
        seen[real] = rel
        found.append(rel)
    return found, skipped, other


def faces(path: Path) -> int:
    """Number of faces in a font file (a collection holds several)."""
    from fontTools.ttLib import TTCollection

    if path.name.lower().endswith((".ttc", ".otc")):
        with TTCollection(str(path), lazy=True) as c:
            return len(c.fonts)
    return 1


def check_face(path: Path, index: int) -> tuple[str | None, str]:
    """(why the face is not used, or None; its full name) from its tables, with fontTools."""
    from fontTools.ttLib import TTFont

    with TTFont(str(path), fontNumber=index, lazy=True) as f:
        name = f["name"].getDebugName(4) if "name" in f else None
        name = name or path.stem
        if not any(t in f for t in ("glyf", "CFF ", "CFF2")):
            return "no outlines (bitmap-only font)", name
        cmap = f.getBestCmap() or {}
        missing = [ch for ch in LETTERS if ord(ch) not in cmap]
        if missing:
            return "no Unicode glyph for some of A-J", name
        if len({cmap[ord(ch)] for ch in LETTERS}) < len(LETTERS):
            return "maps several of A-J to one glyph", name
    return None, name


def render(font: ImageFont.FreeTypeFont, ch: str) -> np.ndarray | None:
    """One letter as uint8 (32, 32), white on black, box-centred (module docstring); None when it draws nothing."""
    left, top, right, bottom = font.getbbox(ch)
    w, h = right - left + 8, bottom - top + 8
    if right <= left or bottom <= top or max(w, h) > MAX_CANVAS:
        return None
    im = Image.new("L", (w, h), 0)
    ImageDraw.Draw(im).text((4 - left, 4 - top), ch, fill=255, font=font)
    ink = im.getbbox()
    if ink is None:
        return None
    glyph = im.crop(ink)
    gw, gh = glyph.size
    scale = BOX / max(gw, gh)
    size = (max(1, round(gw * scale)), max(1, round(gh * scale)))
    glyph = glyph.resize(size, Image.Resampling.BOX)
    field = Image.new("L", (FIELD, FIELD), 0)
    field.paste(glyph, ((FIELD - size[0]) // 2, (FIELD - size[1]) // 2))
    return np.pad(np.asarray(field), PAD)  # (32, 32), 0 around: gan/data/builtin.py's 28 -> 32


def render_face(path: Path, index: int) -> tuple[list[np.ndarray] | None, str]:
    """(the ten letters, or None; why not) of one face."""
    try:
        font = ImageFont.truetype(str(path), RENDER_PX, index=index, layout_engine=ImageFont.Layout.BASIC)
        images = [render(font, ch) for ch in LETTERS]
    except Exception as err:  # FreeType cannot open or draw it
        return None, f"Pillow cannot render it: {type(err).__name__}: {short_reason(err)}"
    empty = [ch for ch, x in zip(LETTERS, images) if x is None]
    if empty:
        return None, "draws nothing for some of A-J"
    return images, ""


def build_letters(out: str | Path = "data/letters", source: str | Path = SOURCE) -> dict[str, Any]:
    """Build the letters folder at `out` (replacing an earlier build only when the new one is complete);
    -> its manifest."""
    import fontTools

    source = Path(source).expanduser().absolute()
    files, skipped, other = font_files(source) if source.is_dir() else ([], [], 0)
    if not files:
        raise missing_source(source)

    def build(tmp: Path) -> dict[str, Any]:
        start, candidates, used = time.perf_counter(), [], []
        n_faces = 0
        for rel in tqdm(files, desc="fonts", unit="file", mininterval=1.0):
            path = source / rel
            try:
                n = faces(path)
            except Exception as err:  # not a font fontTools can read
                skipped.append([rel, f"unreadable: {type(err).__name__}: {short_reason(err)}"])
                continue
            for index in range(n):
                n_faces += 1
                face = f"{rel}#{index}" if n > 1 else rel
                try:
                    why, name = check_face(path, index)
                except Exception as err:
                    skipped.append([face, f"unreadable: {type(err).__name__}: {short_reason(err)}"])
                    continue
                images = None
                if why is None:
                    images, why = render_face(path, index)
                if images is None:
                    skipped.append([face, why])
                    continue
                stem = mf.safe_name(rel) + (f"-face{index}" if n > 1 else "")
                candidates += [mf.Candidate(ch, f"{stem}.png", f"{face}:{ch}", x) for ch, x in zip(LETTERS, images)]
                used.append([face, name])
        if not used:
            raise missing_source(source)
        kept, dups = mf.drop_duplicates(candidates)
        mf.unique_names(kept)
        mf.save_images(tmp, kept)
        packages, unowned = mf.debian_packages(sorted({source / f.split("#")[0] for f, _ in used}))  # files, not faces
        counts = Counter(c.cls for c in kept)
        return {
            "recipe": "letters", "recipe_version": RECIPE_VERSION,
            "settings": {"letters": LETTERS, "render_px_per_em": RENDER_PX, "box": BOX, "field": FIELD, "pad": PAD,
                         "image_size": FIELD + 2 * PAD, "channels": 1, "colours": "white glyph on black",
                         "centring": "ink bounding box", "resample": "area average (Pillow BOX)",
                         "layout": "Pillow basic layout", "extensions": list(EXTENSIONS)},
            "source": {"root": str(source), "packages": packages, "fonts_not_from_a_package": unowned,
                       "font_files": len(files), "other_files": other, "faces_read": n_faces,
                       "faces_used": len(used), "faces_skipped": len(skipped),
                       "skipped_by_reason": dict(sorted(Counter(w.split(":")[0] if not w.startswith("same file")
                                                                else "link to a file already read"
                                                                for _, w in skipped).items())),
                       "skipped": skipped, "fonts": used},
            "libraries": {"pillow": PIL.__version__, "freetype": features.version("freetype2"),
                          "fonttools": fontTools.version, "numpy": np.__version__},
            "classes": {ch: counts[ch] for ch in LETTERS},
            **dups,
            "build_s": round(time.perf_counter() - start, 1),
        }

    return mf.write_tree(out, "letters", build)
