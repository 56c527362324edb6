"""The top of a study report, in words a newcomer reads first: what the study found, what its seeds can decide,
what it did not test, the two arms' samples, then a claims table narrow enough for a 1280 px window (the rest of
each claim's numbers in an expandable block below it). Rendered from analysis.json alone.

    blocks = opening_blocks(analysis, claims, same_noise_png, rules_text)   # gan/report/document.py blocks
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gan.analysis.claims.registry import claim
from gan.analysis.claims.result import ClaimResult, fmt, kid_text, rules_out
from gan.analysis.stats import ALPHA
from gan.config.datasets import MNIST_FAMILY
from gan.measure import metric_keys as mk
from gan.study.results import is_finite

DECIDED = ("supported", "contradicted", "equivalent")
ANSWER_LINK = "results/decide/answer/answer.md"  # the decided answer on the built-in datasets (README's table)


def _words(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _numbers(cs: list[ClaimResult]) -> str:
    return ("claim " if len(cs) == 1 else "claims ") + ", ".join(str(c.number) for c in cs)


def untested_line(claims: list[ClaimResult]) -> str | None:
    """'Not tested: claims 4, 5, 7 (the study has no width, depth or slope axis); claim 6 (...)', or None."""
    untested = [c for c in claims if c.primary and c.verdict.startswith("not tested")]
    if not untested:
        return None
    # a condition claim's record names the axis it needs in words (its not-tested detail says "needs a ... axis")
    axis = [c for c in untested if claim(c.number).axis_words and c.detail.startswith("needs")]
    parts = [f"{_numbers(axis)} (the study has no {_words([claim(c.number).axis_words for c in axis])} axis)"] \
        if axis else []
    parts += [f"claim {c.number} ({c.detail.split(':')[0] or 'nothing to compare'})" for c in untested if c not in axis]
    return "Not tested: " + "; ".join(parts) + "."


def min_pairs(k: int, alpha: float = ALPHA) -> int:
    """The fewest pairs whose smallest sign-flip p (2 / 2^n, every sign the same) is below Holm's strictest level."""
    n = 1
    while 2 / 2 ** n >= alpha / max(k, 1):
        n += 1
    return n


def seeds_text(claims: list[ClaimResult], data_name: str | None = None, alpha: float = ALPHA) -> str | None:
    """What this study's seed pairs can and cannot decide, and how many a decision would take."""
    tested = [c for c in claims if c.primary and not c.verdict.startswith("not tested") and c.n_pairs]
    if not tested:
        return None
    n, k = max(c.n_pairs for c in tested), len(tested)
    smallest, level, least = 2 / 2 ** n, alpha / k, min_pairs(k, alpha)
    pairs = f"{n} seed pair{'s' * (n != 1)}"
    if smallest >= level:
        text = (f"What {pairs} can decide: no difference. The smallest p a sign-flip test of {n} pairs can give is "
                f"{fmt(smallest)} (every pair on the same side), above {fmt(level)}, Holm's strictest level for "
                f"{k} tested claim{'s' * (k != 1)}: no claim can be supported or contradicted whatever the data; "
                f"that takes at least {least} pairs. An 'equivalent' here rests on a t-interval of {n} pairs alone.")
    else:
        text = (f"What {pairs} can decide: a claim whose effect is large against the seed-to-seed spread (the "
                f"smallest possible sign-flip p is {fmt(smallest)}; Holm's strictest level for {k} tested claim"
                f"{'s' * (k != 1)} is {fmt(level)}).")
    sized = [c for c in tested if c.needed is not None and not c.verdict.startswith("no variation")]
    if sized:
        text += (" For an effect of one margin with 80% power: " + ", ".join(
            f"claim {c.number} about {c.needed} pairs" for c in sized) + " (from this study's own spread; "
            "`gan study STUDY.yaml --plan` sizes a study from it).")
    if data_name in MNIST_FAMILY and (smallest >= level or not any(c.verdict.startswith(DECIDED) for c in tested)):
        text += (f" The answer decided on the built-in datasets (24 seeds each at 4000 steps, 8 at 10000) is the "
                 f"README's decision guide, from {ANSWER_LINK}.")
    return text


def _effect(c: ClaimResult) -> str:
    unit = "x" if c.log and is_finite(c.effect) else ""
    return "–" if not is_finite(c.effect) else f"{fmt(c.effect)}{unit} [{fmt(c.ci_low)}, {fmt(c.ci_high)}]"


def claims_table(claims: list[ClaimResult]) -> tuple[list[str], list[list[str]]]:
    """The tested primary claims, six columns: what, the verdict, the effect with its 95% CI, pairs, Holm's p."""
    head = ["#", "claim, measured by", "verdict", "effect [95% CI]", "pairs", "p (Holm)"]
    rows = [[str(c.number), f"{c.text}: {mk.plain(c.metric)}", c.verdict, _effect(c), str(c.n_pairs),
             fmt(c.p_adjusted)] for c in claims if c.primary and not c.verdict.startswith("not tested")]
    return head, rows


def details_table(claims: list[ClaimResult], margin_text) -> tuple[list[str], list[list[str]]]:
    """Every primary claim's remaining numbers: its metric's key, raw p, margin, what it rules out, KID, power."""
    head = ["#", "metric (key)", "p", "margin", "rules out", "KID beside it", "pairs for 80% power",
            "how it was measured"]
    return head, [[str(c.number), f"{mk.plain(c.metric)} ({c.metric})", fmt(c.p), margin_text(c.number),
                   rules_out(c), kid_text(c), "–" if c.needed is None else str(c.needed), c.detail]
                  for c in claims if c.primary]


def opening_blocks(analysis: dict[str, Any], claims: list[ClaimResult], same_noise: Path | None,
                   margin_text, rules: list[str]) -> list:
    """The report's first blocks, down to the claims table and its details (gan/report/document.py blocks)."""
    st = analysis["study"]
    facts = analysis.get("headline_facts") or {}
    b: list = [("lead", analysis["headline"])] if analysis.get("headline") else []
    b += [("h1", f"Study report: {st['name']}"),
          ("p", f"{st['runs']} runs ({st['completed']} completed, {len(st['failed'])} failed or "
                f"unfinished); axes: {', '.join(st['axes']) or 'none'}.")]
    b += [("p", text) for text in (seeds_text(claims, facts.get("name")), untested_line(claims)) if text]
    if same_noise is not None:  # what the two arms' samples look like, before any number
        b += [("h2", "Samples of both arms, from the same noise"), ("img", same_noise)]
    head, rows = claims_table(claims)
    b += [("h2", "Claims"), ("table", head, rows) if rows else ("p", "No claim could be tested.")]
    inner = [("table", *details_table(claims, margin_text))] + [("rules", text) for text in rules]
    b.append(("details", "Claims in detail: each metric's key, p before Holm, margins, what the data rule out, "
                         "KID, pairs for 80% power, how it was measured; how to read the table", inner))
    return b
