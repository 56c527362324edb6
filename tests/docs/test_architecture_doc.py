"""docs/architecture.md names every module in gan/ by its path, and names no module that does not exist
(a new module without a line there fails here, and so does a stale one after a move)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_architecture_doc_names_every_module():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`(gan/[a-z0-9_/]+\.py)`", doc))
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "gan").rglob("*.py") if p.name != "__init__.py"}
    assert sorted(modules - named) == [], "modules missing from docs/architecture.md"
    assert sorted(named - modules) == [], "docs/architecture.md names modules that do not exist"
