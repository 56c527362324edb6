"""The pieces every study figure is drawn with: a style per group, a grid of panels, a shared legend, axes for
shares and for reference values, and the notes a panel carries when its curves coincide or a metric was measured
at a few steps only (gan/report/figures.py draws the figures from them).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from gan.measure.sparsity import GAUSSIAN_HOYER
from gan.report.forest import ratio_axis

LINESTYLES, HATCHES = ("-", "--", ":", "-."), ("", "//", "..", "xx")


def styles(groups: Sequence[dict]) -> dict[str, dict[str, Any]]:
    """Colour by D activation, line style / hatch by the other axes; one colour per group when that is too many."""
    acts = list(dict.fromkeys(g["act"] for g in groups))
    others = list(dict.fromkeys(g["rest"] for g in groups))
    if len(acts) > 10 or len(others) > len(LINESTYLES):
        cmap = matplotlib.colormaps["tab10" if len(groups) <= 10 else "tab20"]
        return {g["label"]: dict(color=cmap(i % cmap.N), linestyle="-", hatch="") for i, g in enumerate(groups)}
    cmap = matplotlib.colormaps["tab10"]
    return {g["label"]: dict(color=cmap(acts.index(g["act"])), linestyle=LINESTYLES[others.index(g["rest"])],
                             hatch=HATCHES[others.index(g["rest"])]) for g in groups}


def grid(n: int, ncols: int = 3, w: float = 4.6, h: float = 3.4) -> tuple[Figure, list[Any]]:
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(w * ncols, h * nrows + 0.6), layout="constrained")
    flat = list(fig.subplots(nrows, ncols, squeeze=False).flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def legend(fig: Figure, axes: Sequence[Any]) -> None:
    handles: dict[str, Any] = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    if handles:
        width = max(len(lab) for lab in handles) * 0.075 + 0.6  # inches per legend column at fontsize small
        ncols = max(1, min(len(handles), int(fig.get_figwidth() // width)))
        fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncols=ncols,
                   fontsize="small", frameon=False)


def is_share(key: str) -> bool:
    """A share in [0, 1]: dead_frac, zero_frac, dead_frac_eval (the data view of dead_frac), ..."""
    name = key.rsplit("/", 1)[-1]
    return name.endswith("_frac") or "_frac_" in name


def share_axis(ax: Any, key: str, axis: str = "y") -> None:
    """Shares (*_frac) start at 0 and span at least 0.05, so a 1e-5 difference does not fill the panel."""
    if is_share(key):
        lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
        hi = max(0.05, hi)
        (ax.set_ylim if axis == "y" else ax.set_xlim)(-0.03 * hi, hi)  # a little room: zeros stay visible


def reference(ax: Any, key: str, axis: str = "y") -> None:
    """Hoyer panels: a line at GAUSSIAN_HOYER, what a dense Gaussian vector scores (below it is not sparse)."""
    if key.endswith("hoyer"):
        (ax.axhline if axis == "y" else ax.axvline)(GAUSSIAN_HOYER, color="grey", linestyle="--", linewidth=1,
                                                    zorder=1, label=f"dense Gaussian ({GAUSSIAN_HOYER:.3f})")


def overlap_note(ax: Any, curves: dict[str, dict], lines: Sequence[Any] = (),
                  how: str = "the curves lie on top of each other") -> bool:
    """Where every group's curve is the same at this panel's scale (e.g. all zero, or 1e-7 apart on a 0-0.05
    axis), the one drawn last hides the others: say so in the panel, and draw a wider copy under each curve
    before the last, so that each colour shows as a band around the next. Returns whether they overlap."""
    by_step = [dict(zip(c["steps"], np.asarray(c["mean"], float))) for c in curves.values()]
    common = sorted(set.intersection(*(set(d) for d in by_step))) if by_step else []
    if len(by_step) < 2 or not common:
        return False
    means = np.array([[d[s] for s in common] for d in by_step])
    lo, hi = ax.get_ylim()
    if not np.isfinite(means).all():
        return False
    spread = float(np.max(means.max(axis=0) - means.min(axis=0)))
    if spread > 0.005 * abs(hi - lo):  # half a percent of the panel's height: apart by more than a line width
        return False
    who = "both groups" if len(by_step) == 2 else f"all {len(by_step)} groups"
    const, single = np.unique(means), len(common) == 1
    if len(const) == 1:
        what = f"{const[0]:g}" + ("" if single else " at every step")
    elif spread == 0:
        what = "the same value" + ("" if single else " at every step")
    else:
        what = f"{const[0]:.2g} to {const[-1]:.2g}, never more than {spread:.2g} apart"
    ax.text(0.5, 0.5, f"{who}: {what}\n({how})", transform=ax.transAxes,
            ha="center", va="center", fontsize="small", color="#444",
            bbox=dict(facecolor="white", alpha=0.8, edgecolor="#bbb"))
    if len(lines) <= 4:  # under each curve a wider one, widest first: every colour shows as a band around the next
        for i, line in enumerate(lines[:-1]):
            ax.plot(*line.get_data(), color=line.get_color(), linewidth=1.5 + 2.5 * (len(lines) - 1 - i),
                    alpha=0.9, zorder=line.get_zorder() - 0.1 * (len(lines) - i), label="_nolegend_")
    return True


def steps_shown(steps: Sequence[int]) -> str:
    """"step 4000", "steps 2000 and 4000", "steps 2000, 4000 and 6000"."""
    steps = [str(s) for s in steps]
    return f"step {steps[0]}" if len(steps) == 1 else f"steps {', '.join(steps[:-1])} and {steps[-1]}"


def strip(ax: Any, values: dict[str, dict], colors: dict[str, Any], labels: bool = True) -> None:
    """One row per group (top to bottom): dots = runs, diamond = mean with its 95% bootstrap CI."""
    for i, (lab, v) in enumerate(values.items()):
        vals, est = v["values"], v["estimate"]
        if not vals:
            continue
        jitter = np.linspace(-0.15, 0.15, len(vals)) if len(vals) > 1 else [0.0]
        ax.scatter(vals, i + np.asarray(jitter), color=colors.get(lab, "grey"), alpha=0.75, s=18, zorder=2)
        err = [[est["mean"] - est["ci_low"]], [est["ci_high"] - est["mean"]]] \
            if est["ci_low"] is not None and math.isfinite(est["ci_low"]) else None
        ax.errorbar(est["mean"], i + 0.32, xerr=err, fmt="D", color="black", ms=4, capsize=3, zorder=3)
    ax.set_yticks(range(len(values)), list(values) if labels else [""] * len(values), fontsize="small")
    ax.set_ylim(len(values) - 0.4, -0.6)  # first group on top
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.grid(alpha=0.3, axis="x")


def effect_axes(ax: Any, curves: Sequence[dict], margin: float, leaky: str) -> None:
    """Draw effect curves (analysis.json `effect_curves` items) on `ax`: the paired LeakyReLU / ReLU FCD ratio
    per evaluation step, its simultaneous (Bonferroni) and pointwise 95% bands, the +-margin band, on a log axis."""
    ax.axhspan(math.exp(-margin), math.exp(margin), color="#d0d7de", alpha=0.6, linewidth=0,
               label=f"± margin ({100 * math.expm1(margin):.3g}%)")
    ax.axhline(1.0, color="black", linewidth=0.8)
    cmap = matplotlib.colormaps["tab10"]
    for i, c in enumerate(curves):
        n = min(c["pairs"]), max(c["pairs"])
        pairs = f"{n[0]}" if n[0] == n[1] else f"{n[0]}-{n[1]}"
        ax.plot(c["steps"], c["ratio"], "o-", ms=3, color=cmap(i), label=f"{c['cell'] or leaky} ({pairs} pairs)")
        ax.fill_between(c["steps"], c["band_low"], c["band_high"], color=cmap(i), alpha=0.22, linewidth=0,
                        label=f"simultaneous 95% band ({len(c['steps'])} steps, Bonferroni)" if i == 0 else None)
        ax.fill_between(c["steps"], c["low"], c["high"], color=cmap(i), alpha=0.22, linewidth=0,
                        label="pointwise 95% interval" if i == 0 else None)
    ax.set_yscale("log")
    ratio_axis(ax.yaxis)
    ax.set(xlabel="step", ylabel=f"FCD ratio {leaky} / relu")
    ax.grid(alpha=0.3)
