"""metrics.jsonl: a run's own record of every logged step, written and read back without W&B.

One JSON row per logged step (`{"step": N, ...}`), appended and flushed as training goes; a crash
can only tear the last line, which `repair_tail` fixes before the next append. `summarize` gives the final and
mean values gan/tracking/summary_file.py writes into summary.json at the end of a run. Strict JSON: a non-finite
value (a diverged loss) is written as null, and `read_metrics` gives it back as NaN; summary.json's `nonfinite`
names the keys.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
from pathlib import Path
from typing import Any

from gan.files.atomic import json_safe, write_text_atomic
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
