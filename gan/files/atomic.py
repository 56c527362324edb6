"""Write a file whole or not at all: the one atomic-write helper every stage uses.

    write_atomic(path, lambda f: torch.save(state, f))      # any writer of a binary file object
    write_text_atomic(path, text); write_json_atomic(path, obj)

The bytes go to a temp file of its own beside the target (a unique name, so parallel study jobs writing the same
cache entry never share one), are flushed and fsynced, and the temp file is renamed over the target: a reader
sees the old file or the new one, whole, and a kill at any moment leaves no torn file under the real name. On
any failure (a full disk) the temp file is removed, so it cannot keep the disk full, and the error goes on up.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable


def write_atomic(path: str | Path, write: Callable[[BinaryIO], Any],
                 before_replace: Callable[[], Any] | None = None) -> None:
    """Call `write(f)` on a binary temp file beside `path`, fsync it, rename it to `path`.

    before_replace: called once the new bytes are safely on disk, just before the rename (the checkpoint
    writer keeps the old last.pt as prev.pt there), so a failed write changes nothing at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    write_atomic(path, lambda f: f.write(text.encode("utf-8")))


def json_safe(obj: Any) -> Any:
    """obj with every NaN / inf float (at any depth) replaced by None: strict JSON readers reject bare NaN."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def write_json_atomic(path: str | Path, obj: Any, indent: int | None = 2) -> None:
    """Strict JSON (NaN / inf written as null; numpy and torch scalars as numbers), atomically."""
    plain = json.loads(json.dumps(obj, default=lambda o: o.item() if hasattr(o, "item") else str(o)))
    write_text_atomic(path, json.dumps(json_safe(plain), indent=indent, allow_nan=False))
