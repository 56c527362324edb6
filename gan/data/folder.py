"""Your own images as a dataset: a folder (searched recursively) or a .zip of PNG / JPEG / WebP / BMP files.

    ds = load_folder("photos/", image_size=64)    # decoded once on all cores, then cached
    ds.train_images, ds.train_labels               # torch uint8 (N_train, C, S, S), int64 (N_train,)
    ds.test_images, ds.test_labels                 # the fixed held-out split quality is measured on

Layout: ROOT/<class>/**/<image> (ImageFolder) gives labels, classes sorted by name, when every image lies in
a first-level subfolder and there are two or more; else labels are -1 and num_classes 0. Images all under
one subfolder (a zip of "mydata/...") are read from it. ".*" and "__MACOSX" are skipped; files without an
image extension (case-insensitive) are counted and ignored.

Pixels: gan/data/folder_decode.py (8-bit RGB, shorter side to S and centre crop, "auto" channels).

Cache: CACHE_ROOT/folder-<name>-<S>px-<channels>-<key16>/: images.npy uint8 (N, C, S, S) (training rows,
then held-out rows, each in file order), labels.npy int64 (N,), names.txt, manifest.json, meta.json.
key = sha256(FORMAT_VERSION, S, requested channels, each image's relative name, size and mtime_ns; zip:
member name, size, CRC). It is written to a temporary folder renamed into place when complete, so a failed
or killed preparation never replaces a good cache; caches of the root's earlier contents are deleted
only once the new one is complete.

Held-out split: max(ceil(10% N), min(500, N // 2)) images (10%, at least 500 while as many remain to train
on), stratified when labelled (largest-remainder quotas; every class keeps a training image). In each class
the images with the smallest sha256(SPLIT_SEED/relative name) are held out: fixed, independent of file
order, seeds and machine, and a file added or removed moves only images at the boundary. MIN_IMAGES = 400:
with fewer, the held-out half (< 200) is barely larger than the 128 features a Frechet distance fits a
covariance to, and G would see fewer than 4 batches of 64 an epoch.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import sys
import time
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from gan.data.folder_decode import PARALLEL_MIN, decode_all  # noqa: F401 (PARALLEL_MIN: re-exported)
from gan.files.lock import wait_lock
from gan.errors import UserError

FORMAT_VERSION = 1  # bump when decoding, layout or split rules change: old caches are then prepared again
EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
MAX_CORRUPT, MIN_IMAGES = 0.10, 400
HELD_OUT_SHARE, HELD_OUT_MIN, SPLIT_SEED = 0.10, 500, 20240
MMAP_MIN_BYTES = 64 << 20  # larger images.npy are memory-mapped, smaller ones read into RAM
Entry = tuple[str, int, int]  # (relative name, size, mtime_ns or CRC)


def _fail_read(path: Path, err: OSError) -> UserError:
    why = "permission denied" if isinstance(err, PermissionError) else err.strerror or type(err).__name__
    return UserError(f"cannot read '{path}' ({why}); make it readable (e.g. chmod -R u+rX) or pass another path")


def _hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def _list_dir(root: Path, limit: int | None = None) -> tuple[list[Entry], int]:
    """Every image file under root (links followed, each folder once) and the count of other files; with `limit`,
    the listing may stop once that many images are found (a count that is enough, not the list)."""
    entries, ignored, stack, seen = [], 0, [""], {(root.stat().st_dev, root.stat().st_ino)}
    while stack and (limit is None or len(entries) < limit):
        rel = stack.pop()
        try:
            with os.scandir(root / rel) as it:
                items = [e for e in it if not _hidden(e.name)]
        except OSError as err:
            raise _fail_read(root / rel, err) from None
        for e in items:
            r = f"{rel}/{e.name}" if rel else e.name
            try:
                st = e.stat()  # follows links; a broken link raises and counts as another file
            except OSError:
                ignored += 1
                continue
            if e.is_dir():
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    stack.append(r)
            elif e.name.lower().endswith(EXTENSIONS):
                entries.append((r, st.st_size, st.st_mtime_ns))
            else:
                ignored += 1
    return sorted(entries), ignored


def _list_zip(path: Path) -> tuple[list[Entry], int]:
    try:
        with zipfile.ZipFile(path) as z:
            infos = [i for i in z.infolist() if not i.is_dir() and not any(map(_hidden, i.filename.split("/")))]
    except OSError as err:
        raise _fail_read(path, err) from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise UserError(f"'{path}' is not a readable zip file; pass a folder of images or a zip of them "
                        "(e.g. `cd DIR && zip -0 -r ../images.zip .`)") from None
    entries = [(i.filename, i.file_size, i.CRC) for i in infos if i.filename.lower().endswith(EXTENSIONS)]
    return sorted(entries), len(infos) - len(entries)


def _layout(names: list[str]) -> tuple[int, np.ndarray, list[str]]:
    """(length of the common single-folder prefix to drop, labels int64 (N,) or -1s, class names)."""
    parts = [n.split("/") for n in names]
    depth = 0  # while every image lies under one same subfolder, look into it
    while all(len(p) > depth + 1 for p in parts) and len({p[depth] for p in parts}) == 1:
        depth += 1
    prefix = sum(len(p) + 1 for p in parts[0][:depth])
    tops = [p[depth] if len(p) > depth + 1 else None for p in parts]  # None: directly in the root
    classes = sorted(set(tops)) if None not in tops and len(set(tops)) >= 2 else []
    index = {c: i for i, c in enumerate(classes)}
    return prefix, np.array([index.get(t, -1) for t in tops], dtype=np.int64), classes


def cache_key(kind: str, entries: list[Entry], image_size: int, channels: int | str) -> str:
    """sha256 hex of everything a prepared folder depends on (module docstring)."""
    h = hashlib.sha256(f"gan-folder v{FORMAT_VERSION} {kind} size={image_size} channels={channels}\n".encode())
    for name, size, stamp in entries:
        h.update(f"{name}\0{size}\0{stamp}\n".encode())
    return h.hexdigest()


########################################################################################
# the held-out split

def held_out_size(n: int) -> int:
    """Images held out of n: 10%, and at least 500 while that leaves as many to train on."""
    return max(math.ceil(n * HELD_OUT_SHARE), min(HELD_OUT_MIN, n // 2))


def split_rows(names: list[str], labels: np.ndarray, seed: int = SPLIT_SEED) -> np.ndarray:
    """bool (N,), True for held-out rows; stratified by labels (all -1: one group)."""
    n_test, groups = held_out_size(len(names)), {int(c): np.flatnonzero(labels == c) for c in np.unique(labels)}
    exact = {c: n_test * len(rows) / len(names) for c, rows in groups.items()}
    quota = {c: min(int(exact[c]), len(rows) - 1) for c, rows in groups.items()}
    room = sorted((c for c in groups if quota[c] < len(groups[c]) - 1), key=lambda c: (int(exact[c]) - exact[c], c))
    while sum(quota.values()) < n_test and room:  # largest remainders first, then round again
        for c in list(room):
            if sum(quota.values()) < n_test:
                quota[c] += 1
            if quota[c] >= len(groups[c]) - 1:
                room.remove(c)
    test = np.zeros(len(names), bool)
    for c, rows in groups.items():
        ranked = sorted(rows, key=lambda r: hashlib.sha256(f"{seed}/{names[r]}".encode()).digest())
        test[ranked[:quota[c]]] = True
    return test


########################################################################################
# the dataset and its cache

def _tensor(a: np.ndarray):
    import torch

    return torch.from_numpy(a)


@dataclass
class FolderDataset:
    """A prepared folder. images: uint8 (N, C, S, S), training rows first (memory-mapped when large);
    labels: int64 (N,), -1 when unlabelled. The tensor properties share memory with them (no copies)."""

    root: Path
    cache_dir: Path
    images: np.ndarray
    labels: np.ndarray
    meta: dict
    from_cache: bool  # False when this call decoded the folder
    ignored: int  # non-image files, counted when the folder was listed by this call

    n_train = property(lambda self: int(self.meta["n_train"]))
    image_size = property(lambda self: int(self.meta["image_size"]))
    channels = property(lambda self: int(self.meta["channels"]))
    class_names = property(lambda self: list(self.meta["class_names"]))
    num_classes = property(lambda self: len(self.meta["class_names"]))  # 0: unlabelled
    skipped = property(lambda self: [tuple(s) for s in self.meta["skipped"]])  # (name, why)
    key = property(lambda self: str(self.meta["key"]))
    # torch only here, imported on use: check_root (and `gan data folder`'s refusals) run before torch is loaded
    train_images = property(lambda self: _tensor(self.images[:self.n_train]))
    test_images = property(lambda self: _tensor(self.images[self.n_train:]))
    train_labels = property(lambda self: _tensor(self.labels[:self.n_train]))
    test_labels = property(lambda self: _tensor(self.labels[self.n_train:]))

    def names(self) -> list[str]:
        """Each row's file, relative to the root."""
        return (self.cache_dir / "names.txt").read_text().splitlines()

    def summary(self) -> str:
        m, n = self.meta, len(self.labels)
        out = [f"{self.root} ({m['kind']}): {n} images ({m['n_train']} train, {n - m['n_train']} held out), "
               f"{m['image_size']}x{m['image_size']}, {m['channels']} channels (asked: {m['channels_requested']})"]
        counts = np.bincount(self.labels, minlength=self.num_classes) if self.num_classes else []
        out += [f"  {c}: {k}" for c, k in zip(m["class_names"], counts)] or ["  unlabelled (no ROOT/<class>/ layout)"]
        if m["skipped"]:
            out.append(f"  skipped {len(m['skipped'])} unreadable files: "
                       + ", ".join(f"{f} ({why})" for f, why in m["skipped"][:5]) + (", ..." * (len(m["skipped"]) > 5)))
        out += [f"  ignored {self.ignored} files that are not PNG, JPEG, WebP or BMP"] * bool(self.ignored)
        out += [f"  upscaled {m['n_upscaled']} images smaller than {m['image_size']} px"] * bool(m["n_upscaled"])
        how = "reused" if self.from_cache else f"prepared in {m['prepare_s']:.1f} s"
        return "\n".join(out + [f"  cache: {self.cache_dir} ({how})"])


