"""Study report: what it found in words and the claims first (gan/report/opening.py), then figures and failed
runs, as report/report.md and a self-contained report/report.html (figures embedded as base64 PNG), rendered from
analysis.json alone
(gan/analysis/study_analysis.py computes it; gan/report/figures.py draws from it). Missing pieces are reported,
not fatal.

    path = write_report("studies/quick")   # -> studies/quick/report/report.html
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from gan.analysis.claims.evaluate import SIMULATED_ERROR_RATES
from gan.analysis.claims.registry import MARGINS, margin_text
from gan.analysis.claims.result import ClaimResult, fmt, kid_disagrees, kid_text, rules_out
from gan.analysis.stats import ALPHA
from gan.analysis.study_analysis import claims_of, ensure_analysis
from gan.files.atomic import write_atomic, write_text_atomic
from gan.files.layout import StudyDir
from gan.measure import metric_keys as mk
from gan.report.document import to_html, to_markdown
from gan.report.answer import fig_same_noise
from gan.report.figures import FIGURES
from gan.report.mechanism_table import MECHANISM_TEXT, mechanism_table
from gan.report.opening import opening_blocks
from gan.study.results import is_finite

SAME_NOISE = "same_noise"  # the figure of both arms' final samples (gan/report/answer.py draws it)


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
                     margin_text(c.number, margin[c.number]), c.verdict, rules_out(c), kid_text(c),
                     "–" if c.needed is None else str(c.needed), c.detail])
    return head, rows


def descriptive_table(claims: list[ClaimResult]) -> tuple[list[str], list[list[str]]]:
    """(header, rows): the secondary metrics, effect and 95% t CI only (no p, no verdict)."""
    head = ["#", "metric", "effect", "95% CI", "pairs", "what"]
    return head, [[str(c.number), mk.plain(c.metric), fmt(c.effect) + ("x" if c.log and is_finite(c.effect) else ""),
                   f"[{fmt(c.ci_low)}, {fmt(c.ci_high)}]", str(c.n_pairs), c.detail]
                  for c in claims if not c.primary]


def groups_table(analysis: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(header, rows): mean [95% CI] of the key final metrics per group."""
    g = analysis["group_estimates"]
    rows = []
    for row in g["rows"]:
        cells = [fmt(e["mean"]) + (f" [{fmt(e['ci_low'])}, {fmt(e['ci_high'])}]" if is_finite(e["ci_low"]) else "")
                 for e in (row["estimates"][k] for k in g["keys"])]
        rows.append([row["group"], str(row["runs"]), *cells])
    return ["group", "runs", *map(mk.plain, g["keys"])], rows


