"""The README's code map names every module in gan/ (a new module without a line there fails here)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_code_map_names_every_module():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Code map", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([a-z_]+\.py)`", section))
    modules = {p.name for p in (ROOT / "gan").glob("*.py")} - {"__init__.py", "__main__.py"}
    assert modules - named == set(), f"modules missing from README's code map: {sorted(modules - named)}"
    assert named - modules == set(), f"code map names modules that do not exist: {sorted(named - modules)}"
