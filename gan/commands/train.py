"""`gan train CONFIG [key=value ...] [--out DIR]` / `gan train --resume DIR`: one run (gan/train/launch.py)."""

from __future__ import annotations

import argparse

from gan.errors import UserError

EPILOG = "Overrides are dotted config keys, e.g. model.d_act=leaky_relu:0.1 train.seed=3 (see `gan config`)."


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train one run", epilog=EPILOG)
    t.add_argument("config", nargs="?", help="YAML config holding what differs from the defaults")
    t.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. model.d_act=relu")
    t.add_argument("--out", help="run directory (default: runs/<dataset>-D_<act>-G_<act>-s<seed>)")
    t.add_argument("--resume", metavar="DIR", help="continue the run in DIR exactly (from checkpoints/last.pt, or "
                   "prev.pt when last.pt is damaged); train.steps=N may extend it")
    t.add_argument("--restart", action="store_true", help="train DIR again from scratch: its checkpoints, metrics "
                   "and summary are removed; with --resume DIR it keeps DIR's config.yaml, with CONFIG --out DIR it "
                   "takes CONFIG")
    t.set_defaults(fn=run)


def run(a: argparse.Namespace) -> int:
    if a.resume is None and a.config is None:
        raise UserError("gan train needs a CONFIG file (e.g. configs/fashion_mnist.yaml) or --resume DIR")
    config, overrides = a.config, list(a.overrides)
    if config is not None and "=" in config:  # `gan train --resume DIR train.steps=N`: no config file given
        config, overrides = None, [config, *overrides]
    if a.resume is not None and config is not None:
        raise UserError("pass either a CONFIG file or --resume DIR, not both (the resumed run keeps its config)")
    if a.resume is None:  # the config's mistakes and a missing folder of images, before torch loads (seconds)
        check_config(config, overrides)
    from gan.train.launch import main_train

    return main_train(config, overrides, a.out, a.resume, restart=a.restart)


def check_config(config: str | None, overrides: list[str]) -> None:
    """UserError for a bad config file, key or value, or a data.root folder that cannot be trained on; no torch."""
    from gan.config.load import load_config
    from gan.data.folder import check_root

    cfg = load_config(config, overrides)
    if cfg.data.name == "folder":
        check_root(cfg.data.root)
