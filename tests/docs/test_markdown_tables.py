"""Every Markdown table in README.md and docs/*.md has as many cells in each row as in its header.

A bare `|` inside a cell (say a type written `str | null`) splits it in two: GitHub then drops the row's last
cell. Rows are split the way markdown-it-py (GitHub-flavoured tables) splits them: `\\|` is a pipe inside a cell,
also inside a code span; an unescaped `|` splits the cell even inside a code span, as it does on GitHub.
A header whose cell count differs from its delimiter row (`|---|---|`) is no table at all: it renders as text,
so a delimiter row outside any parsed table is reported too.
"""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt
from markdown_it.rules_block.table import escapedSplit

from conftest import REPO

MD = MarkdownIt("commonmark").enable("table")
DELIMITER_ROW = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)+\|?\s*$")
NOT_TEXT = ("fence", "code_block", "html_block")  # what looks like a table in these is not one


def cells(line: str) -> list[str]:
    """A table row's cells as markdown-it-py splits them (the outer pipes are not cells)."""
    columns = escapedSplit(line.strip())
    if columns and columns[0] == "":
        columns.pop(0)
    if columns and columns[-1] == "":
        columns.pop()
    return columns


def table_problems(text: str) -> list[str]:
    """One line per row whose cell count differs from its header's, and per delimiter row of no table."""
    lines = text.splitlines()
    problems, covered = [], set()
    header: int | None = None
    for token in MD.parse(text):
        if token.type == "table_open" or token.type in NOT_TEXT:
            covered.update(range(*token.map))
        if token.type == "thead_open":
            header = len(cells(lines[token.map[0]]))
        if token.type == "tr_open" and header is not None and token.map[0] > 0:
            n = len(cells(lines[token.map[0]]))
            if n != header:
                problems.append(f"line {token.map[0] + 1}: {n} cells under a {header}-cell header: "
                                f"{lines[token.map[0]].strip()[:100]}")
        if token.type == "table_close":
            header = None
    for i, line in enumerate(lines):
        if i not in covered and DELIMITER_ROW.match(line) and "|" in line:
            problems.append(f"line {i + 1}: a delimiter row that starts no table (its header has another cell "
                            f"count): {line.strip()[:100]}")
    return problems


PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_table_row_has_as_many_cells_as_its_header(page):
    assert table_problems(page.read_text()) == [], f"{page.name}: escape a | inside a cell as \\|"


def test_the_check_finds_what_a_renderer_would_break():
    ok = ("| key | type | meaning |\n|---|---|---|\n"
          "| `name` | str \\| null | run name |\n"
          "| `a \\| b` | `str` | a pipe escaped in a code span is one cell |\n"
          "\n```\n| a | b |\n|---|\n```\n")
    assert table_problems(ok) == []
    bare = "| key | type | meaning |\n|---|---|---|\n| `name` | str | null | run name |\n"
    assert table_problems(bare) == ["line 3: 4 cells under a 3-cell header: | `name` | str | null | run name |"]
    in_code = "| key | meaning |\n|---|---|\n| `a | b` | a bare pipe splits a code span too |\n"
    assert len(table_problems(in_code)) == 1
    header_off = "| key | type | meaning |\n|---|---|\n| a | b |\n"  # 3 header cells, 2 delimiters: not a table
    assert table_problems(header_off) == ["line 2: a delimiter row that starts no table (its header has another "
                                          "cell count): |---|---|"]
