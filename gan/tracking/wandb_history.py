"""Reading a run's own .wandb log back (offline and online runs both keep one locally under `<run>/wandb/`).

Goes through the `wandb leet inspect` command line in a subprocess, so this module never imports wandb
(gan/tracking/tracker.py is the only one that does).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from gan.files.layout import RunDir


def wandb_run_dirs(run_dir: str | Path) -> list[Path]:
    """`<run_dir>/wandb/{offline-,}run-<time>-<id>` folders in start order (a resume adds one)."""
    found = [p for p in RunDir(run_dir).wandb.glob("*run-*") if p.is_dir() and not p.is_symlink()
             and p.name.split("run-", 1)[0] in ("", "offline-")]
    return sorted(found, key=lambda p: p.name.split("run-", 1)[1])


def read_wandb_history(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every history row W&B recorded, in order, via `wandb leet inspect --json` (wandb >= 0.31).

    Keys come back dot-flattened (an image is `samples._type`, `samples.path`, ...); media paths
    are made absolute. Each row also gets `_part`: which run folder (0, 1 after a resume, ...) it is from.
    """
    rows: list[dict[str, Any]] = []
    env = {**os.environ, "WANDB_DIR": str(run_dir), "WANDB_ERROR_REPORTING": "false"}
    for part, d in enumerate(wandb_run_dirs(run_dir)):
        out = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(d)],
                             capture_output=True, text=True, timeout=300, env=env)
        if out.returncode != 0:
            raise RuntimeError(f"`wandb leet inspect` failed on {d}: {out.stderr.strip()[:300]}")
        for line in out.stdout.splitlines():
            rec = json.loads(line) if line.startswith("{") else {}
            if rec.get("type") != "history":
                continue
            item = rec["history"]["item"]
            for k, v in item.items():
                if k.endswith(".path") and isinstance(v, str) and (d / "files" / v).exists():
                    item[k] = str(d / "files" / v)
            rows.append({**item, "_part": part})
    return rows