def _open_cache(d: Path, key: str, mmap: bool | None) -> tuple[np.ndarray, np.ndarray, dict] | None:
    """(images, labels, meta) of the complete cache d made for this key; None if absent or damaged."""
    try:
        meta = json.loads((d / "meta.json").read_text())
        big = (d / "images.npy").stat().st_size >= MMAP_MIN_BYTES
        # "c" (copy-on-write) rather than "r": torch wants writable arrays; the file is never written either way
        images = np.load(d / "images.npy", mmap_mode="c" if (big if mmap is None else mmap) else None)
        labels, s, c = np.load(d / "labels.npy"), meta["image_size"], meta["channels"]
        if meta["key"] != key or images.shape != (len(labels), c, s, s) or labels.dtype != np.int64:
            raise ValueError("not the cache of this folder")
        return images, labels, meta
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        warnings.warn(f"folder cache '{d}' is damaged; preparing the folder again", stacklevel=3)
        return None


def _changes(old_dir: Path, entries: list[Entry]) -> str:
    old = {n: (a, b) for n, a, b in json.loads((old_dir / "manifest.json").read_text())}
    new = {n: (a, b) for n, a, b in entries}
    modified = sum(old[n] != new[n] for n in new.keys() & old.keys())
    return f"{len(new.keys() - old.keys())} added, {len(old.keys() - new.keys())} removed, {modified} modified"


