"""Study figures drawn from analysis.json (gan/analysis/study_analysis.py): no statistic is computed here.

Each `fig_*` takes the analysis dict (and the study folder, where sample grids live) and returns (figure or
None, notes on what is missing). Plain matplotlib `Figure`s (no pyplot state), so this works headless and in
notebooks. FIGURES names them, in report order, with a title and a caption.

    fig, notes = FIGURES["final_metrics"][2](read_analysis("studies/quick"), Path("studies/quick"))
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any, Callable, Sequence

import matplotlib
import matplotlib.image
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from gan.analysis.study_analysis import PROBE_KEYS, QUALITY_KEYS, TRAIN_KEYS, claims_of
from gan.config.schema import D_ACT
from gan.measure.sparsity import GAUSSIAN_HOYER
from gan.report import panels
from gan.report.forest import ForestRow, fig_forest

Plot = tuple[Figure | None, list[str]]  # (figure or None, notes on what is missing)
Analysis = dict[str, Any]


def fig_over_steps(a: Analysis, keys: Sequence[str], title: str) -> Plot:
    """One panel per key present: mean over seeds per group, with its 95% bootstrap band where n >= 2. A key
    measured at one step only (e.g. dead_frac_eval in a short run: its data view runs on the last probe) is drawn
    as that end-of-run value, labelled, not as a lone dot on a curve axis; one measured at a few steps says
    which. Every panel spans the same steps, so a sparse measurement is seen where it was taken."""
    present = [k for k in keys if a["over_steps"].get(k)]
    if not present:
        return None, [f"{title}: no {', '.join(keys)} rows in any completed run's metrics.jsonl"]
    styles, notes = panels.styles(a["groups"]), []
    all_steps = [s for k in present for c in a["over_steps"][k].values() for s in c["steps"]]
    first, last = min(all_steps), max(all_steps)
    pad = 0.03 * (last - first) if last > first else 1.0
    fig, axes = panels.grid(len(present))
    coincide: list[str] = []
    for ax, key in zip(axes, present):
        curves = a["over_steps"][key]
        measured = sorted({s for c in curves.values() for s in c["steps"]})
        single_step = all(len(c["steps"]) == 1 for c in curves.values())
        lines = []
        for i, (lab, c) in enumerate(curves.items()):
            st = styles.get(lab, dict(color="black", linestyle="-"))
            steps, mean = c["steps"], np.asarray(c["mean"], float)
            lo, hi = np.asarray(c["low"], float), np.asarray(c["high"], float)
            if single_step:  # one value per run: an end-of-run value with its CI, not a curve
                err = [[mean[0] - lo[0]], [hi[0] - mean[0]]] if np.isfinite(lo[0]) else None
                dodge = (i - (len(curves) - 1) / 2) * pad  # side by side: equal values hide no group
                ax.errorbar([steps[0] + dodge], mean, yerr=err, fmt="D", color=st["color"], capsize=4,
                            label=f"{lab} (n={c['n']})")
                continue
            marker = dict(marker="o", ms=3) if len(steps) < 12 else {}
            lines += ax.plot(steps, mean, color=st["color"], linestyle=st["linestyle"], label=f"{lab} (n={c['n']})",
                             **marker)
            ax.fill_between(steps, lo, hi, color=st["color"], alpha=0.15, linewidth=0)
        if single_step:
            ax.set_title(f"{key}\n(measured at {panels.steps_shown(measured)} only: end-of-run value)", fontsize="medium")
            notes.append(f"{title}: {key} is measured once per run ({panels.steps_shown(measured)}), drawn as an "
                         "end-of-run value")
        elif len(measured) <= 4 and len(measured) < len(set(all_steps)):
            ax.set_title(f"{key}\n(measured at {panels.steps_shown(measured)} only)", fontsize="medium")
        else:
            ax.set_title(key)
        ax.set(xlabel="step", ylabel=key.rsplit("/", 1)[-1], xlim=(first - pad, last + pad))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        panels.share_axis(ax, key)
        panels.reference(ax, key)
        if single_step:
            panels.overlap_note(ax, curves, how="drawn side by side")
        elif panels.overlap_note(ax, curves, lines):
            coincide.append(key)
        ax.grid(alpha=0.3)
    if coincide:
        notes.append(f"{title}: the groups' curves coincide in {', '.join(coincide)} (each panel says so)")
    fig.suptitle(f"{title}: mean over seeds, 95% bootstrap band")
    panels.legend(fig, axes)
    if any(c["n"] < 2 for k in present for c in a["over_steps"][k].values()):
        notes.append(f"{title}: some groups have a single run, so no band")
    return fig, notes


def fig_final(a: Analysis, _dir: Path | None = None) -> Plot:
    """Final / run-mean metrics from results.csv: points per seed, mean and CI per group."""
    final = a["final"]
    if not final:
        return None, ["final metrics: results.csv has none of the final / run-mean metric columns"]
    colors = {lab: st["color"] for lab, st in panels.styles(a["groups"]).items()}
    n_groups = len(a["groups"])
    ncols = 3 if n_groups <= 6 else 2
    fig, axes = panels.grid(len(final), ncols=ncols, w=4.6 if ncols == 3 else 5.6, h=max(2.4, 1.5 + 0.3 * n_groups))
    for i, (ax, (key, values)) in enumerate(zip(axes, final.items())):
        panels.strip(ax, values, colors, labels=i % ncols == 0)
        ax.set(title=key, xlabel=key.rsplit("/", 1)[-1])
        panels.share_axis(ax, key, "x")
        panels.reference(ax, key, "x")
        if key.endswith("hoyer"):
            ax.legend(fontsize="x-small", loc="best", frameon=False)
    fig.suptitle("Final metrics per group: dots = runs (seeds), diamond = mean with 95% bootstrap CI")
    return fig, []


def fig_dead_layers(a: Analysis, _dir: Path | None = None) -> Plot:
    """Dead-unit fraction per D layer (run mean), bars = group mean with CI, dots = runs."""
    dead = a["dead_by_layer"]
    layers, groups = dead["layers"], dead["groups"]
    if not layers or not groups:
        return None, ["dead units per layer: no probe/D/<layer>/dead_frac values (probes off?)"]
    styles = panels.styles(a["groups"])
    fig = Figure(figsize=(min(14.0, max(6.0, 0.25 * len(layers) * len(groups) + 3)), 4.6), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(groups)
    notes = []
    for j, (lab, per_layer) in enumerate(groups.items()):
        st = styles.get(lab, dict(color="grey", hatch=""))
        for i, layer in enumerate(layers):
            v = per_layer[layer]
            if not v["values"]:
                continue
            x, est = i - 0.4 + width * (j + 0.5), v["estimate"]
            ax.bar(x, est["mean"], width * 0.9, color=st["color"], hatch=st["hatch"], edgecolor="white", alpha=0.8,
                   label=lab if i == 0 else None)
            if est["ci_low"] is not None and math.isfinite(est["ci_low"]):
                ax.errorbar(x, est["mean"], yerr=[[est["mean"] - est["ci_low"]], [est["ci_high"] - est["mean"]]],
                            color="black", capsize=3, fmt="none")
            ax.scatter([x] * len(v["values"]), v["values"], color=st["color"], edgecolors="black", linewidths=0.5,
                       s=14, zorder=3)  # the group's colour: still there when every bar is 0 high
    if all(not any(v["values"]) for per_layer in groups.values() for v in per_layer.values()):
        ax.text(0.5, 0.5, "every group, every layer: 0 (no dead unit in any run)", transform=ax.transAxes,
                ha="center", va="center", color="#444")
        notes.append("dead units per layer: 0 in every layer of every run")
    ax.set_xticks(range(len(layers)), layers)
    ax.set(title="Dead units per D layer (mean over probe steps; bars: mean over seeds, 95% CI)",
           xlabel="D layer", ylabel="dead_frac (share of channels)")
    panels.share_axis(ax, "dead_frac")
    ax.grid(alpha=0.3, axis="y")
    panels.legend(fig, [ax])
    return fig, notes


def fig_step_time(a: Analysis, _dir: Path | None = None) -> Plot:
    """Step time per D activation (all other axes pooled): the run's median perf/step_ms, else the final one."""
    from gan.analysis.stats import bootstrap_mean

    values = {act: [v for v in vals if v is not None and math.isfinite(v)] for act, vals in a["step_time"].items()}
    if not any(values.values()):
        return None, ["step time: no perf/step_ms rows and no final/perf/step_ms column"]
    fig = Figure(figsize=(7.0, 1.6 + 0.45 * len(values)), layout="constrained")
    ax = fig.subplots()
    cmap = matplotlib.colormaps["tab10"]
    strip = {act: {"values": v, "estimate": vars(bootstrap_mean(v))} for act, v in values.items()}
    panels.strip(ax, strip, {act: cmap(i % 10) for i, act in enumerate(values)})
    ax.set(title="Time per training step", xlabel="step time (ms)", ylabel=D_ACT)
    return fig, []


