"""`gan config [KEY] [--markdown]`: every config key with its type, default, valid values and help.

Everything printed comes from the fields of gan/config/schema.py (`option(..., help=, choices=)`), the same
source validation reads; docs/config.md's key table is `gan config --markdown` pasted (a test compares
them).
"""

from __future__ import annotations

import typing
from dataclasses import MISSING
from typing import Any

from gan.config.schema import FIELDS, KEYS, SECTIONS, show_value

from gan.config.load import _unknown_key

TABLE_START = "<!-- gan config --markdown: start -->"  # docs/config.md's key table lies between the two
TABLE_END = "<!-- gan config --markdown: end -->"


def type_name(t: Any) -> str:
    """str, int, float, bool, `float | null`, `list of str`."""
    args = typing.get_args(t)
    if type(None) in args:
        return " | ".join(type_name(a) for a in args if a is not type(None)) + " | null"
    if typing.get_origin(t) is tuple:
        return f"list of {type_name(args[0])}"
    return t.__name__


def yaml_value(v: Any) -> str:
    """A default as it is written in a YAML file or an override."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple):
        return "[" + ", ".join(map(yaml_value, v)) + "]"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def rows(prefix: str | None = None) -> list[dict[str, Any]]:
    """One row per key (all of them, one key, or one section such as "train")."""
    if prefix is not None and prefix not in KEYS and prefix not in SECTIONS:
        raise _unknown_key(prefix, [*SECTIONS, *KEYS])
    out = []
    for key, f in FIELDS.items():
        if prefix is not None and key != prefix and not key.startswith(prefix + "."):
            continue
        default = f.default if f.default is not MISSING else f.default_factory()
        choices = f.metadata.get("choices")
        out.append({"key": key, "type": type_name(KEYS[key]), "default": yaml_value(default),
                    "choices": ", ".join(map(show_value, choices)) if choices else "",
 "help": f.metadata["help"]})
    return out


def render_text(prefix: str | None = None) -> str:
    """Aligned columns for a terminal under a header row: key, type, default, then meaning (help, valid values)."""
    header = {"key": "key", "type": "type", "default": "default", "help": "meaning", "choices": ""}
    table = [header, *rows(prefix)]
    width = {c: max(len(r[c]) for r in table) for c in ("key", "type", "default")}
    lines = []
    for r in table:
        valid = f" (valid: {r['choices']})" if r["choices"] else ""
        lines.append(f"{r['key']:<{width['key']}}  {r['type']:<{width['type']}}  "
                     f"{r['default']:<{width['default']}}  {r['help']}{valid}")
    return "\n".join(lines)


def render_markdown(prefix: str | None = None) -> str:
    """docs/config.md's key table (all keys) or the rows of one key or section."""
    lines = ["| key | type | default | valid values | meaning |", "|---|---|---|---|---|"]
    for r in rows(prefix):
        choices = ", ".join(f"`{show_value(c)}`" for c in FIELDS[r["key"]].metadata.get("choices") or ())
        cells = [f"`{r['key']}`", r["type"], f"`{r['default']}`", choices, r["help"]]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")  # a bare | splits a cell
    return "\n".join(lines)