def check_root(root: str | Path) -> None:
    """The mistakes load_folder refuses before decoding anything (no such path, a file that is no zip, no images,
    too few), found by listing at most MIN_IMAGES images: a command calls it before importing torch, which takes
    seconds on a busy machine, so a mistyped path is answered at once."""
    root = Path(root).expanduser().absolute()
    if not root.exists():
        raise UserError(f"'{root}' does not exist; pass a folder of images or a .zip of them")
    if root.is_file() and root.suffix.lower() != ".zip":
        raise UserError(f"'{root}' is a file but not a .zip; pass a folder of images or a .zip of them")
    entries, ignored = _list_zip(root) if root.is_file() else _list_dir(root, limit=MIN_IMAGES)
    _check_count(root, entries, ignored)


def _check_count(root: Path, entries: list[Entry], ignored: int) -> None:
    if not entries:
        raise UserError(f"'{root}' is empty; put PNG, JPEG, WebP or BMP images in it" if not ignored else
                        f"'{root}' has no PNG, JPEG, WebP or BMP image ({ignored} other files ignored); "
                        "put images in it or pass the folder that holds them")
    if len(entries) < MIN_IMAGES:
        raise UserError(f"'{root}' has {len(entries)} images but at least {MIN_IMAGES} are needed "
                        f"({held_out_size(MIN_IMAGES)} of them are held out to measure quality); add images")


