"""`gan sweep SWEEP.yaml [--create]`: a W&B grid sweep whose agents (on any machine) run `gan train`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    sw = sub.add_parser("sweep", help="a W&B grid sweep whose agents run `gan train`")
    sw.add_argument("sweep", metavar="SWEEP.yaml", help="sweep file, e.g. configs/sweep/activations.yaml")
    sw.add_argument("--create", action="store_true", help="register the sweep with W&B (needs network and an API key)")
    sw.set_defaults(fn=run)


def run(a: argparse.Namespace) -> int:
    from gan.study.sweep import sweep

    return sweep(a.sweep, create=a.create)