def fig_effect_over_training(a: Analysis, _dir: Path | None = None) -> Plot:
    """The paired LeakyReLU / ReLU FCD ratio at every evaluation: simultaneous and pointwise 95% bands, margin."""
    if not a["effect_curves"]:
        return None, list(a["effect_notes"])
    fig = Figure(figsize=(8, 4.4), layout="constrained")
    ax = fig.subplots()
    panels.effect_axes(ax, a["effect_curves"], a["effect_margin"], a["leaky"])
    ax.legend(fontsize="small")
    fig.suptitle("Effect over training: paired FCD ratio, simultaneous 95% band (light) and pointwise 95% (dark)")
    return fig, list(a["effect_notes"])


def fig_forest_study(a: Analysis, _dir: Path | None = None) -> Plot:
    """This study's tested primary claims as a forest plot."""
    from gan.analysis.claims.registry import analysis_margin

    rows = [ForestRow(a["study"]["name"], c, analysis_margin(c.number, a["margins"][str(c.number)]))
            for c in claims_of(a) if c.primary and c.test is not None and math.isfinite(c.test.ci_low)]
    fig = fig_forest(rows) if rows else None
    return fig, [] if fig is not None else ["forest plot: no primary claim with a CI"]


def fig_samples(a: Analysis, study_dir: Path) -> Plot:
    """samples/final.png of each group's first-seed run, side by side (same fixed noise in every run)."""
    samples = a["samples"]
    if not samples:
        return None, ["samples: no runs"]
    fig, axes = panels.grid(len(samples), ncols=4, w=3.4, h=3.7)
    notes = []
    for ax, s in zip(axes, samples):
        ax.set_axis_off()
        status = "" if s["status"] in (None, "completed") else f", {s['status']}"
        ax.set_title(textwrap.fill(s["title"], 34) + f"\nseed {s['seed']}{status}", fontsize="small")
        png = Path(study_dir) / s["path"] if s["path"] else None
        if png is not None and png.is_file():
            ax.imshow(matplotlib.image.imread(png), interpolation="nearest")
        else:
            ax.text(0.5, 0.5, "no samples/final.png", ha="center", va="center", transform=ax.transAxes)
            notes.append(f"samples: {s['run']} has no samples/final.png")
    fig.suptitle("Samples at the end of training (fixed noise, first seed of each group)")
    return fig, notes


