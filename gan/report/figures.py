"""Study figures: each `fig_*` takes a loaded Study and returns (figure or None, notes on what is missing).
Figures are plain matplotlib `Figure`s (no pyplot state) saved by the Agg canvas, so this works headless and
inside notebooks alike. FIGURES names them, in report order, with a title and a caption.

    fig, notes = FIGURES["final_metrics"][2](study_data.load_study_results("studies/quick"))
"""

from __future__ import annotations

import math
import textwrap
from typing import Any, Callable, Sequence

import matplotlib
import matplotlib.image
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from gan.measure import metric_keys as mk
from gan.analysis.arms import RELU, pick_leaky
from gan.analysis.claims import STEP_MS_KEYS, analysis_margin, evaluate_claims, margins
from gan.analysis.effect_curve import describe, effect_curves
from gan.report.forest import fig_forest, forest_rows, ratio_axis
from gan.files.layout import RunDir
from gan.measure.sparsity import GAUSSIAN_HOYER
from gan.analysis.stats import ACT, SEED, Estimate, bootstrap_band, bootstrap_mean, group_rows, is_completed, is_finite, label
from gan.study.read import Study

PROBE_KEYS = (mk.D_DEAD_FRAC, mk.D_DEAD_FRAC_EVAL, mk.D_GRAD_ZERO_FRAC, mk.D_PARAM_GRAD_ZERO_FRAC, mk.IG_HOYER,
              mk.IG_STARVED_FRAC, mk.IG_ZERO_FRAC, mk.IG_NORM)
QUALITY_KEYS = (mk.FCD, mk.FID, mk.MODES_COVERED, mk.KID, mk.COVERAGE, mk.PRECISION)
TRAIN_KEYS = (mk.LOSS_D, mk.LOSS_G, mk.D_REAL_PROB, mk.D_FAKE_PROB)
FINAL_KEYS = (*map(mk.final, (mk.FCD, mk.FID, mk.MODES_COVERED, mk.KID)),
              *map(mk.mean, (mk.D_DEAD_FRAC, mk.D_DEAD_FRAC_EVAL, mk.D_PARAM_GRAD_ZERO_FRAC, mk.D_GRAD_ZERO_FRAC,
                             mk.IG_HOYER, mk.IG_ZERO_FRAC)), *STEP_MS_KEYS)
DEAD_LAYER, SPLITS = mk.D_LAYER_DEAD, mk.SPLITS

Plot = tuple[Figure | None, list[str]]  # (figure or None, notes on what is missing)
LINESTYLES, HATCHES = ("-", "--", ":", "-."), ("", "//", "..", "xx")


def _styles(study: Study, groups: dict[str, list[dict]]) -> dict[str, dict[str, Any]]:
    """Colour by D activation, line style / hatch by the other axes; one colour per group when that is too many."""
    rest = [a for a in study.group_by if a != ACT]
    first = {lab: rows[0] for lab, rows in groups.items()}
    acts = list(dict.fromkeys(str(r.get(ACT)) for r in first.values()))
    others = list(dict.fromkeys(label(r, rest) for r in first.values()))
    if len(acts) > 10 or len(others) > len(LINESTYLES):
        cmap = matplotlib.colormaps["tab10" if len(groups) <= 10 else "tab20"]
        return {lab: dict(color=cmap(i % cmap.N), linestyle="-", hatch="") for i, lab in enumerate(groups)}
    cmap = matplotlib.colormaps["tab10"]
    return {lab: dict(color=cmap(acts.index(str(r.get(ACT)))), linestyle=LINESTYLES[others.index(label(r, rest))],
                      hatch=HATCHES[others.index(label(r, rest))]) for lab, r in first.items()}


