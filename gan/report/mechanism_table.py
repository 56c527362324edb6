"""The mechanism section of analysis.json (gan/analysis/mechanism.py) as a table: the study report shows its own
study's, `gan answer` every study's."""

from __future__ import annotations

from typing import Any, Sequence

from gan.analysis.claims.result import fmt
from gan.measure import metric_keys as mk


MECHANISM_TEXT = (
    "Descriptive (no p-value, no Holm, no verdict): what moved with the verdicts above. Per study and condition "
    "(the baseline cell; then each other level of a condition axis it varies), each arm's mean over runs [95% "
    "bootstrap CI] and the paired LeakyReLU - ReLU difference by seed [95% t-interval] (pairs). An over-strong D "
    f"saturates ({mk.SATURATED_TEXT}), calls its training images real (r_t near 1), scores held-out reals "
    "like fakes (r_v towards 1) and has a larger real loss on held-out images (gap > 0). Columns measured only by "
    "newer code (r_t, r_v, the held-out gap) are missing from older studies.")


def _mean_ci(e: dict[str, Any]) -> str:
    return f"{fmt(e['mean'])} [{fmt(e['ci_low'])}, {fmt(e['ci_high'])}]"


def mechanism_table(loaded: Sequence[tuple[str, dict[str, Any]]]) -> tuple[list[str], list[list[str]]]:
    """(header, rows): every study's mechanism rows (analysis.json `mechanism`), one per condition and measure."""
    head = ["dataset", "condition", "measure", "what", "relu", "LeakyReLU", "LeakyReLU - relu [95% CI]", "pairs"]
    out = []
    for lab, a in loaded:
        mech = a.get("mechanism")
        for cond in (mech or {}).get("conditions", []):
            for r in cond["rows"]:
                d = r["difference"]
                out.append([lab, cond["condition"], r["key"], r["what"], _mean_ci(r["relu"]), _mean_ci(r["leaky"]),
                            _mean_ci(d), str(d["n"])])
    return head, out
