"""`gan eval DIR [key=value ...]`: sample-quality metrics of a saved run, printed and written to DIR/eval.json."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from gan.errors import UserError
from gan.config.schema import DATA_DOWNLOAD, DATA_ROOT

EPILOG = "Overrides are dotted config keys, e.g. eval.n_samples=10000 (model.* and data.name are refused)."


def register(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("eval", help="sample-quality metrics of a saved run", epilog=EPILOG)
    e.add_argument("run", metavar="DIR", help="run directory holding checkpoints/last.pt")
    e.add_argument("overrides", nargs="*", help="eval.* overrides, e.g. eval.n_samples=10000")
    e.set_defaults(fn=run)


def run(a: argparse.Namespace) -> int:
    return eval_run(a.run, list(a.overrides))




def format_table(row: dict[str, float], floor: dict[str, float]) -> str:
    """Aligned text table: metric, value, real-data floor."""
    from gan.measure import metric_keys as mk

    lines = [f"{'metric':<24}{'value':>12}{'real floor':>14}"]
    for key, value in row.items():
        ref = floor.get(mk.reference(key), math.nan)
        lines.append(f"{key:<24}{value:>12.4f}{ref:>14.4f}")
    return "\n".join(lines)


EVAL_MAY_CHANGE = (DATA_ROOT, DATA_DOWNLOAD)  # where the same dataset is found; not what was trained


def _refuse_trained_overrides(overrides: list[str]) -> None:
    """model.* / data.* would score the weights in another network or against another dataset: refuse them."""
    for item in overrides:
        key = item.partition("=")[0].strip()
        if key.split(".")[0] in ("model", "data") and key not in EVAL_MAY_CHANGE:
            raise UserError(f"gan eval cannot override '{key}': it changes what the run was trained as; "
                            "pass only eval.*, train.device, train.precision or data.root overrides")


def eval_run(run_dir: str | Path, overrides: list[str] | None = None) -> int:
    """`gan eval DIR [key=value ...]`: metrics of DIR/checkpoints/last.pt, printed and written to DIR/eval.json."""
    from gan.config.load import config_to_dict
    from gan.files.atomic import write_json_atomic
    from gan.files.layout import RunDir
    from gan.measure.quality import Evaluator, reference_floor
    from gan.train import distributed
    from gan.train.checkpoint import load_generator

    _refuse_trained_overrides(list(overrides or []))
    trained = load_generator(run_dir, list(overrides or []))
    cfg, ckpt_path, step = trained.cfg, trained.path, trained.step
    layout = RunDir(run_dir if Path(run_dir).is_dir() else ckpt_path.parent.parent)  # DIR/checkpoints/last.pt
    device = distributed.pick_device(cfg.train.device)
    ev = Evaluator(cfg, device)
    G = trained.G.to(device)
    row = ev.evaluate(G, cfg.model.nz)
    floor = reference_floor(cfg, device, evaluator=ev)
    acc = ev.classifier_meta.get("test_acc")
    print(f"{layout.path}: step {step}, {cfg.eval.n_samples} samples, features={ev.kind} "
          f"(network {ev.classifier_meta['sha256'][:12]}"
          + (f", test accuracy {acc:.4f} measured now)" if acc is not None else ")"))
    print(format_table(row, floor))
    result = {"step": step, "checkpoint": str(ckpt_path), "n_samples": cfg.eval.n_samples,
              "features": ev.kind, "classifier": ev.classifier_meta, "metrics": row,
              "reference": floor, "config": config_to_dict(cfg)}
    write_json_atomic(layout.eval_json, result, indent=1)
    return 0
