"""`gan data clipart`: colour clip art from Debian's openclipart-png as a labelled 32x32 RGB image folder.

    manifest = build_clipart(out="data/clipart", source="/usr/share/openclipart/png", min_images=50)

Source: SOURCE/<category>/**/*.png (openclipart 0.18's category folders; Debian installs them under
/usr/share/openclipart/png). Class: the first-level category folder. Pixels: gan/data/folder_decode.py's
decode_image, exactly what `gan data folder` does to an image (alpha composited over white, the centred square
resized to 32x32 with Lanczos, 8-bit RGB), so the folder loader reads the written PNGs back unchanged.
Removed, each counted in the manifest by reason: files outside a category folder, the folders in EXCLUDED,
unreadable files (also those over Pillow's decompression-bomb limit, as `gan data folder` would), images smaller
than 32 px (they would be upscaled), images of one colour after compositing (white drawn on transparent), and
exact duplicates of the 32x32 result (gan/data/recipes/manifest.py): within a category the first copy in sorted
path order is kept; a drawing the package files under several categories is kept once, in the first of them in
sorted path order, among the categories kept. A category is kept when it has min_images distinct images
(counting the drawings it shares); if giving shared drawings to earlier categories leaves one below min_images, the
smallest such is dropped and the rest deduplicated again, until every category left has min_images.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import PIL
from tqdm.auto import tqdm

from gan.data.folder_decode import decode_image
from gan.data.recipes import manifest as mf
from gan.errors import UserError, short_reason

RECIPE_VERSION = 1  # bump when the pixels, the classes or the rules below change
SOURCE = "/usr/share/openclipart/png"
PACKAGE = "openclipart-png"
IMAGE_SIZE = 32
MIN_IMAGES = 50  # per category after deduplication: ~5 held out per class by the folder loader's 10% split
EXCLUDED = {  # folders (relative to SOURCE) left out, and why
    "shapes/stars": "1378 generated star polygons {n/k} that at 32x32 are all near-identical grey "
                    "rings; kept, they would be 17% of the set and 84% of 'shapes', one visual mode a GAN and "
                    "the classifier would mostly learn",
    "unsorted": "'unsorted' is not a category, so its name is no label",
}


def missing_source(source: Path) -> UserError:
    return UserError(f"no openclipart PNGs under '{source}'; install Debian's clip art "
                     f"(`apt-get install -y {PACKAGE}`) or pass --source DIR (DIR/<category>/**/*.png)")


def _reason(rel: str) -> str | None:
    """Why a file is left out before decoding, else None."""
    if "/" not in rel:
        return "not in a category folder"
    return next((f"excluded folder {folder}" for folder in EXCLUDED if rel.startswith(folder + "/")), None)


def build_clipart(out: str | Path = "data/clipart", source: str | Path = SOURCE,
                  min_images: int = MIN_IMAGES) -> dict[str, Any]:
    """Build the clip-art folder at `out` (replacing an earlier build only when the new one is complete);
    print its summary; -> its manifest."""
    if min_images < 1:
        raise UserError(f"--min-images must be at least 1, not {min_images}")
    source = Path(source).expanduser().absolute()
    files = sorted(p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()) \
        if source.is_dir() else []
    pngs = [f for f in files if f.lower().endswith(".png")]
    if not any("/" in f for f in pngs):
        raise missing_source(source)

    def build(tmp: Path) -> dict[str, Any]:
        start, candidates, skipped = time.perf_counter(), [], []
        for rel in tqdm(pngs, desc="clip art", unit="img", mininterval=1.0):
            if why := _reason(rel):
                skipped.append([rel, why])
                continue
            try:
                with open(source / rel, "rb") as fh:
                    x, _, small = decode_image(fh, IMAGE_SIZE)
            except Exception as err:  # corrupt, truncated, over Pillow's decompression-bomb limit: skipped
                skipped.append([rel, f"unreadable: {type(err).__name__}: {short_reason(err)}"])
                continue
            if small:
                skipped.append([rel, f"smaller than {IMAGE_SIZE} px (would be upscaled)"])
                continue
            if x.min() == x.max():
                skipped.append([rel, "one colour after compositing over white"])
                continue
            cls, inner = rel.split("/", 1)
            candidates.append(mf.Candidate(cls, mf.safe_name(inner), rel, np.ascontiguousarray(x.transpose(1, 2, 0))))
        distinct = Counter(cls for cls, _ in {(c.cls, mf.pixel_hash(c.pixels)) for c in candidates})
        dropped = {c: n for c, n in sorted(distinct.items()) if n < min_images}  # never reach min_images
        live = set(distinct) - set(dropped)
        while True:  # a class can fall below min_images once drawings it shares are kept in another class
            kept, dups = mf.drop_duplicates([c for c in candidates if c.cls in live], cross_class="first")
            counts = Counter(c.cls for c in kept)
            below = sorted((counts[c], c) for c in live if counts[c] < min_images)
            if not below:
                break
            dropped[below[0][1]] = below[0][0]  # the smallest first: its shared drawings may lift the others
            live.discard(below[0][1])
        if len(live) < 2:
            raise UserError(f"{len(live)} of {len(distinct)} categories under '{source}' have at least {min_images} "
                            "images; a labelled folder needs 2 or more, so lower --min-images (nothing was written)")
        mf.unique_names(kept)
        mf.save_images(tmp, kept)
        packages, unowned = mf.debian_packages([source / f for f in pngs])
        by_reason = Counter(why.split(":")[0] for _, why in skipped)
        return {
            "recipe": "clipart", "recipe_version": RECIPE_VERSION,
            "settings": {"image_size": IMAGE_SIZE, "channels": 3, "background": "white (alpha composited)",
                         "crop": "centred square", "resample": "Lanczos (Pillow)", "min_images": min_images,
                         "excluded": EXCLUDED},
            "source": {"root": str(source), "packages": packages, "files_not_from_a_package": unowned,
                       "files_found": len(files), "other_files": len(files) - len(pngs),
                       "files_read": len(pngs) - sum(why.startswith(("excluded", "not in")) for _, why in skipped),
                       "files_used": len(candidates), "files_skipped": len(skipped),
                       "skipped_by_reason": dict(sorted(by_reason.items())),
                       "skipped": skipped},
            "libraries": {"pillow": PIL.__version__, "numpy": np.__version__},
            "classes": {c: counts[c] for c in sorted(counts)},
            "classes_dropped": {c: f"{dropped[c]} images after deduplication, fewer than {min_images}"
                                for c in sorted(dropped)},
            "files_in_dropped_classes": sum(c.cls in dropped for c in candidates),
            **dups,
            "build_s": round(time.perf_counter() - start, 1),
        }

    return mf.write_tree(out, "clipart", build)
