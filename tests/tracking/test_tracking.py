"""gan/tracking/tracker.py, metrics_log.py, sweep.py, wandb_history.py, dashboard.py: metrics.jsonl and W&B offline runs
agree, W&B failures never stop logging, sweeps render, only tracking.py imports wandb.

Every W&B run here is offline inside tmp_path (conftest points WANDB_* at tmp dirs); nothing reaches the network.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from gan.tracking import dashboard
from gan.cli import build_parser, main
from gan.config.schema import RunConfig
from gan.config.load import apply_overrides, load_config
from gan.errors import UserError
from gan.tracking.metrics_file import read_metrics, truncate_metrics
from gan.study.sweep import agent_command_line, grid_points, load_sweep, sweep
from gan.tracking.tracker import Tracker, resolve_mode
from gan.tracking.wandb_history import read_wandb_history, wandb_run_dirs

REPO = Path(__file__).resolve().parents[2]
FAKE_KEY = "fakekey0123456789abcdef0123456789abcdef01"  # 40 chars like a real key; offline only, never synced


def make_cfg(mode: str = "offline", **over) -> RunConfig:
    return apply_overrides(RunConfig(), {"data.name": "fake", "model.d_act": "relu", "track.wandb": mode,
                                         "track.group": "test-study", **over})


def gradient_grid(h: int = 34, w: int = 66) -> torch.Tensor:
    """uint8 (3, H, W) with structure in every channel (a blank image has std 0)."""
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return torch.stack([x * 255 // w, y * 255 // h, (x + y) % 256]).to(torch.uint8)


def log_rows(tr: Tracker, steps: range) -> list[dict]:
    rows = []
    for s in steps:
        row = {"loss/D": 0.5 + 0.01 * s, "loss/G": torch.tensor(1.0 / (s + 1)), "probe/D/dead_frac": s % 3 / 7,
               "probe/input_grad/hoyer": np.float32(0.25), "perf/step_ms": 3 * s}
        tr.log(row, s)
        rows.append(row)
    return rows


def summary(step: int) -> dict:
    return {"status": "completed", "step": step, "wall_time_s": 1.5, "final": {"loss/D": 1.0, "quality/fcd": 3.0},
            "mean": {"probe/D/dead_frac": 0.1}}


########################################################################################
# offline W&B: what metrics.jsonl holds is what W&B holds

def test_offline_history_equals_metrics_and_image_is_not_blank(tmp_path):
    run_dir = tmp_path / "run"
    tr = Tracker(make_cfg(), run_dir)
    assert tr.mode == "offline" and tr.run_id
    log_rows(tr, range(1, 21))
    tr.log_image("samples", gradient_grid(), 20)
    tr.log_histogram("probe/input_grad/abs", torch.randn(1000), 20)
    tr.finish(summary(20))

    metrics = read_metrics(run_dir)
    assert [r["step"] for r in metrics] == list(range(1, 21))
    assert all(isinstance(v, (int, float)) for r in metrics for v in r.values())
    history = read_wandb_history(run_dir)
    by_step = {h["step"]: h for h in history if "loss/D" in h}
    assert sorted(by_step) == list(range(1, 21))
    for row in metrics:  # every jsonl row reached W&B with the same keys and equal values
        assert {k: by_step[row["step"]][k] for k in row} == row

    images = [h for h in history if h.get("samples._type") == "image-file"]
    assert len(images) == 1 and images[0]["step"] == 20
    png = np.asarray(Image.open(images[0]["samples.path"]).convert("RGB"))
    assert png.shape == (34, 66, 3) and png.std() > 0
    assert np.array_equal(png, gradient_grid().permute(1, 2, 0).numpy())
    assert any(h.get("probe/input_grad/abs._type") == "histogram" for h in history)
    assert any(h.get("final/samples._type") == "table-file" for h in history)

    assert (run_dir / "summary.json").exists()
    assert [tr.run_id in p.name for p in wandb_run_dirs(run_dir)] == [True]
    assert os.environ["WANDB_DIR"] == str(tmp_path / "wandb_home")  # restored after finish
    assert not (tmp_path / "wandb_home").exists()  # nothing of W&B outside the run dir


def test_disabled_writes_no_wandb_files(tmp_path):
    run_dir = tmp_path / "run"
    for cfg in (make_cfg("disabled"), make_cfg("auto")):  # conftest sets WANDB_MODE=disabled: auto follows it
        tr = Tracker(cfg, run_dir)
        assert tr.mode == "disabled" and tr.run_id is None
        log_rows(tr, range(1, 4))
        tr.log_image("samples", gradient_grid(), 3)
        tr.log_histogram("h", torch.randn(10), 3)
        tr.finish(summary(3))
    assert sorted(p.name for p in run_dir.iterdir()) == ["metrics.jsonl", "summary.json"]
    assert len(read_metrics(run_dir)) == 6


def test_disabled_rank_writes_nothing(tmp_path):
    tr = Tracker(make_cfg(), tmp_path / "run", run_id="abc123", enabled=False)
    log_rows(tr, range(1, 3))
    tr.log_image("samples", gradient_grid(), 2)
    tr.finish(summary(2))
    assert tr.run_id == "abc123" and not (tmp_path / "run").exists()


def test_resume_keeps_run_id_and_history(tmp_path):
    run_dir = tmp_path / "run"
    first = Tracker(make_cfg(), run_dir)
    log_rows(first, range(1, 6))
    first.finish(summary(5))
    second = Tracker(make_cfg(**{"train.steps": 4000}), run_dir, run_id=first.run_id)
    assert second.run_id == first.run_id
    log_rows(second, range(6, 11))
    second.finish(summary(10))

    parts = wandb_run_dirs(run_dir)
    assert len(parts) == 2 and all(first.run_id in p.name for p in parts)  # a same-second restart adds "-1"
    history = [h for h in read_wandb_history(run_dir) if "loss/D" in h]
    assert [h["step"] for h in history] == list(range(1, 11))
    assert [h["_part"] for h in history] == [0] * 5 + [1] * 5
    assert [r["step"] for r in read_metrics(run_dir)] == list(range(1, 11))


########################################################################################
# W&B failures: one warning, then metrics.jsonl alone

def _warnings(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "gan.tracking.tracker" and r.levelno == logging.WARNING]


def test_wandb_error_mid_run_warns_once_and_logging_goes_on(tmp_path, monkeypatch, caplog):
    run_dir = tmp_path / "run"
    tr = Tracker(make_cfg(), run_dir)
    log_rows(tr, range(1, 4))

    def broken(*args, **kwargs):
        raise ConnectionError("W&B backend went away")

    monkeypatch.setattr(tr._run, "log", broken)
    with caplog.at_level(logging.WARNING, logger="gan.tracking.tracker"):
        log_rows(tr, range(4, 9))
        tr.log_image("samples", gradient_grid(), 8)
        tr.log_histogram("h", torch.randn(10), 8)
        tr.finish(summary(8))
    assert len(_warnings(caplog)) == 1 and "ConnectionError" in _warnings(caplog)[0].getMessage()
    assert [r["step"] for r in read_metrics(run_dir)] == list(range(1, 9))
    assert (run_dir / "summary.json").exists() and tr.run_id  # the id stays for a resume
    assert [h["step"] for h in read_wandb_history(run_dir) if "loss/D" in h] == [1, 2, 3]  # closed cleanly


def test_wandb_init_error_warns_once(tmp_path, monkeypatch, caplog):
    import wandb

    def broken_init(*args, **kwargs):
        raise RuntimeError("init timed out")

    monkeypatch.setattr(wandb, "init", broken_init)
    with caplog.at_level(logging.WARNING, logger="gan.tracking.tracker"):
        tr = Tracker(make_cfg(), tmp_path / "run", run_id="keepme1")
        log_rows(tr, range(1, 4))
        tr.finish(summary(3))
    assert len(_warnings(caplog)) == 1 and tr.run_id == "keepme1"
    assert len(read_metrics(tmp_path / "run")) == 3


def test_wandb_missing_warns_once(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError
    with caplog.at_level(logging.WARNING, logger="gan.tracking.tracker"):
        tr = Tracker(make_cfg(), tmp_path / "run")
        log_rows(tr, range(1, 3))
        tr.finish(summary(2))
    assert len(_warnings(caplog)) == 1 and "pip install wandb" in _warnings(caplog)[0].getMessage()
    assert len(read_metrics(tmp_path / "run")) == 2


def test_no_api_key_in_run_files(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)  # only with an explicit offline mode: never online, never sync
    cfg = make_cfg("offline")
    assert resolve_mode(cfg.track.wandb) == "offline"
    run_dir = tmp_path / "run"
    tr = Tracker(cfg, run_dir)
    log_rows(tr, range(1, 4))
    tr.log_image("samples", gradient_grid(), 3)
    tr.finish(summary(3))
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".wandb" for p in files)
    assert not [p for p in files if FAKE_KEY.encode() in p.read_bytes()]


def test_resolve_mode(monkeypatch):
    for var in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_SWEEP_ID", "WANDB_DISABLED"):
        monkeypatch.delenv(var, raising=False)
    assert resolve_mode("auto") == "offline"
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    assert resolve_mode("auto") == "online"
    monkeypatch.setenv("WANDB_MODE", "dryrun")
    assert resolve_mode("auto") == "offline"  # WANDB_MODE wins over auto ...
    assert resolve_mode("disabled") == "disabled"  # ... but not over an explicit setting


########################################################################################
# metrics.jsonl

def test_torn_last_line_is_dropped_and_repaired(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "a": 1.0}\n{"step": 2, "a": NaN}\n{"step": 3, "a"')
    rows = read_metrics(tmp_path)
    assert [r["step"] for r in rows] == [1, 2] and math.isnan(rows[1]["a"])
    tr = Tracker(make_cfg("disabled"), tmp_path)
    tr.log({"a": 4}, 4)
    tr.finish(summary(4))
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2, 4]
    assert truncate_metrics(tmp_path, 2) == 2 and [r["step"] for r in read_metrics(tmp_path)] == [1, 2]


########################################################################################
# sweeps

def test_sweep_agent_command_line_is_a_valid_gan_train(monkeypatch, capsys):
    monkeypatch.chdir(REPO)  # agents run from the repo root: the base path is relative to it
    sweep_cfg = load_sweep("configs/sweep/activations.yaml")
    points = grid_points(sweep_cfg)
    assert len(points) == 6 and {p["model.d_act"] for p in points} == {"relu", "leaky_relu:0.2"}
    for params in (points[0], points[-1]):
        argv = agent_command_line(sweep_cfg, params)
        assert argv[:4] == ["/usr/bin/env", "gan", "train", "configs/fashion_mnist.yaml"]
        assert argv[4:] == [f"{k}={v}" for k, v in params.items()]
        args = build_parser().parse_args(argv[2:])  # what `gan train` itself parses
        cfg = load_config(args.config, args.overrides)
        assert (cfg.model.d_act, cfg.train.seed) == (params["model.d_act"], params["train.seed"])
        assert cfg.track.group == "activations"

    assert sweep("configs/sweep/activations.yaml", create=False) == 0
    printed = yaml.safe_load(capsys.readouterr().out)  # the printed sweep is valid YAML for `wandb sweep`
    assert printed["method"] == "grid" and "base" not in printed
    assert printed["command"][-1] == "${args_no_hyphens}"


def test_sweep_rejects_bad_values(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"base: {REPO / 'configs/fake.yaml'}\nparameters:\n  model.d_act: [relu, swishy]\n")
    with pytest.raises(UserError, match="model.d_act"):
        load_sweep(str(bad))


def test_sweep_create_without_key_is_one_sentence(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc from `wandb login`
    for var in ("WANDB_API_KEY", "WANDB_MODE", "NETRC"):
        monkeypatch.delenv(var, raising=False)
    assert main(["sweep", "configs/sweep/activations.yaml", "--create"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --create needs a W&B API key") and len(err.splitlines()) == 1


def test_dashboard_offline_or_without_package_is_one_message(monkeypatch, capsys):
    assert dashboard.dashboard("gan-activations", None) == 2  # conftest: WANDB_MODE=disabled
    assert "needs W&B online" in capsys.readouterr().err
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)  # safe: the import fails before anything goes online
    monkeypatch.setitem(sys.modules, "wandb_workspaces", None)
    assert dashboard.dashboard("gan-activations", None) == 2
    assert "pip install wandb-workspaces" in capsys.readouterr().err


########################################################################################
# one module owns the wandb dependency

def _imported_modules(path: Path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    return {n.split(".")[0] for n in names}


def test_only_tracking_imports_wandb_and_only_dashboard_wandb_workspaces():
    importers = {p.relative_to(REPO).as_posix(): _imported_modules(p) for p in sorted((REPO / "gan").rglob("*.py"))}
    assert [n for n, mods in importers.items() if "wandb" in mods] == ["gan/tracking/tracker.py"]
    assert [n for n, mods in importers.items() if "wandb_workspaces" in mods] == ["gan/tracking/dashboard.py"]
