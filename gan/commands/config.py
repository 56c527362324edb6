"""`gan config [KEY] [--markdown]`: every config key with its type, default, valid values and help (torch-free)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("config", help="every config key with its type, default, valid values and help")
    c.add_argument("key", nargs="?", metavar="KEY", help="one key or section, e.g. train.device or model")
    c.add_argument("--markdown", action="store_true", help="print the key table as Markdown (docs/config.md)")
    c.set_defaults(fn=run)


def run(a: argparse.Namespace) -> int:
    from gan.config.help import render_markdown, render_text

    print(render_markdown(a.key) if a.markdown else render_text(a.key))  # UserError (exit 2) for an unknown KEY
    return 0
