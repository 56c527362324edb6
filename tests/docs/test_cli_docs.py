"""docs/cli.md shows every command `gan --help` lists (as `gan VERB`): a new verb without a line there fails here."""

from __future__ import annotations

import argparse
import re

from gan.cli import build_parser

from conftest import REPO


def listed_verbs() -> list[str]:
    """The commands `gan --help` lists, read from the parser itself."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return [choice.dest for choice in sub._choices_actions]


def test_gan_help_lists_the_commands():
    verbs = listed_verbs()
    assert {"train", "study", "report", "answer", "config"} <= set(verbs)
    help_text = build_parser().format_help()
    assert all(re.search(rf"^\s+{verb}\s", help_text, re.M) for verb in verbs)


def test_docs_cli_page_shows_every_verb():
    path = REPO / "docs" / "cli.md"
    assert path.exists(), "docs/cli.md (the CLI tour: one `gan VERB` example per command) is missing"
    page = path.read_text()
    missing = [verb for verb in listed_verbs() if not re.search(rf"\bgan {re.escape(verb)}\b", page)]
    assert missing == [], f"docs/cli.md never shows: {', '.join(f'gan {v}' for v in missing)}"