def load_folder(root: str | Path, image_size: int, channels: int | str = "auto",
                cache_root: str | Path | None = None, *, workers: int | None = None,
                mmap: bool | None = None) -> FolderDataset:
    """The folder or .zip at `root` at image_size (32 or 64) and channels (1, 3 or "auto"), prepared once.

    cache_root: default $GAN_CACHE_DIR, else data/.gan_cache (gan.files.layout.cache_dir's rule for data.root=data).
    workers: decoding processes (default: the CPUs this process may use). mmap: memory-map images.npy
    (default: when it has at least MMAP_MIN_BYTES). Every bad input raises one UserError sentence.
    """
    if image_size not in (32, 64) or channels not in (1, 3, "auto"):
        raise UserError(f"image_size must be 32 or 64 and channels 1, 3 or auto, not {image_size} and {channels!r}")
    root = Path(root).expanduser().absolute()
    if not root.exists():
        raise UserError(f"'{root}' does not exist; pass a folder of images or a .zip of them")
    is_zip = root.is_file()
    if is_zip and root.suffix.lower() != ".zip":
        raise UserError(f"'{root}' is a file but not a .zip; pass a folder of images or a .zip of them")
    entries, ignored = _list_zip(root) if is_zip else _list_dir(root)
    _check_count(root, entries, ignored)
    kind = "zip" if is_zip else "folder"
    key = cache_key(kind, entries, image_size, channels)
    cache_root = Path(cache_root or os.environ.get("GAN_CACHE_DIR") or "data/.gan_cache")
    stem = f"folder-{re.sub(r'[^A-Za-z0-9_.-]+', '_', root.stem)[:40]}-{image_size}px-{channels}"
    final = cache_root / f"{stem}-{key[:16]}"
    held = contextlib.ExitStack()
    try:  # parallel study jobs prepare a folder once, not once each
        held.enter_context(wait_lock(cache_root / f".{final.name}"))
    except OSError as err:
        raise UserError(f"cannot write the folder cache under '{cache_root}' ({err.strerror}); "
                        "set GAN_CACHE_DIR to a writable folder") from None
    with held:
        if found := _open_cache(final, key, mmap):
            return FolderDataset(root, final, *found, from_cache=True, ignored=ignored)
        earlier = []  # complete caches of this root at this size and channels, for other contents
        for d in cache_root.glob(f"{stem}-*"):
            with contextlib.suppress(OSError, ValueError, KeyError):
                if d != final and json.loads((d / "meta.json").read_text())["root"] == str(root):
                    earlier.append((d, _changes(d, entries)))
        # said once the images decoded and passed the checks: a refusal (too many corrupt files) comes alone
        announce = (f"folder changed since it was prepared ({earlier[0][1]}): preparing again" if earlier else
                    f"preparing '{root}': {len(entries)} images at {image_size} px (once; cached in {final})")
        tmp = cache_root / f".{final.name}.tmp-{os.getpid()}"
        for stale in [*cache_root.glob(f".{final.name}.tmp-*"), final]:  # left by a kill, or damaged
            shutil.rmtree(stale, ignore_errors=True)
        workers = workers or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
        try:
            tmp.mkdir()
            meta = _prepare(root, is_zip, entries, image_size, channels, tmp, workers, announce)
            (tmp / "manifest.json").write_text(json.dumps(entries))
            (tmp / "meta.json").write_text(json.dumps({**meta, "key": key, "kind": kind, "root": str(root)}))
            tmp.rename(final)
        except OSError as err:
            raise UserError(f"could not write the prepared folder under '{cache_root}' ({err.strerror or err}); "
                            "free disk space or set GAN_CACHE_DIR to another folder") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        for d, _ in earlier:  # only now: a failed preparation above leaves them as they were
            shutil.rmtree(d, ignore_errors=True)
        return FolderDataset(root, final, *_open_cache(final, key, mmap), from_cache=False, ignored=ignored)