# name -> (title, caption, maker(analysis, study_dir))
FIGURES: dict[str, tuple[str, str, Callable[[Analysis, Path], Plot]]] = {
    "probes_over_steps": (
        "Gradient-sparsity and over-strong-D probes over training",
        "D's dead units (training view on the probe batch; dead_frac_eval: eval mode on the fixed held-out set, "
        "measured on every 20th probe and the last) and zero gradients, what G receives (input_grad: per-sample "
        "Hoyer, share of starved samples), and whether D is over-strong (overfit: r_t, r_v, held-out loss gap, "
        "saturation). Lines: mean over seeds per group; bands: 95% bootstrap CI over seeds. The dashed line is the "
        f"Hoyer of a dense Gaussian vector ({GAUSSIAN_HOYER:.3f}): values near it are not sparse. Where the "
        "groups' curves coincide (e.g. 0 at every step), the panel says so and the curve drawn first shows as a "
        "wider band of its colour around the others.",
        lambda a, d: fig_over_steps(a, PROBE_KEYS, "Probes")),
    "quality_over_steps": (
        "Sample quality over training",
        "FCD (lower is better), modes covered (higher is better) and the other quality metrics at each evaluation.",
        lambda a, d: fig_over_steps(a, QUALITY_KEYS, "Quality")),
    "forest": (
        "Primary effects (forest plot)",
        "Each tested claim's primary effect with its 95% t-interval, the grey band its margin, the verdict at "
        "the right. Ratios: LeakyReLU / ReLU on a log axis; differences: LeakyReLU − ReLU.",
        fig_forest_study),
    "effect_over_training": (
        "Effect over training",
        "The paired LeakyReLU / ReLU FCD ratio at every evaluation step: the light band is a simultaneous 95% "
        "band over all steps (Bonferroni), which the curve can be read against as a whole; the darker band inside "
        "it is each step's own 95% t-interval. The grey band is claim 2's margin. Claim 2's verdict uses the last "
        "3 evaluations; the rest show whether the answer depends on how long one trains.",
        fig_effect_over_training),
    "final_metrics": (
        "Final metrics per group",
        "Each dot is one run (seed); the diamond is the group mean with its 95% bootstrap CI. Hoyer panels: "
        f"the dashed line is a dense Gaussian vector's value ({GAUSSIAN_HOYER:.3f}).",
        fig_final),
    "dead_by_layer": (
        "Dead units per D layer",
        "Share of D's channels whose pre-activation is <= 0 everywhere on the probe batch (training view: D in "
        "train mode, real and fake calls), averaged over probe steps; dots are runs.",
        fig_dead_layers),
    "step_time": (
        "Step time per activation",
        "Time per training step by D activation, other axes pooled (each run's median perf/step_ms from "
        "metrics.jsonl, else final/perf/step_ms); dots are runs, the diamond is the mean with its 95% "
        "bootstrap CI. Only runs timed side by side on one machine are comparable.",
        fig_step_time),
    "samples": (
        "Sample grids",
        "samples/final.png of each group's first seed: the same fixed noise in every run.",
        fig_samples),
    "training_over_steps": (
        "Losses and D outputs over training",
        "Training losses and D's mean output probabilities on real and fake batches.",
        lambda a, d: fig_over_steps(a, TRAIN_KEYS, "Training")),
}