def _grid(n: int, ncols: int = 3, w: float = 4.6, h: float = 3.4) -> tuple[Figure, list[Any]]:
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(w * ncols, h * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _legend(fig: Figure, axes: Sequence[Any]) -> None:
    handles, labels = {}, []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in handles:
                handles[lab] = h
                labels.append(lab)
    if labels:
        width = max(len(lab) for lab in labels) * 0.075 + 0.6  # inches per legend column at fontsize small
        ncols = max(1, min(len(labels), int(fig.get_figwidth() // width)))
        fig.legend([handles[lab] for lab in labels], labels, loc="outside lower center",
                   ncols=ncols, fontsize="small", frameon=False)


def _share_axis(ax: Any, key: str, axis: str = "y") -> None:
    """Shares (*_frac) start at 0 and span at least 0.05, so a 1e-5 difference does not fill the panel."""
    if key.endswith("_frac"):
        lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
        hi = max(0.05, hi)
        (ax.set_ylim if axis == "y" else ax.set_xlim)(-0.03 * hi, hi)  # a little room: zeros stay visible


def _reference(ax: Any, key: str, axis: str = "y") -> None:
    """Hoyer panels: a line at GAUSSIAN_HOYER, what a dense Gaussian vector scores (below it is not sparse)."""
    if key.endswith("hoyer"):
        line = ax.axhline if axis == "y" else ax.axvline
        line(GAUSSIAN_HOYER, color="grey", linestyle="--", linewidth=1, zorder=1,
             label=f"dense Gaussian ({GAUSSIAN_HOYER:.3f})")


def step_series(rows: list[dict], key: str) -> dict[int, float]:
    """step -> value of `key` over metrics.jsonl rows (rows without a step or a finite value are skipped)."""
    return {int(r["step"]): float(r[key]) for r in rows if "step" in r and is_finite(r.get(key))}


def fig_over_steps(study: Study, keys: Sequence[str], title: str) -> Plot:
    """One panel per key present: mean over seeds per group, with a 95% bootstrap band where n >= 2."""
    groups = study.groups()
    present = [k for k in keys if any(step_series(study.metrics[str(r["run"])], k)
                                      for rows in groups.values() for r in rows)]
    if not present:
        return None, [f"{title}: no {', '.join(keys)} rows in any completed run's metrics.jsonl"]
    styles = _styles(study, groups)
    fig, axes = _grid(len(present))
    single = False
    for ax, key in zip(axes, present):
        for lab, rows in groups.items():
            series = [step_series(study.metrics[str(r["run"])], key) for r in rows]
            steps = sorted(set().union(*series))
            steps = steps[:: max(1, len(steps) // 400)]  # long runs: at most ~400 points (bands cost B x R x T)
            if not steps:
                continue
            m = np.array([[s.get(t, np.nan) for t in steps] for s in series])  # (runs, steps)
            mean, lo, hi = bootstrap_band(m)
            single |= len(series) < 2
            style = dict(marker="o", ms=3) if len(steps) < 12 else {}
            ax.plot(steps, mean, color=styles[lab]["color"], linestyle=styles[lab]["linestyle"],
                    label=f"{lab} (n={len(series)})", **style)
            ax.fill_between(steps, lo, hi, color=styles[lab]["color"], alpha=0.15, linewidth=0)
        ax.set(title=key, xlabel="step", ylabel=key.rsplit("/", 1)[-1])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        _share_axis(ax, key)
        _reference(ax, key)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{title}: mean over seeds, 95% bootstrap band")
    _legend(fig, axes)
    return fig, [f"{title}: some groups have a single run, so no band"] if single else []


def _ci_err(est: Estimate) -> list[list[float]] | None:
    """Error-bar lengths below and above the mean for its CI; None when there is no CI (one value)."""
    return [[est.mean - est.ci_low], [est.ci_high - est.mean]] if math.isfinite(est.ci_low) else None


def _strip(ax: Any, values: dict[str, list[float]], colors: dict[str, Any], labels: bool = True) -> None:
    """One row per group (top to bottom): dots = runs, diamond = mean with its 95% bootstrap CI."""
    for i, (lab, vals) in enumerate(values.items()):
        vals = [v for v in vals if is_finite(v)]
        if not vals:
            continue
        jitter = np.linspace(-0.15, 0.15, len(vals)) if len(vals) > 1 else [0.0]
        ax.scatter(vals, i + np.asarray(jitter), color=colors[lab], alpha=0.75, s=18, zorder=2)
        est = bootstrap_mean(vals)
        err = _ci_err(est)
        ax.errorbar(est.mean, i + 0.32, xerr=err, fmt="D", color="black", ms=4, capsize=3, zorder=3)
    ax.set_yticks(range(len(values)), list(values) if labels else [""] * len(values), fontsize="small")
    ax.set_ylim(len(values) - 0.4, -0.6)  # first group on top
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.grid(alpha=0.3, axis="x")


def final_keys(study: Study) -> list[str]:
    """The FINAL_KEYS columns with values; the final step time only when there is no median one."""
    keys = [k for k in FINAL_KEYS if study.results.has_metric(k)]
    return [k for k in keys if not (k in STEP_MS_KEYS[1:] and STEP_MS_KEYS[0] in keys)]


def fig_final(study: Study) -> Plot:
    """Final / run-mean metrics from results.csv: points per seed, mean and CI per group."""
    groups = study.groups()
    keys = final_keys(study)
    if not keys:
        return None, ["final metrics: results.csv has none of " + ", ".join(FINAL_KEYS)]
    colors = {lab: st["color"] for lab, st in _styles(study, groups).items()}
    ncols = 3 if len(groups) <= 6 else 2
    fig, axes = _grid(len(keys), ncols=ncols, w=4.6 if ncols == 3 else 5.6, h=max(2.4, 1.5 + 0.3 * len(groups)))
    for i, (ax, key) in enumerate(zip(axes, keys)):
        _strip(ax, {lab: [r.get(key) for r in rows] for lab, rows in groups.items()}, colors, labels=i % ncols == 0)
        ax.set(title=key, xlabel=key.rsplit("/", 1)[-1])
        _share_axis(ax, key, "x")
        _reference(ax, key, "x")
        if key.endswith("hoyer"):
            ax.legend(fontsize="x-small", loc="best", frameon=False)
    fig.suptitle("Final metrics per group: dots = runs (seeds), diamond = mean with 95% bootstrap CI")
    return fig, []


def _run_value(study: Study, row: dict, key: str) -> float:
    """mean/<key> from results.csv, else the mean of <key> over the run's metrics.jsonl rows."""
    if is_finite(row.get(mk.mean(key))):
        return float(row[mk.mean(key)])
    vals = list(step_series(study.metrics[str(row["run"])], key).values())
    return float(np.mean(vals)) if vals else math.nan


def fig_dead_layers(study: Study) -> Plot:
    """Dead-unit fraction per D layer (run mean), bars = group mean with CI, dots = runs."""
    groups = study.groups()
    keys = list(study.results.columns) + [k for rows in study.metrics.values() for r in rows[:50] for k in r]
    layers = list(dict.fromkeys(m.group(1) for k in keys if (m := DEAD_LAYER.match(k)) and m.group(1) not in SPLITS))
    if not layers or not groups:
        return None, ["dead units per layer: no probe/D/<layer>/dead_frac values (probes off?)"]
    styles = _styles(study, groups)
    fig = Figure(figsize=(min(14.0, max(6.0, 0.25 * len(layers) * len(groups) + 3)), 4.6), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(groups)
    for j, (lab, rows) in enumerate(groups.items()):
        for i, layer in enumerate(layers):
            vals = [v for r in rows if is_finite(v := _run_value(study, r, mk.probe("D", "dead_frac", layer)))]
            if not vals:
                continue
            x = i - 0.4 + width * (j + 0.5)
            est = bootstrap_mean(vals)
            err = _ci_err(est)
            ax.bar(x, est.mean, width * 0.9, color=styles[lab]["color"], hatch=styles[lab]["hatch"],
                   edgecolor="white", alpha=0.8, label=lab if i == 0 else None)
            ax.errorbar(x, est.mean, yerr=err, color="black", capsize=3, fmt="none")
            ax.scatter([x] * len(vals), vals, color="black", s=8, zorder=3)
    ax.set_xticks(range(len(layers)), layers)
    ax.set(title="Dead units per D layer (mean over probe steps; bars: mean over seeds, 95% CI)",
           xlabel="D layer", ylabel="dead_frac (share of channels)")
    _share_axis(ax, "dead_frac")
    ax.grid(alpha=0.3, axis="y")
    _legend(fig, [ax])
    return fig, []


def fig_step_time(study: Study) -> Plot:
    """Step time per D activation (all other axes pooled): the run's median perf/step_ms, else the final one."""
    values = {act: [_step_ms(r) for r in rows]
              for act, rows in group_rows(study.results.completed(), [ACT]).items()}
    if not any(is_finite(v) for vals in values.values() for v in vals):
        return None, ["step time: no perf/step_ms rows and no final/perf/step_ms column"]
    fig = Figure(figsize=(7.0, 1.6 + 0.45 * len(values)), layout="constrained")
    ax = fig.subplots()
    cmap = matplotlib.colormaps["tab10"]
    _strip(ax, values, {act: cmap(i % 10) for i, act in enumerate(values)})
    ax.set(title="Time per training step", xlabel="step time (ms)", ylabel="model.d_act")
    return fig, []


def fig_effect_over_training(study: Study) -> Plot:
    """The paired LeakyReLU / ReLU FCD ratio with its 95% CI at every evaluation, the margin as a band."""
    leaky = pick_leaky(study.results.levels(ACT))
    if leaky is None or RELU not in [str(a) for a in study.results.levels(ACT)]:
        return None, ["effect over training: needs relu and a leaky_relu arm"]
    margin = analysis_margin(2, margins(study.results)[2])
    curves = effect_curves(study.results, study.metrics, leaky, mk.FCD, margin)
    if not curves:
        return None, ["effect over training: fewer than 2 pairs with FCD at any evaluation step"]
    fig = Figure(figsize=(8, 4.4), layout="constrained")
    ax = fig.subplots()
    ax.axhspan(math.exp(-margin), math.exp(margin), color="#d0d7de", alpha=0.6, linewidth=0,
               label=f"± margin ({100 * math.expm1(margin):.3g}%)")
    ax.axhline(1.0, color="black", linewidth=0.8)
    cmap = matplotlib.colormaps["tab10"]
    for i, c in enumerate(curves):
        r = np.array(c.ratio())  # (steps, 3): ratio, CI low, CI high
        n = min(t.n for t in c.tests), max(t.n for t in c.tests)
        pairs = f"{n[0]}" if n[0] == n[1] else f"{n[0]}-{n[1]}"
        band = np.array(c.band())  # (steps, 2): the simultaneous 95% band
        ax.plot(c.steps, r[:, 0], "o-", ms=3, color=cmap(i), label=f"{c.cell or leaky} ({pairs} pairs)")
        ax.fill_between(c.steps, band[:, 0], band[:, 1], color=cmap(i), alpha=0.22, linewidth=0,
                        label=f"simultaneous 95% band ({len(c.steps)} steps, Bonferroni)" if i == 0 else None)
        ax.fill_between(c.steps, r[:, 1], r[:, 2], color=cmap(i), alpha=0.22, linewidth=0,
                        label="pointwise 95% interval" if i == 0 else None)
    ax.set_yscale("log")
    ratio_axis(ax.yaxis)
    ax.set(xlabel="step", ylabel=f"FCD ratio {leaky} / relu")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.suptitle("Effect over training: paired FCD ratio, simultaneous 95% band (light) and pointwise 95% (dark)")
    return fig, describe(curves, margin)


def fig_forest_study(study: Study) -> Plot:
    """This study's tested primary claims as a forest plot."""
    claims = evaluate_claims(study.results, study.step_time)
    rows = forest_rows(study.results.name or study.dir.name, study.results, claims)
    fig = fig_forest(rows)
    return fig, [] if fig is not None else ["forest plot: no primary claim with a CI"]


def _step_ms(row: dict) -> float:
    for key in STEP_MS_KEYS:
        if is_finite(row.get(key)):
            return float(row[key])
    return math.nan


def fig_samples(study: Study) -> Plot:
    """samples/final.png of each group's first-seed run, side by side (same fixed noise in every run)."""
    groups = study.groups(completed=False)
    if not groups:
        return None, ["samples: no runs"]
    fig, axes = _grid(len(groups), ncols=4, w=3.4, h=3.7)
    notes = []
    for ax, (lab, rows) in zip(axes, groups.items()):
        row = min(rows, key=lambda r: (not is_completed(r), r[SEED] if is_finite(r.get(SEED)) else math.inf))
        d = study.run_dirs.get(str(row.get("run")))
        png = RunDir(d).final_samples if d else None
        ax.set_axis_off()
        status = "" if is_completed(row) else f", {row.get('status')}"
        ax.set_title(textwrap.fill(label(row, study.settings), 34) + f"\nseed {row.get(SEED)}{status}",
                     fontsize="small")
        if png and png.is_file():
            ax.imshow(matplotlib.image.imread(png), interpolation="nearest")
        else:
            ax.text(0.5, 0.5, "no samples/final.png", ha="center", va="center", transform=ax.transAxes)
            notes.append(f"samples: {row.get('run')} has no samples/final.png")
    fig.suptitle("Samples at the end of training (fixed noise, first seed of each group)")
    return fig, notes


# name -> (title, caption, maker)
FIGURES: dict[str, tuple[str, str, Callable[[Study], Plot]]] = {
    "probes_over_steps": (
        "Gradient-sparsity probes over training",
        "D's dead units (training view on the probe batch; dead_frac_eval: eval mode on the fixed held-out set) "
        "and zero gradients, and what G receives (input_grad: per-sample Hoyer, share of starved samples). "
        "Lines: mean over seeds per group; bands: 95% bootstrap CI over seeds. The dashed line is the Hoyer of "
        f"a dense Gaussian vector ({GAUSSIAN_HOYER:.3f}): values near it are not sparse.",
        lambda s: fig_over_steps(s, PROBE_KEYS, "Probes")),
    "quality_over_steps": (
        "Sample quality over training",
        "FCD (lower is better), modes covered (higher is better) and the other quality metrics at each evaluation.",
        lambda s: fig_over_steps(s, QUALITY_KEYS, "Quality")),
    "forest": (
        "Primary effects (forest plot)",
        "Each tested claim's primary effect with its 95% t-interval, the grey band its margin, the verdict at "
        "the right. Ratios: LeakyReLU / ReLU on a log axis; differences: LeakyReLU − ReLU.",
        fig_forest_study),
    "effect_over_training": (
        "Effect over training",
        "The paired LeakyReLU / ReLU FCD ratio at every evaluation step: the light band is a simultaneous 95% "
        "band over all steps (Bonferroni), which the curve can be read against as a whole; the darker band inside "
        "it is each step's own 95% t-interval. The grey band is claim 2's margin. Claim 2's verdict uses the last 3 evaluations; the rest show whether the "
        "answer depends on how long one trains.",
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
        lambda s: fig_over_steps(s, TRAIN_KEYS, "Training")),
}