def _new_npy(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """A uint8 .npy memory map with its disk space reserved now: a full disk raises OSError here, not
    SIGBUS later when a page of the sparse file is written."""
    out = np.lib.format.open_memmap(path, "w+", np.uint8, shape)
    if hasattr(os, "posix_fallocate"):
        with open(path, "r+b") as fh:
            os.posix_fallocate(fh.fileno(), 0, path.stat().st_size)
    return out


def _prepare(root: Path, is_zip: bool, entries: list[Entry], size: int, channels: int | str, tmp: Path,
             workers: int, announce: str = "") -> dict:
    """Decode every image into tmp/raw.npy (file order, RGB), check them, print `announce`, then write
    tmp/images.npy in split order."""
    start, names, n = time.perf_counter(), [e[0] for e in entries], len(entries)
    raw, errors = _new_npy(tmp / "raw.npy", (n, 3, size, size)), [None] * n
    colour, small = np.zeros(n, bool), np.zeros(n, bool)
    with tqdm(total=n, desc="decoding images", unit="img", disable=n < 5000, mininterval=1.0, leave=False) as bar:
        for s, (x, err, col, sm) in decode_all(root, is_zip, names, size, workers):
            raw[s:s + len(x)], errors[s:s + len(x)], colour[s:s + len(x)], small[s:s + len(x)] = x, err, col, sm
            bar.update(len(x))
    bad = [(names[i], e) for i, e in enumerate(errors) if e is not None]
    ok = np.array([e is None for e in errors])
    first = ", ".join(f"'{f}' ({why})" for f, why in bad[:3])
    if not ok.any():
        raise UserError(f"none of the {n} image files in '{root}' could be decoded (e.g. {first}); "
                        "check that they are PNG, JPEG, WebP or BMP images")
    if len(bad) > MAX_CORRUPT * n:
        raise UserError(f"{len(bad)} of {n} image files in '{root}' are corrupt or unreadable, more than "
                        f"{MAX_CORRUPT:.0%} (e.g. {first}); repair or remove them and run again")
    if ok.sum() < MIN_IMAGES:
        raise UserError(f"'{root}' has {ok.sum()} readable images but at least {MIN_IMAGES} are needed; add images")
    if announce:
        print(announce, file=sys.stderr, flush=True)
    if bad:
        warnings.warn(f"skipped {len(bad)} corrupt or unreadable of {n} files in '{root}': {first}", stacklevel=3)
    if small[ok].any():
        warnings.warn(f"{small[ok].sum()} images in '{root}' are smaller than {size} px and were upscaled",
                      stacklevel=3)
    c = channels if channels != "auto" else (3 if colour[ok].any() else 1)
    prefix, labels, classes = _layout(names)
    rows = np.flatnonzero(ok)
    test = split_rows([names[r][prefix:] for r in rows], labels[rows])
    order = np.concatenate([rows[~test], rows[test]])
    images = _new_npy(tmp / "images.npy", (len(order), c, size, size))
    for s in range(0, len(order), 4096):  # chunked: the dataset is never in RAM whole
        x = raw[order[s:s + 4096]]
        if c == 1:  # ITU-R 601 luma, rounded as Pillow's "L" does
            x = x.astype(np.uint32)
            x = ((x[:, 0:1] * 299 + x[:, 1:2] * 587 + x[:, 2:3] * 114 + 500) // 1000).astype(np.uint8)
        images[s:s + len(x)] = x
    images.flush()
    del images, raw
    (tmp / "raw.npy").unlink()
    np.save(tmp / "labels.npy", labels[order])
    (tmp / "names.txt").write_text("".join(names[r] + "\n" for r in order))
    return {"version": FORMAT_VERSION, "image_size": size, "channels": c, "channels_requested": channels,
            "n_train": int((~test).sum()), "class_names": classes, "skipped": bad, "n_files": n,
            "n_upscaled": int(small[ok].sum()), "n_colour": int(colour[ok].sum()), "split_seed": SPLIT_SEED,
            "workers": workers, "prepare_s": time.perf_counter() - start}
