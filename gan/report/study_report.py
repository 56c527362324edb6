"""Study report: the claims table first, then figures and failed runs, as report/report.md and a
self-contained report/report.html (figures embedded as base64 PNG). Missing pieces are reported, not fatal.
The figures themselves are gan/report/figures.py's, the claims gan/analysis/claims.py's.

    path = write_report("studies/quick")   # -> studies/quick/report/report.html
"""

from __future__ import annotations

import base64
import html
import math
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

from gan.measure import metric_keys as mk
from gan.analysis import stats
from gan.analysis.claim import ClaimResult
from gan.analysis.claims import LOG_SCALE, MARGINS, SIMULATED_ERROR_RATES, evaluate_claims, margins
from gan.report.figures import FIGURES, final_keys
from gan.files.layout import FINISHED, StudyDir
from gan.analysis.stats import ACT, ALPHA, is_finite
from gan.study.read import MAX_FIGURE_GROUPS, Study, load_study_results


##### document: blocks rendered both as Markdown and as HTML


def fmt(x: Any) -> str:
    return "–" if not is_finite(x) else f"{x:.3g}"


def _pct(x: float) -> str:
    return "–" if not is_finite(x) else f"{x:+.3g}%"


def rules_out(c: ClaimResult) -> str:
    """The effects beyond the 95% CI, as % of the baseline (ratios: % change): what the study rules out."""
    if not c.test or not is_finite(c.test.ci_low) or c.test.sd == 0:  # no variation: no test, nothing ruled out
        return "–"
    lo, hi = c.percent(c.test.ci_low), c.percent(c.test.ci_high)
    return f"< {_pct(lo)} or > {_pct(hi)}" if is_finite(lo) else f"< {fmt(c.test.ci_low)} or > {fmt(c.test.ci_high)}"


def kid_text(c: ClaimResult) -> str:
    """A quality claim's KID beside its FCD: the same contrast on tail3/log/quality/kid, ratio [95% CI]."""
    t = c.kid
    if t is None or not is_finite(t.ci_low):
        return "–"
    return f"{fmt(math.exp(t.mean))}x [{fmt(math.exp(t.ci_low))}, {fmt(math.exp(t.ci_high))}]"


def kid_disagrees(c: ClaimResult) -> str | None:
    """A sentence when FCD and KID disagree on a quality claim: in direction (the two CIs exclude 1 on opposite
    sides), or in decision (one CI excludes 1, the other does not); None when they agree or KID is missing."""
    if c.kid is None or c.test is None or not is_finite(c.kid.ci_low) or not is_finite(c.test.ci_low):
        return None
    side = lambda t: -1 if t.ci_high < 0 else 1 if t.ci_low > 0 else 0  # noqa: E731
    f, k = side(c.test), side(c.kid)
    if f == k:
        return None
    word = {-1: "below 1", 1: "above 1", 0: "includes 1"}
    how = "direction" if f and k else "decision"
    return (f"claim {c.number}: FCD and KID disagree in {how}: FCD {fmt(c.effect)}x [{fmt(c.ci_low)}, "
            f"{fmt(c.ci_high)}] ({word[f]}), KID {kid_text(c)} ({word[k]})")


def _margin_text(number: int, m: float) -> str:
    """Claims 1 and 3: an absolute margin; the ratio claims: a % of the ratio."""
    return f"±{100 * m:.3g}%" if number in LOG_SCALE else f"±{m:.3g}"