def rules(margin: dict[int, float]) -> list[str]:
    """The decision rules in plain words, printed under the claims table (and in docs/statistics.md)."""
    ms = ", ".join(f"claim {k} {margin_text(k, v)}" for k, v in sorted(margin.items()))
    return [
        "How to read this table. Each claim is judged on one primary metric, fixed in gan/analysis/claims/registry.py before any "
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


def rule_blocks(analysis: dict[str, Any]) -> list:
    """Claim 11 on this study's cells, in words and as a table (analysis.json's saturation_rule and prediction)."""
    rule = analysis.get("saturation_rule")
    if not rule:
        return []
    c = rule["rule"]
    window = f"{c['window'][0] + 1}-{c['window'][1]}"
    b: list = [("h2", "The saturation rule (claim 11), cell by cell"),
               ("p", f"The rule: S, the ReLU D's share of logged steps {window} with {c['saturated']} (mean over the "
                     f"ReLU runs), above {c['threshold']:g} predicts LeakyReLU(0.2) ahead (LeakyReLU / ReLU tail-3 FCD "
                     f"ratio below 1 at {c['horizon']} steps), at or below it LeakyReLU not ahead (above 1, or within "
                     f"±{c['margin']:.0%}). It is stated for {c['horizon']} steps at "
                     + ", ".join(f"{k}={v}" for k, v in c["scope"].items())
                     + "; elsewhere it predicts nothing. Here S comes from the cells' own runs: these scores are "
                       "after the data, shown as a track record and never counted in claim 11's verdict.")]
    head = ["cell", "data", "steps", "ReLU S (per seed)", "prediction", "LeakyReLU / ReLU FCD [95% CI]", "pairs",
            "found", "score"]
    rows = []
    for cell in rule["cells"]:
        m = cell["measured"]
        seeds = ", ".join(f"{v:.2f}" for v in cell["s_per_seed"].values())
        rows.append([cell["cell"], cell["dataset"], str(cell["steps"]),
                     f"{fmt(cell['s'])} ({seeds})" if seeds else "–",
                     cell["prediction"] or f"none: {cell['no_prediction']}",
                     f"{fmt(m['ratio'])}x [{fmt(m['ci_low'])}, {fmt(m['ci_high'])}]", str(m["n"]), cell["found"],
                     cell["score"] or "–"])
    b.append(("table", head, rows))
    p = analysis.get("prediction")
    if p:
        told = p["call"] or f"no prediction ({p.get('no_prediction') or 'none recorded'})"
        made = p.get("made_utc") or "at an unrecorded time"
        b.append(("p", f"The prediction this study tests ({p['path']}, made {made}): {told}; scored on the baseline "
                       f"cell: {p['score'] or 'not scored'}. {p['order']}."))
    return b


def _blocks(analysis: dict[str, Any], claims: list[ClaimResult], figures: dict[str, Path], notes: list[str]) -> list:
    st = analysis["study"]
    margin = {int(k): v for k, v in analysis["margins"].items()}
    # what it found in words, what its seeds can decide, the samples, a narrow claims table (gan/report/opening.py)
    b = opening_blocks(analysis, claims, figures.pop(SAME_NOISE, None), lambda n: margin_text(n, margin[n]),
                       rules(margin))
    if any(not c.primary for c in claims):
        b += [("h3", "Descriptive metrics (no verdicts)"), ("table", *descriptive_table(claims))]
    if st["completed"]:
        b += [("h2", "Groups (mean [95% CI] over seeds)"), ("table", *groups_table(analysis))]
    mech = mechanism_table([(st["name"], analysis)])
    if mech[1]:
        b += [("h2", "The mechanism, as measured"), ("p", MECHANISM_TEXT), ("table", *mech)]
    b += rule_blocks(analysis)
    b.append(("h2", "Figures"))
    for name, path in figures.items():
        b += [("h3", FIGURES[name][0]), ("p", FIGURES[name][1]), ("img", path)]
    b.append(("h2", "Failed or unfinished runs"))
    cols = st["failed_columns"]
    b.append(("table", cols, [[str(x.get(c)) for c in cols] for x in st["failed"]])
             if st["failed"] else ("p", "None: every run completed."))
    b += [("h2", "Missing and notes"), ("list", notes) if notes else ("p", "Nothing missing: every figure has data.")]
    return b


def write_report(study_dir: str | Path) -> Path:
    """Write report/report.md, report/report.html and report/figures/*.png from the study's analysis.json
    (written first, under the study's lock, when missing or stale); returns the html path."""
    analysis = ensure_analysis(study_dir)
    layout = StudyDir(study_dir)
    layout.figures.mkdir(parents=True, exist_ok=True)
    claims = claims_of(analysis)
    notes = list(analysis["notes"])
    for note in notes:
        if note.startswith(("the runs were measured by", "the runs came from")):
            warnings.warn(note)  # results that do not compare: say so on the terminal too
    notes += [note for c in claims if c.primary and (note := kid_disagrees(c))]
    figures: dict[str, Path] = {}
    for name, (title, _, make) in FIGURES.items():
        try:
            fig, why = make(analysis, layout.path)
        except Exception as exc:  # a figure bug must not lose the rest of a finished study's report
            warnings.warn(f"report figure {name} failed: {exc!r}")
            fig, why = None, [f"{title}: figure failed ({exc!r})"]
        notes += why
        if fig is not None:
            figures[name] = layout.figure(name)
            _save_png(fig, figures[name])
    if analysis.get("same_noise"):  # both arms' samples from the same noise, near the top of every report
        fig = fig_same_noise(analysis, layout.path, analysis["study"]["name"])
        if fig is not None:
            figures[SAME_NOISE] = layout.figure(SAME_NOISE)
            _save_png(fig, figures[SAME_NOISE])
    blocks = _blocks(analysis, claims, figures, notes)
    write_text_atomic(layout.report_md, to_markdown(blocks, layout.report))
    write_text_atomic(layout.report_html, to_html(blocks))
    return layout.report_html


def _save_png(fig: Any, path: Path) -> None:
    write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=100, bbox_inches="tight"))
