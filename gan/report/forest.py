"""The forest plot and the answer table: one row per (study, claim), the primary effect with its 95% CI, the
margin as a band, the verdict beside it. Used by a study's report (one study) and by `gan answer` (several
studies, e.g. Fashion-MNIST and mnist5k, each its own Holm family).

Ratio claims (log scale: FCD, step time) and difference claims (per-sample Hoyer, dead fraction) have different
units, so they get separate panels; each row's margin band is its own (margins may differ per claim).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from matplotlib.figure import Figure
from matplotlib.axis import Axis
from matplotlib.ticker import FuncFormatter, Locator, LogLocator, NullFormatter

from gan.analysis.claims.registry import analysis_margin, margins
from gan.analysis.claims.result import ClaimResult
from gan.study.results import Results, is_finite

RATIO_TICKS = FuncFormatter(lambda v, _: f"{v:.3g}")  # log-axis ticks as plain ratios (0.8, 1), not 10^0
RATIO_SUBS = (0.2, 0.3, 0.5, 0.6, 0.7, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0)  # labelled ratios, spaced on a log axis
NARROW_RATIOS = (0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5)  # on a narrow axis 0.9 and 1.1 fit beside 1 (the 10% margins)
NARROW_DECADES = 0.4  # an axis spanning less than this (log10 max/min; 0.4 = 0.63x..1.6x) is narrow


class RatioLocator(Locator):
    """Ticks at plain ratios: NARROW_RATIOS on a narrow log axis (where a reader needs 0.9 and 1.1 to read a 10%
    margin), RATIO_SUBS per decade on a wider one (where 0.9 next to 1 would overlap)."""

    def __call__(self):
        lo, hi = sorted(self.axis.get_view_interval())
        return self.tick_values(lo, hi)

    def tick_values(self, vmin: float, vmax: float) -> list[float]:
        if vmin <= 0 or math.log10(vmax / vmin) >= NARROW_DECADES:
            return list(LogLocator(base=10, subs=RATIO_SUBS).tick_values(vmin, vmax))
        return [r for r in NARROW_RATIOS if vmin <= r <= vmax]


def ratio_axis(axis: Axis) -> None:
    """A log axis read as ratios: labels at plain ratios (RatioLocator), unlabelled minor ticks."""
    axis.set_major_locator(RatioLocator())
    axis.set_major_formatter(RATIO_TICKS)
    axis.set_minor_formatter(NullFormatter())


VERDICT_COLORS = {"supported": "#1a7f37", "contradicted": "#cf222e", "equivalent": "#0969da",
                  "inconclusive": "#6e7781", "uninformative": "#9a6700"}


@dataclass(frozen=True)
class ForestRow:
    study: str  # e.g. the dataset: "fashion_mnist"
    claim: ClaimResult
    margin: float  # on the analysis scale (log(1 + m) for ratio claims)

    @property
    def label(self) -> str:
        return f"{self.claim.number}. {self.claim.text} [{self.study}]"


def forest_rows(study: str, results: Results, claims: Sequence[ClaimResult]) -> list[ForestRow]:
    """The tested primary claims of one study as forest rows."""
    m = margins(results)
    return [ForestRow(study, c, analysis_margin(c.number, m[c.number])) for c in claims
            if c.primary and c.test is not None and is_finite(c.test.ci_low)]


def _color(verdict: str) -> str:
    return next((col for key, col in VERDICT_COLORS.items() if verdict.startswith(key)), "#6e7781")


def fig_forest(rows: Sequence[ForestRow], title: str = "Primary effects, 95% CI") -> Figure | None:
    """Two panels, one above the other (ratios on a log axis, differences on a linear one), with only the panels
    that have rows; stacked so the claim labels on the left and the verdicts on the right get the full width."""
    panels = [(name, [r for r in rows if r.claim.log == is_log]) for name, is_log in
              (("LeakyReLU / ReLU (ratio; < 1: LeakyReLU lower)", True),
               ("LeakyReLU − ReLU (difference)", False))]
    panels = [(n, rs) for n, rs in panels if rs]
    if not panels:
        return None
    sizes = [len(rs) for _, rs in panels]
    fig = Figure(figsize=(11, 0.9 + 0.75 * len(panels) + 0.38 * sum(sizes)), layout="constrained")
    axes = fig.subplots(len(panels), 1, squeeze=False, height_ratios=[n + 1.2 for n in sizes])[:, 0]
    for ax, (name, rs) in zip(axes, panels):
        is_log = rs[0].claim.log
        f = math.exp if is_log else (lambda x: x)
        null = 1.0 if is_log else 0.0
        for y, r in enumerate(reversed(rs)):
            t, col = r.claim.test, _color(r.claim.verdict)
            ax.fill_between([f(-r.margin), f(r.margin)], y - 0.35, y + 0.35, color="#d0d7de", alpha=0.6,
                            linewidth=0, label="± margin" if y == 0 else None)
            ax.plot([f(t.ci_low), f(t.ci_high)], [y, y], color=col, linewidth=2.2)
            ax.plot([f(t.mean)], [y], "o", color=col, ms=6)
            ax.annotate(f"{r.claim.verdict}  (n={t.n})", (1.01, y), xycoords=("axes fraction", "data"),
                        va="center", fontsize="small", color=col)
        ax.axvline(null, color="black", linewidth=0.8)
        ax.set_yticks(range(len(rs)), [r.label for r in reversed(rs)], fontsize="small")
        ax.set_ylim(-0.7, len(rs) - 0.3)
        if is_log:
            ax.set_xscale("log")
            ratio_axis(ax.xaxis)
        ax.set_title(name, fontsize="medium")
        ax.grid(axis="x", alpha=0.3)
        ax.legend(loc="lower left", fontsize="x-small")
    fig.suptitle(title)
    return fig