def claims_table(claims: list[ClaimResult], margin: dict[int, float] | None = None
                 ) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the primary claims table (descriptive rows are left out: see descriptive_table)."""
    margin = margin or MARGINS
    head = ["#", "claim", "primary metric", "effect", "95% CI", "pairs", "p", "p (Holm)", "margin", "verdict",
            "rules out", "KID beside it", "pairs for 80% power", "how it was measured"]
    rows = []
    for c in (c for c in claims if c.primary):
        rows.append([str(c.number), c.text, c.metric, fmt(c.effect) + ("x" if c.log and is_finite(c.effect) else ""),
                     f"[{fmt(c.ci_low)}, {fmt(c.ci_high)}]", str(c.n_pairs), fmt(c.p), fmt(c.p_adjusted),
                     _margin_text(c.number, margin[c.number]), c.verdict, rules_out(c), kid_text(c),
                     "–" if c.needed is None else str(c.needed), c.detail])
    return head, rows


def descriptive_table(claims: list[ClaimResult]) -> tuple[list[str], list[list[str]]]:
    """(header, rows): the secondary metrics, effect and 95% t CI only (no p, no verdict)."""
    head = ["#", "metric", "effect", "95% CI", "pairs", "what"]
    return head, [[str(c.number), c.metric, fmt(c.effect) + ("x" if c.log and is_finite(c.effect) else ""),
                   f"[{fmt(c.ci_low)}, {fmt(c.ci_high)}]", str(c.n_pairs), c.detail]
                  for c in claims if not c.primary]


def groups_table(study: Study) -> tuple[list[str], list[list[str]]]:
    """(header, rows): mean [95% CI] of the key final metrics per group."""
    keys = final_keys(study)
    sums = {k: stats.arm_summary(study.results, k, study.settings) for k in keys}
    groups = stats.group_rows(study.results.completed(), study.settings)
    rows = []
    for lab, runs in groups.items():
        cells = [fmt(e.mean) + (f" [{fmt(e.ci_low)}, {fmt(e.ci_high)}]" if is_finite(e.ci_low) else "")
                 for k in keys for e in [sums[k][lab]]]
        rows.append([lab, str(len(runs)), *cells])
    return ["group", "runs", *keys], rows


def rules(margin: dict[int, float]) -> list[str]:
    """The decision rules in plain words, printed under the claims table (and in README's statistics section)."""
    ms = ", ".join(f"claim {k} {_margin_text(k, v)}" for k, v in sorted(margin.items()))
    return [
        "How to read this table. Each claim is judged on one primary metric, fixed in gan/analysis/claims.py before any "
        "data are seen; every other metric is in the descriptive table below, with a CI but no verdict. Effects "
        "are LeakyReLU minus ReLU (or LeakyReLU / ReLU), computed per pair of runs that share the seed and every "
        "other axis; only completed runs count. FCD and step time are compared on the log scale and shown "
        "back-transformed as ratios (0.93x = LeakyReLU's FCD is 7% lower). 95% CI: the t-interval of the mean "
        "paired effect.",
        "p: a sign-flip permutation test of 'no effect' (exact over all sign patterns up to 16 pairs). It needs "
        "no normality, but its smallest possible p is 2 / 2^pairs, so 5 pairs can never decide anything. "
        "p (Holm): corrected for the number of claims this study tests, so that the chance of even one false "
        f"supported or contradicted in the whole table stays at or below {ALPHA:.0%}.",
        f"Verdicts. supported / contradicted: Holm p < {ALPHA} and the effect lies on / against the claimed side, "
        "graded by the 95% CI against the margin: '(beyond the margin)' when the CI lies wholly beyond it, '(size "
        "unclear)' when it crosses it, ', below the margin' when two one-sided tests put the effect inside ±margin "
        "(real but smaller than the margin). equivalent: no significant effect, and the 90% CI lies within "
        "±margin: the difference is too small to matter. inconclusive: neither; read 'rules out' to see which "
        "effects the data exclude (the 95% CI's ends, as % of ReLU's value). no variation (every run: X): every "
        "paired difference is exactly equal, so no test ran (no p, no equivalence claim, not in the Holm family). "
        f"not tested: the study lacks the axis values or the metric. Margins (set before the data; override with "
        f"`margins:` in the study YAML): {ms}.",
        "Claim 4 is a non-inferiority test (supported when LeakyReLU at ndf/2 is significantly less than "
        "margin worse than ReLU at ndf); when ReLU at ndf/2 passes the same test, halving the width does not "
        "hurt either activation and the claim is 'uninformative'. Claim 6 uses only the side-by-side timing in "
        "step_time.json, never the study's own step times (runs shared the CPU). Claim 7: Page's trend test "
        "over the slopes (0 = ReLU), either direction, gives p; its effect is the per-seed least-squares slope "
        "of log FCD on the slope, as the FCD ratio per +0.1 of slope. Claims 5, 8 and 9: the LeakyReLU / ReLU "
        "ratio at the deeper D (without BatchNorm; with pixels in [-1, 1]) divided by the ratio at the default "
        "(with pixels in [0, 1]). KID beside it: the same contrast on the tail-averaged KID, descriptive. "
        "'pairs for 80% power': seeds per arm that would detect an effect of one margin with 80% "
        "probability at Holm's strictest level, from this study's paired spread (`gan study STUDY.yaml --plan`).",
        SIMULATED_ERROR_RATES,
    ]


def _blocks(study: Study, claims: list[ClaimResult], figures: dict[str, Path], notes: list[str]) -> list:
    r = study.results
    margin = margins(r)
    b: list = [("h1", f"Study report: {r.name or study.dir.name}"),
               ("p", f"{len(r.rows)} runs ({len(r.completed())} completed, {len(r.failed())} failed or "
                     f"unfinished); axes: {', '.join(r.axes) or 'none'}."),
               ("h2", "Claims"), ("table", *claims_table(claims, margin))]
    b += [("rules", text) for text in rules(margin)]
    if any(not c.primary for c in claims):
        b += [("h3", "Descriptive metrics (no verdicts)"), ("table", *descriptive_table(claims))]
    if r.completed():
        b += [("h2", "Groups (mean [95% CI] over seeds)"), ("table", *groups_table(study))]
    b.append(("h2", "Figures"))
    for name, path in figures.items():
        b += [("h3", FIGURES[name][0]), ("p", FIGURES[name][1]), ("img", path)]
    failed = r.failed()
    b.append(("h2", "Failed or unfinished runs"))
    extra = [c for c in ("step",) if c in r.columns]
    b.append(("table", ["run", "status", *extra, *r.axes],
              [[str(x.get(c)) for c in ("run", "status", *extra, *r.axes)] for x in failed])
             if failed else ("p", "None: every run completed."))
    b += [("h2", "Missing and notes"), ("list", notes) if notes else ("p", "Nothing missing: every figure has data.")]
    return b


def _md_cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list, base: Path | None = None) -> str:
    """Markdown of the blocks; image paths are written relative to `base` (the report dir)."""
    out = []
    for kind, *args in blocks:
        if kind in ("h1", "h2", "h3"):
            out.append("#" * int(kind[1]) + " " + args[0])
        elif kind in ("p", "rules"):
            out.append(args[0])
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
td.v-uninformative{background:#eee}img{max-width:100%;border:1px solid #ddd;margin:0.5em 0}
p.rules{font-size:13px;color:#444}td.num{white-space:nowrap}
div.scroll{overflow-x:auto}td[class^=v-]{font-weight:600;white-space:nowrap}"""


def to_html(blocks: list) -> str:
    """A self-contained HTML page of the blocks (images inlined as base64)."""
    e = html.escape
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(blocks[0][1])}</title>"
           f"<style>{CSS}</style></head><body>"]
    for kind, *args in blocks:
        if kind in ("h1", "h2", "h3"):
            out.append(f"<{kind}>{e(args[0])}</{kind}>")
        elif kind in ("p", "rules"):
            out.append(f"<p{' class=rules' if kind == 'rules' else ''}>{e(args[0])}</p>")
        elif kind == "list":
            out.append("<ul>" + "".join(f"<li>{e(x)}</li>" for x in args[0]) + "</ul>")
        elif kind == "img":
            data = base64.b64encode(args[0].read_bytes()).decode()
            out.append(f"<img alt='{e(args[0].stem)}' src='data:image/png;base64,{data}'>")
        elif kind == "table":
            head, rows = args
            cls = {i: {"verdict": "verdict", "how it was measured": "detail", "what": "detail", "effect": "num",
                       "95% CI": "num"}.get(h, "") for i, h in enumerate(head)}

            def cell(i: int, v: str) -> str:
                c = "v-" + v.split(",")[0].split(":")[0].replace(" ", "-") if cls[i] == "verdict" else cls[i]
                return f"<td class='{c}'>{e(v)}</td>"

            out.append("<div class=scroll><table><tr>"
                       + "".join(f"<th>{e(h).replace('/', '/<wbr>')}</th>" for h in head) + "</tr>"
                       + "".join("<tr>" + "".join(cell(i, v) for i, v in enumerate(row)) + "</tr>" for row in rows)
                       + "</table></div>")
    return "\n".join(out) + "\n</body></html>\n"


def code_version_notes(rows: list[dict]) -> list[str]:
    """The code versions the study's finished runs came from (results.csv provenance/code_version); warns when
    several. A run still training (interrupted, new) or missing is left out: its numbers are in no table yet, and
    a run killed before its first checkpoint has no provenance to read (the "did not complete" note counts it)."""
    versions = Counter(str(r.get(mk.CODE_VERSION) or "not recorded")
                       for r in rows if str(r.get("status") or "completed") in FINISHED)
    if not versions:
        return []
    listed = ", ".join(f"{v} ({n} run{'s' if n > 1 else ''})" for v, n in sorted(versions.items()))
    if len(versions) == 1:
        return [f"code version: {listed}"]
    note = (f"the runs came from {len(versions)} code versions: {listed}; results may differ by code, "
            f"not only by setting: rerun the study on one version (results.csv column {mk.CODE_VERSION})")
    warnings.warn(note)
    return [note]


def write_report(study_dir: str | Path) -> Path:
    """Write report/report.md, report/report.html and report/figures/*.png; returns the html path."""
    study = load_study_results(study_dir)
    layout = StudyDir(study_dir)
    out = layout.report
    layout.figures.mkdir(parents=True, exist_ok=True)
    claims = evaluate_claims(study.results, study.step_time)
    figures, notes = {}, []
    if study.pooled:
        notes.append(f"more than {MAX_FIGURE_GROUPS} settings: figures pool every axis but {ACT} "
                     "(the groups table keeps them apart)")
    hashes = sorted({str(r[mk.CLASSIFIER_HASH]) for r in study.results.completed() if r.get(mk.CLASSIFIER_HASH)})
    if len(hashes) > 1:  # FCDs in the features of two networks are not comparable
        notes.append(f"the runs were measured by {len(hashes)} different quality classifiers "
                     f"({', '.join(h.removeprefix('sha256:')[:12] for h in hashes)}; results.csv column "
                     f"{mk.CLASSIFIER_HASH}): their quality metrics do not compare; evaluate every run with one classifier")
        warnings.warn(notes[-1])
    notes += code_version_notes(study.results.rows)
    notes += [note for c in claims if c.primary and (note := kid_disagrees(c))]
    by_status = Counter(str(r.get("status")) for r in study.results.failed())  # e.g. interrupted 2, missing 62
    if by_status:
        parts = ", ".join(f"{status} {n}" for status, n in sorted(by_status.items()))
        notes.append(f"{by_status.total()} run(s) did not complete ({parts}): left out of statistics and curves")
    for name, (title, _, make) in FIGURES.items():
        try:
            fig, why = make(study)
        except Exception as exc:  # a figure bug must not lose the rest of a finished study's report
            warnings.warn(f"report figure {name} failed: {exc!r}")
            fig, why = None, [f"{title}: figure failed ({exc!r})"]
        notes += why
        if fig is not None:
            figures[name] = layout.figure(name)
            fig.savefig(figures[name], dpi=100, bbox_inches="tight")
    blocks = _blocks(study, claims, figures, notes)
    layout.report_md.write_text(to_markdown(blocks, out))
    layout.report_html.write_text(to_html(blocks))
    return layout.report_html
