"""What every `gan data RECIPE` shares: exact-duplicate removal, the Debian packages a source came from, the
content hash of a built tree, and writing the tree and its manifest.json whole or not at all.

    kept, report = drop_duplicates(images)          # by sha256 of each image's final pixels
    packages, unowned = debian_packages(paths)      # {package: version} from dpkg-query, and the files no package owns
    manifest = write_tree(out, "letters", build)    # build(tmp) writes the class folders; renamed into place when done
    content_hash(out)                               # the hash manifest.json records (below)

Content hash (CONTENT_HASH_RULE): sha256 over every PNG in the tree, in sorted order of its path relative to the
tree (POSIX, e.g. "A/x.png"; Python's str order): the UTF-8 bytes of "<path>\\0<Pillow mode>\\0<width>x<height>\\n",
then the decoded pixels, row-major, 1 byte per pixel for "L" and 3 for "RGB". It is computed by reading the
written files back, so the folder on disk is what it vouches for; manifest.json itself is not hashed. Names are
hashed because a name's class folder is its label.

The tree is built in a temporary folder beside `out` (`.<name>.tmp-<pid>`) and renamed to `out` only when
complete; a previous build of the same recipe is renamed aside first (`.<name>.old-<pid>`) and deleted only
once the new one is in place. A folder at `out` that is not an earlier build of this recipe is never touched.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from gan.errors import UserError, short_reason
from gan.files.atomic import write_json_atomic

MANIFEST = "manifest.json"
CONTENT_HASH_RULE = ("sha256 over every PNG in sorted order of its POSIX path relative to the tree: "
                     "UTF-8 '<path>\\0<Pillow mode>\\0<width>x<height>\\n', then its decoded pixels row-major "
                     "(1 byte per pixel for L, 3 for RGB), read back from the written files")
DPKG_CHUNK = 1000  # paths per dpkg-query call (an exact path is a hash lookup there; the limit is the command line)


@dataclass
class Candidate:
    """One image a recipe made: its class, its file name in the class folder, where it came from, its pixels."""

    cls: str
    name: str
    source: str
    pixels: np.ndarray  # uint8 (S, S) grey or (S, S, 3) RGB


def pixel_hash(x: np.ndarray) -> str:
    return hashlib.sha256(f"{x.shape}{x.dtype}".encode() + np.ascontiguousarray(x).tobytes()).hexdigest()


CROSS_CLASS_RULES = {"drop": "every copy removed (no one label is right)",
                     "first": "the first copy kept, in its class (sorted source order); the others removed"}


def drop_duplicates(images: list[Candidate], cross_class: str = "drop") -> tuple[list[Candidate], dict[str, Any]]:
    """Exact duplicates by pixel hash, in the given order. Within a class the first copy is kept. Pixels that occur
    in two or more classes: cross_class="drop" removes every copy, "first" keeps the first copy wherever it is.

    -> (kept, in the given order; {"duplicates_removed": copies removed in the class of the copy kept,
        "cross_class_removed": copies removed because their pixels are in another class too, "cross_class_rule",
        "duplicates": [[removed, kept]], "cross_class": [[removed, kept or None]]})."""
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(images):
        groups.setdefault(pixel_hash(c.pixels), []).append(i)
    drop, duplicates, across = set(), [], []
    for rows in groups.values():
        first = images[rows[0]]
        if len({images[r].cls for r in rows}) > 1 and cross_class == "drop":
            drop.update(rows)
            across += [[images[r].source, None] for r in rows]
            continue
        for r in rows[1:]:
            drop.add(r)
            (duplicates if images[r].cls == first.cls else across).append([images[r].source, first.source])
    kept = [c for i, c in enumerate(images) if i not in drop]
    return kept, {"duplicates_removed": len(duplicates), "cross_class_removed": len(across),
                  "cross_class_rule": CROSS_CLASS_RULES[cross_class], "duplicates": duplicates, "cross_class": across}


def dpkg_pattern(path: str) -> str:
    """A path as a dpkg-query -S pattern that matches only itself: its glob characters escaped (fonts such as
    "Karla[wght].ttf" would otherwise match nothing)."""
    return re.sub(r"([\\*?\[])", r"\\\1", path)


def debian_packages(paths: list[Path]) -> tuple[dict[str, str], int]:
    """({package: version} of the Debian packages that installed these files, number of files no package owns).

    Asks dpkg-query (-S for the owners, -W for the versions) about each path and, for a link (e.g. one that
    update-alternatives made), about the file it points to; without dpkg-query every file counts as unowned."""
    owners: set[str] = set()
    owned: set[str] = set()
    names = [str(p) for p in paths]
    asked = sorted({*names, *(os.path.realpath(n) for n in names)})
    try:
        for s in range(0, len(asked), DPKG_CHUNK):
            done = subprocess.run(["dpkg-query", "-S", "--", *map(dpkg_pattern, asked[s:s + DPKG_CHUNK])],
                                  capture_output=True, text=True, timeout=120)
            for line in done.stdout.splitlines():  # "pkg1, pkg2: /path"; diversion lines have no ": /"
                if ": /" in line and not line.startswith("diversion"):
                    pkgs, path = line.split(": /", 1)
                    owners.update(p.strip().split(":")[0] for p in pkgs.split(","))
                    owned.add("/" + path)
        if not owners:
            return {}, len(names)
        done = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Version}\n", *sorted(owners)],
                              capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError):  # not a Debian system (no dpkg-query), or it hung
        return {}, len(names)
    versions = dict(line.split("\t", 1) for line in done.stdout.splitlines() if "\t" in line)
    return dict(sorted(versions.items())), sum(n not in owned and os.path.realpath(n) not in owned for n in names)


def png_files(root: Path) -> list[str]:
    """Every .png under root, as POSIX paths relative to it, in the content hash's order."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))


