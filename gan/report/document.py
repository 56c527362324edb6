"""A document as blocks rendered twice: Markdown (report.md, answer.md) and a self-contained HTML page.

    blocks = [("h1", "Title"), ("p", "text"), ("table", head, rows), ("img", Path), ("list", items), ("rules", text),
              ("lead", "the finding, first"), ("details", "summary", [blocks shown when it is opened])]
    to_markdown(blocks, base=report_dir); to_html(blocks)
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path


def _outcome(verdict: str) -> str:
    """The outcome word of a verdict ('supported (size unclear)' -> 'supported'), for the HTML cell colour."""
    m = re.match(r"not tested|no variation|\w+", verdict)
    return m.group(0) if m else ""


def _md_cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list, base: Path | None = None) -> str:
    """Markdown of the blocks; image paths are written relative to `base` (the report dir)."""
    out = []
    for kind, *args in blocks:
        if kind in ("h1", "h2", "h3"):
            out.append("#" * int(kind[1]) + " " + args[0])
        elif kind in ("p", "rules", "lead"):
            out.append(args[0])
        elif kind == "details":  # Markdown has no folding: a heading, then what it holds
            out.append(f"#### {args[0]}\n\n" + to_markdown(args[1], base).rstrip("\n"))
        elif kind == "list":
            out.append("\n".join(f"- {x}" for x in args[0]))
        elif kind == "img":
            out.append(f"![{args[0].stem}]({(args[0].relative_to(base) if base else args[0]).as_posix()})")
        elif kind == "table":
            head, rows = args
            lines = ["| " + " | ".join(map(_md_cell, head)) + " |", "|" + "---|" * len(head)]
            out.append("\n".join(lines + ["| " + " | ".join(map(_md_cell, row)) + " |" for row in rows]))
    return "\n\n".join(out) + "\n"


CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f2f2f2}td.detail{font-size:12px;color:#555;max-width:420px}
td.v-supported{background:#d8f0d8}td.v-contradicted{background:#f6d6d6}td.v-inconclusive{background:#f6eecb}
td.v-not-tested{background:#eee;color:#777}td.v-equivalent{background:#d6e4f6}
td.v-uninformative{background:#eee}td.v-no-variation{background:#eee}img{max-width:100%;border:1px solid #ddd;margin:0.5em 0}
p.rules{font-size:13px;color:#444}td.num{white-space:nowrap}
p.lead{font-size:17px;line-height:1.45;background:#f4f7fb;border-left:4px solid #4a78b5;padding:0.6em 0.9em}
details{margin:0.5em 0 1.5em}summary{cursor:pointer;color:#2a5599;font-size:14px}
div.scroll{overflow-x:auto}td[class^=v-]{font-weight:600;white-space:nowrap}"""


def to_html(blocks: list) -> str:
    """A self-contained HTML page of the blocks (images inlined as base64)."""
    e = html.escape
    title = next((b[1] for b in blocks if b[0] == "h1"), blocks[0][1])  # the heading, not a long first paragraph
    return (f"<!doctype html><html><head><meta charset='utf-8'><meta name='viewport' "
            f"content='width=device-width'><title>{e(title)}</title><style>{CSS}</style></head><body>\n"
            + _html_body(blocks) + "\n</body></html>\n")


def _html_body(blocks: list) -> str:
    e = html.escape
    out = []
    for kind, *args in blocks:
        if kind in ("h1", "h2", "h3"):
            out.append(f"<{kind}>{e(args[0])}</{kind}>")
        elif kind in ("p", "rules", "lead"):
            out.append(f"<p{f' class={kind}' if kind != 'p' else ''}>{e(args[0])}</p>")
        elif kind == "details":
            out.append(f"<details><summary>{e(args[0])}</summary>\n{_html_body(args[1])}\n</details>")
        elif kind == "list":
            out.append("<ul>" + "".join(f"<li>{e(x)}</li>" for x in args[0]) + "</ul>")
        elif kind == "img":
            data = base64.b64encode(args[0].read_bytes()).decode()
            out.append(f"<img alt='{e(args[0].stem)}' src='data:image/png;base64,{data}'>")
        elif kind == "table":
            head, rows = args
            cls = {i: {"verdict": "verdict", "how it was measured": "detail", "what": "detail", "effect": "num",
                       "effect [95% CI]": "num",
                       "95% CI": "num"}.get(h, "") for i, h in enumerate(head)}

            def cell(i: int, v: str) -> str:
                c = "v-" + _outcome(v).replace(" ", "-") if cls[i] == "verdict" else cls[i]
                return f"<td class='{c}'>{e(v)}</td>"

            out.append("<div class=scroll><table><tr>"
                       + "".join(f"<th>{e(h).replace('/', '/<wbr>')}</th>" for h in head) + "</tr>"
                       + "".join("<tr>" + "".join(cell(i, v) for i, v in enumerate(row)) + "</tr>" for row in rows)
                       + "</table></div>")
    return "\n".join(out)
