"""The layering docs/architecture.md states is the one the code has: every `import` in gan/ (module level, inside
functions, under TYPE_CHECKING alike) points to the importer's own row of the package table or a row above it,
and no modules import each other in a circle. The table's order is read from the doc, so the two cannot drift."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TABLE = "## Packages, bottom layer first"


def module_name(path: Path, root: Path) -> str:
    """gan/x/y.py -> gan.x.y; gan/x/__init__.py -> gan.x."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path, package: str = "gan") -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted((root / package).rglob("*.py"))}


def imports(path: Path, name: str, known: set[str]) -> list[tuple[str, int]]:
    """(imported module of `known`, line) of every import in the file, wherever it stands."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from ..y import z
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            for a in node.names:  # from pkg import submodule -> the submodule; from mod import name -> mod
                out.append((f"{base}.{a.name}" if f"{base}.{a.name}" in known else base, node.lineno))
    return [(target, line) for target, line in out if target in known and target != name]


def import_graph(root: Path, package: str = "gan") -> dict[str, list[tuple[str, int]]]:
    mods = modules(root, package)
    return {name: imports(path, name, set(mods)) for name, path in mods.items()}


def circles(graph: dict[str, list[tuple[str, int]]]) -> list[list[str]]:
    """One circle (a -> b -> ... -> a) through each strongly connected group of modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w, _ in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_one_circle(graph, group) for group in groups]


def _one_circle(graph: dict[str, list[tuple[str, int]]], group: set[str]) -> list[str]:
    """A path from the group's first module back to itself inside the group (breadth first: a shortest one)."""
    start = min(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w, _ in sorted(graph[v]):
            if w == start:
                return paths[v] + [start]
            if w in group and w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    raise AssertionError(f"no circle in {group}")


def layers(doc: str) -> list[list[str]]:
    """The package table's rows in order, bottom layer first: each the paths its first column names."""
    section = doc[doc.index(TABLE):]
    rows = []
    for line in section.splitlines()[1:]:
        if rows and not line.startswith("|"):
            break
        if line.startswith("| `"):
            rows.append(re.findall(r"`([a-z0-9_]+/[a-z0-9_/]*(?:\.py)?)`", line.split("|")[1]))
    return rows


def layer_of(name: str, path: Path, root: Path, table: list[list[str]]) -> int | None:
    """The row whose first column names the module's file or a folder holding it (the deepest folder wins)."""
    rel = path.relative_to(root).as_posix()
    best = None
    for i, row in enumerate(table):
        for entry in row:
            if rel == entry or (entry.endswith("/") and rel.startswith(entry)):
                if best is None or len(entry) > best[1]:
                    best = (i, len(entry))
    return best[0] if best else None


def upward(root: Path, doc: str, package: str = "gan") -> list[str]:
    """'importer:line -> imported' for each import that points to a row below the importer's own."""
    table, mods = layers(doc), modules(root, package)
    row = {name: layer_of(name, path, root, table) for name, path in mods.items()}
    row[package] = 0  # gan/__init__.py: only the version string
    missing = sorted(n for n, r in row.items() if r is None)
    assert missing == [], f"modules in no row of the package table: {missing}"
    return [f"{mods[a].relative_to(root)}:{line} imports {b}: row {table[row[b]][0]} comes after its own, {table[row[a]][0]}"
            for a, targets in import_graph(root, package).items() for b, line in targets if row[b] > row[a]]


def test_no_modules_import_each_other_in_a_circle():
    found = [" -> ".join(c) for c in circles(import_graph(ROOT))]
    assert found == [], "import circles (move the shared code below both): " + "; ".join(found)


def test_no_import_points_below_its_own_row_of_the_package_table():
    found = upward(ROOT, (ROOT / "docs" / "architecture.md").read_text())
    assert found == [], "imports against docs/architecture.md's package table:\n" + "\n".join(found)


def test_the_table_is_read_bottom_layer_first():
    table = layers((ROOT / "docs" / "architecture.md").read_text())
    firsts = [row[0] for row in table]
    assert firsts[:2] == ["gan/errors.py", "gan/files/"] and firsts[-2:] == ["gan/commands/", "gan/cli.py"]
    assert len(set(firsts)) == len(firsts)


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in {"pkg/__init__.py": "", **files}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


def test_the_checks_see_a_circle_through_a_function_level_import_and_an_import_up(tmp_path):
    """The checker itself: a circle closed inside a function and a relative import of a higher row are found."""
    root = _package(tmp_path, {
        "pkg/low/__init__.py": "", "pkg/high/__init__.py": "",
        "pkg/low/a.py": "from pkg.low import b\n",
        "pkg/low/b.py": "def f():\n    from pkg.low.c import g\n",
        "pkg/low/c.py": "import pkg.low.a as a\nfrom ..high import d\n",
        "pkg/high/d.py": "x = 1\n"})
    assert circles(import_graph(root, "pkg")) == [["pkg.low.a", "pkg.low.b", "pkg.low.c", "pkg.low.a"]]
    doc = f"{TABLE}\n\n| package | owns |\n|---|---|\n| `pkg/low/` | x |\n| `pkg/high/` | y |\n\nafter\n"
    assert upward(root, doc, "pkg") == ["pkg/low/c.py:2 imports pkg.high.d: row pkg/high/ comes after its own, pkg/low/"]