def content_hash(root: str | Path) -> str:
    """The tree's content hash (module docstring: CONTENT_HASH_RULE), from the files on disk."""
    root, h = Path(root), hashlib.sha256()
    for rel in png_files(root):
        with Image.open(root / rel) as im:
            x = np.asarray(im)
            h.update(f"{rel}\0{im.mode}\0{im.width}x{im.height}\n".encode())
        h.update(np.ascontiguousarray(x).tobytes())
    return h.hexdigest()


def safe_name(text: str) -> str:
    """A file name from a relative source path: '/' -> '__', anything but [A-Za-z0-9._+-] -> '_'."""
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._+-") else "_" for ch in text.replace("/", "__"))


def unique_names(images: list[Candidate]) -> None:
    """Make each (class, name) unique in place (safe_name can map two sources to one name): '~2', '~3', ..."""
    seen: Counter = Counter()
    for c in images:
        key = (c.cls, c.name)
        seen[key] += 1
        if seen[key] > 1:
            stem, ext = os.path.splitext(c.name)
            c.name = f"{stem}~{seen[key]}{ext}"


def save_images(tmp: Path, images: list[Candidate]) -> None:
    """Each image as tmp/<class>/<name> (PNG, "L" or "RGB" as its pixels are)."""
    for cls in sorted({c.cls for c in images}):
        (tmp / cls).mkdir()
    for c in tqdm(images, desc="writing PNGs", unit="img", mininterval=1.0):
        Image.fromarray(c.pixels, "L" if c.pixels.ndim == 2 else "RGB").save(tmp / c.cls / c.name, optimize=False)


def _check_out(out: Path, recipe: str) -> bool:
    """True when out exists as an earlier build of this recipe (to be replaced), False when absent; else refused."""
    import json

    if not out.exists() and not out.is_symlink():
        return False
    if out.is_dir() and not out.is_symlink():
        if not any(out.iterdir()):
            return True
        try:
            if json.loads((out / MANIFEST).read_text()).get("recipe") == recipe:
                return True
        except (OSError, ValueError, AttributeError):
            pass
    raise UserError(f"'{out}' already exists and is not an earlier `gan data {recipe}` build; pass another --out "
                    "(nothing was written)")


def write_tree(out: str | Path, recipe: str, build: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """build(tmp) writes the class folders into an empty tmp and returns the manifest; the content hash is added
    from the written files, manifest.json is written, and tmp becomes `out` (module docstring). -> the manifest."""
    out = Path(out).expanduser().absolute()
    replace = _check_out(out, recipe)
    tmp, old = out.parent / f".{out.name}.tmp-{os.getpid()}", out.parent / f".{out.name}.old-{os.getpid()}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        for stale in out.parent.glob(f".{out.name}.tmp-*"):  # left by a killed build
            shutil.rmtree(stale, ignore_errors=True)
        tmp.mkdir()
    except OSError as err:
        raise UserError(f"cannot write under '{out.parent}' ({err.strerror or short_reason(err)}); "
                        "pass another --out") from None
    try:
        manifest = build(tmp)
        manifest["n_images"] = len(png_files(tmp))
        manifest["content_hash"] = content_hash(tmp)
        manifest["content_hash_rule"] = CONTENT_HASH_RULE
        write_json_atomic(tmp / MANIFEST, manifest)
        if replace:
            out.rename(old)
        try:
            tmp.rename(out)
        except OSError:
            if replace:
                old.rename(out)  # the earlier build back under its name
            raise
    except OSError as err:
        raise UserError(f"could not write '{out}' ({err.strerror or short_reason(err)}); free disk space or pass "
                        "another --out (an earlier build there was kept)") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and out.exists():
            shutil.rmtree(old, ignore_errors=True)
    return manifest


def summary(manifest: dict[str, Any], out: Path) -> str:
    """What a build printed: classes and counts, removed and skipped images, the hash, the next command."""
    lines = [f"{manifest['recipe']}: {manifest['n_images']} images in {len(manifest['classes'])} classes at {out}"]
    lines += [f"  {c}: {n}" for c, n in manifest["classes"].items()]
    for c, why in manifest.get("classes_dropped", {}).items():
        lines.append(f"  dropped class {c} ({why})")
    lines.append(f"  removed {manifest['duplicates_removed']} exact duplicates within a class and "
                 f"{manifest['cross_class_removed']} copies of pixels found in another class too "
                 f"({manifest['cross_class_rule']})")
    if manifest["source"]["skipped_by_reason"]:
        lines.append("  skipped: " + ", ".join(f"{n} {why}" for why, n in manifest["source"]["skipped_by_reason"].items()))
    lines.append(f"  content hash {manifest['content_hash']}; manifest {out / MANIFEST}")
    lines.append(f"  next: gan data folder --root {out}")
    return "\n".join(lines)
