"""metrics.jsonl: a run's own record of every logged step, written and read back without W&B; the one module that
reads it, plain or packed (metrics.jsonl.gz).

    rows = read_metrics(run_dir)       # every row, NaN for null; metrics.jsonl, else metrics.jsonl.gz (a committed run)
    step = last_step(run_dir)          # the last row's step, from the tail of the file a running run appends to
    final, mean = summarize(rows)      # what gan/tracking/summary_file.py writes into summary.json at the end
    compress_metrics(run_dir); restore_metrics(run_dir)   # `gan pack` and `gan pack --unpack`

One JSON row per logged step (`{"step": N, ...}`), appended and flushed as training goes (gan/tracking/tracker.py);
a crash can only tear the last line, which `repair_tail` fixes before the next append. Strict JSON: a non-finite
value (a diverged loss) is written as null, and `read_metrics` gives it back as NaN; summary.json's `nonfinite`
names the keys.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import os
import shutil
from pathlib import Path
from typing import Any, BinaryIO

from gan.files.atomic import json_safe, write_atomic, write_text_atomic
from gan.files.layout import RunDir
from gan.measure.metric_keys import PROBE

log = logging.getLogger(__name__)

STEP_KEY = "step"  # the x-axis every panel shares (define_metric), also the first field of a jsonl row


def repair_tail(path: Path) -> None:
    """A crash mid-write leaves a torn last line: complete it if it parses, else cut it, so appends stay valid."""
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return
    head, sep, tail = data.rpartition(b"\n")
    try:
        json.loads(tail)
        with open(path, "ab") as f:
            f.write(b"\n")
    except ValueError:
        with open(path, "r+b") as f:
            f.truncate(len(head) + len(sep))


TAIL_BYTES = 8192  # far more than one metrics row (~2 KB with probes)


def last_step(run_dir: str | Path) -> int | None:
    """The step of the last complete row of the run's metrics.jsonl, read from its tail while the run appends to it
    (`gan study`'s step bars); None before its first row."""
    try:
        with open(RunDir(run_dir).metrics, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - TAIL_BYTES))
            tail = f.read()
    except OSError:
        return None
    lines = tail.split(b"\n")[:-1]  # the part after the last newline is a row still being written
    for line in reversed(lines):
        try:
            row = json.loads(line)
        except ValueError:  # the first, cut line of the tail
            continue
        if isinstance(row, dict) and isinstance(row.get(STEP_KEY), int):
            return row[STEP_KEY]
    return None


def compress_metrics(run_dir: str | Path) -> bool:
    """metrics.jsonl.gz beside metrics.jsonl (`gan pack`), unless it is already newer; True when written. mtime=0 and
    the header's file name fixed: the same rows give the same bytes wherever they are packed (no git churn)."""
    run = RunDir(run_dir)
    src, dst = run.metrics, run.metrics_gz
    if not src.is_file() or (dst.is_file() and dst.stat().st_mtime >= src.stat().st_mtime):
        return False

    def write(raw: BinaryIO) -> None:
        with src.open("rb") as f, gzip.GzipFile(filename=dst.name, fileobj=raw, mode="wb", mtime=0) as g:
            shutil.copyfileobj(f, g)

    write_atomic(dst, write)
    return True


def restore_metrics(run_dir: str | Path) -> bool:
    """metrics.jsonl back from metrics.jsonl.gz when only the packed file is there (`gan pack --unpack`); True when
    restored."""
    run = RunDir(run_dir)
    if not run.metrics_gz.is_file() or run.metrics.is_file():
        return False
    with gzip.open(run.metrics_gz, "rb") as g:
        write_atomic(run.metrics, lambda f: shutil.copyfileobj(g, f))
    return True


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """Rows of metrics.jsonl, null read back as NaN (a torn last line is dropped; a damaged one inside is skipped).

    The one reader of a run's metrics: training, results collection, reports and figures all call it. A run folder
    as committed to git holds only metrics.jsonl.gz (`gan pack`); that is read when metrics.jsonl is absent, so a
    fresh clone's studies re-analyse with their curves (the plain file, when present, is the live one)."""
    run = RunDir(run_dir)
    path = run.metrics if run.metrics.exists() or not run.metrics_gz.is_file() else run.metrics_gz
    if not path.exists():
        return []
    text = gzip.decompress(path.read_bytes()).decode("utf-8") if path == run.metrics_gz else \
        path.read_text(encoding="utf-8")
    lines = text.splitlines()
    rows = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            if i < len(lines) - 1:
                log.warning("%s line %d is not JSON; skipped", path, i + 1)
            continue
        if isinstance(row, dict):  # a bare number or list is not a row (it has no step)
            rows.append({k: math.nan if v is None else v for k, v in row.items()})
        else:
            log.warning("%s line %d is not a JSON object; skipped", path, i + 1)
    return rows


def truncate_metrics(run_dir: str | Path, step: int) -> int:
    """Keep only rows with step <= `step` (a resume recomputes the rest); returns the rows kept."""
    path = RunDir(run_dir).metrics
    if not path.exists():
        return 0
    rows = [r for r in read_metrics(run_dir) if int(r.get(STEP_KEY, 0)) <= step]
    write_text_atomic(path, "".join(json.dumps(json_safe(r), allow_nan=False) + "\n" for r in rows))
    return len(rows)


def summarize(rows: list[dict[str, Any]]) -> tuple[dict[str, float], dict[str, float]]:
    """(last value of every key, mean over rows of every probe/* key) from metrics.jsonl rows."""
    final: dict[str, float] = {}
    sums: dict[str, list[float]] = {}
    for row in rows:
        for k, v in row.items():
            if k == STEP_KEY or not isinstance(v, (int, float)):
                continue
            final[k] = v
            if k.startswith(PROBE):
                sums.setdefault(k, []).append(v)
    return final, {k: sum(v) / len(v) for k, v in sums.items()}
