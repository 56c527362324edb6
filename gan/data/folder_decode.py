"""Decoding a folder's images into uint8 arrays, in worker processes (PIL and numpy only; gan/data/folder.py
lists the files, splits and caches them).

Pixels: decoded (EXIF orientation applied) to 8-bit RGB: 16-bit grey scaled by 255/65535 and rounded
(Pillow's "L" clips it), 16-bit colour keeps its high byte (Pillow), alpha composited over white (what a
viewer shows; dropping it exposes whatever colour transparent pixels hold). The centred min(w, h) square is
resized to S x S with Lanczos (= shorter side to S, centre crop); smaller images are upscaled, with one
warning. channels=1 keeps the luma (299 R + 587 G + 114 B) / 1000 (Pillow's "L"); "auto" is 3 when an
image has colour (a pixel of its S x S version with channels more than COLOUR_TOLERANCE apart), else 1.
"""

from __future__ import annotations

import contextlib
import io
import os
import zipfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

COLOUR_TOLERANCE = 2  # levels: JPEG's chroma rounding can leave grey pixels 1-2 levels apart
PARALLEL_MIN = 512  # fewer files decode in this process: starting workers would cost more than it saves

_ZIPS: dict[str, zipfile.ZipFile] = {}  # per process: a zip's directory is read once, not once per chunk


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode.startswith("I") or im.mode == "F":  # 16/32-bit grey
        a = np.asarray(im).astype(np.float64)
        if im.mode.startswith("I;16") or a.max(initial=0) > 255:
            a *= 255.0 / 65535.0
        return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L").convert("RGB")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info:
        im = im.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", im.size, (255, 255, 255, 255)), im).convert("RGB")
    return im.convert("RGB")


def decode_image(fh, size: int) -> tuple[np.ndarray, bool, bool]:
    """An open image file -> (uint8 (3, S, S), has colour, was smaller than S); also `gan data clipart`'s pixels."""
    with Image.open(fh) as im:
        small = min(im.size) < size
        im.draft(None, (size, size))  # JPEG: decode at the smallest 1/2^k scale still >= S (much faster)
        im.load()  # raises on truncated or corrupt data
        with contextlib.suppress(Exception):  # a malformed EXIF block is no reason to lose the image
            im = ImageOps.exif_transpose(im)
        im = _to_rgb(im)
        (w, h), d = im.size, min(im.size)
        if (w, h) != (size, size):
            box = ((w - d) / 2, (h - d) / 2, (w + d) / 2, (h + d) / 2)
            im = im.resize((size, size), Image.Resampling.LANCZOS, box=box)
        x = np.asarray(im)  # (S, S, 3)
    spread = x.max(axis=2).astype(np.int16) - x.min(axis=2)
    return x.transpose(2, 0, 1), bool(spread.max() > COLOUR_TOLERANCE), small


def _decode_chunk(source: str, is_zip: bool, names: list[str], size: int):
    """-> (uint8 (k, 3, S, S), [None or why it failed] * k, has colour bool (k,), was small bool (k,))."""
    out, errors = np.zeros((len(names), 3, size, size), np.uint8), [None] * len(names)
    colour, small = np.zeros(len(names), bool), np.zeros(len(names), bool)
    if is_zip and source not in _ZIPS:
        _ZIPS[source] = zipfile.ZipFile(source)
    for i, name in enumerate(names):
        try:
            # a zip member is read whole: seeking back in a deflated member decompresses it again
            fh = io.BytesIO(_ZIPS[source].read(name)) if is_zip else open(os.path.join(source, name), "rb")
            with fh:
                out[i], colour[i], small[i] = decode_image(fh, size)
        except Exception as err:  # corrupt, truncated, unreadable, decompression bomb: skipped and counted
            errors[i] = f"{type(err).__name__}: {' '.join(str(err).split())[:80]}".rstrip(": ")
    return out, errors, colour, small


def decode_all(source: Path, is_zip: bool, names: list[str], size: int, workers: int):
    """Yields (first row, _decode_chunk's result) covering all names, on `workers` processes."""
    if workers <= 1 or len(names) < PARALLEL_MIN:
        try:
            yield from ((s, _decode_chunk(str(source), is_zip, names[s:s + 256], size))
                        for s in range(0, len(names), 256))
        finally:
            if str(source) in _ZIPS:
                _ZIPS.pop(str(source)).close()
        return
    step = max(16, min(256, len(names) // (workers * 8)))  # small enough to balance, large enough to amortise
    # fork: workers run PIL / numpy only (like DataLoader's) and need no re-import of torch (seconds each)
    ctx = get_context("fork" if "fork" in get_all_start_methods() else None)
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        jobs = {pool.submit(_decode_chunk, str(source), is_zip, names[s:s + step], size): s
                for s in range(0, len(names), step)}
        try:
            for f in as_completed(list(jobs)):
                yield jobs.pop(f), f.result()  # popped: a consumed chunk's pixels are not kept until the end
        finally:
            for f in jobs:
                f.cancel()
