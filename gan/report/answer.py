"""`gan answer`: the headline across studies. One forest plot and one table over several study directories
(e.g. the Fashion-MNIST study and its mnist5k replication). For each pair of studies the table adds a claim of
its own: does the LeakyReLU / ReLU ratio differ between them (gan/analysis/dataset_contrast.py)? Every primary p-value
of the table (each study's tested claims and every contrast) is one Holm family here; each study's own report
keeps its own family.

    gan answer results/answer/fashion_mnist=Fashion-MNIST results/answer/mnist5k=mnist5k --out results/answer

writes OUT/forest.png, OUT/answer.md (the table the README's "The answer" section quotes, then the mechanism
as measured: analysis.json's `mechanism` section of every study), OUT/effect_over_training.png (one panel per
study: the paired FCD ratio at every evaluation with its simultaneous band) and, per study,
OUT/samples_<label>.png: ReLU and LeakyReLU final samples of one seed from the same fixed noise, side by side.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import matplotlib.image
import numpy as np
from matplotlib.figure import Figure

from gan.analysis.claim import ClaimResult
from gan.analysis.claim_text import fmt, kid_text, rules_out
from gan.analysis.claims import MARGINS, analysis_margin, decide_family
from gan.analysis.study_analysis import claims_of, read_analysis
from gan.analysis.dataset_contrast import dataset_contrast, welch_test
from gan.errors import UserError
from gan.report.forest import ForestRow, fig_forest
from gan.files.layout import AnswerDir, StudyDir
from gan.report import panels
from gan.report.document import to_markdown
from gan.report.mechanism_table import MECHANISM_TEXT, mechanism_table
from gan.study.results import is_finite


def parse_study_arg(arg: str) -> tuple[Path, str]:
    """'DIR=LABEL' or 'DIR' (label: the folder's name)."""
    path, _, lab = arg.partition("=")
    return Path(path), lab or Path(path).name


def answer_claims(loaded: Sequence[tuple[str, dict[str, Any]]],
                  uncontrasted: Sequence[tuple[str, dict[str, Any]]] = ()) -> list[tuple[str, ClaimResult, float]]:
    """(study label, primary claim, margin on the analysis scale) for every study's primary claims (from its
    analysis.json), then one dataset contrast per pair of `loaded` studies; all decided in one Holm family.
    `uncontrasted` studies add their claims only: each varies something else on data already in the table, so a
    contrast with the study of the same data would be no dataset contrast."""
    rows: list[tuple[str, ClaimResult, float]] = []
    for lab, a in (*loaded, *uncontrasted):
        rows += [(lab, c, analysis_margin(c.number, a["margins"][str(c.number)])) for c in claims_of(a) if c.primary]
    margin = analysis_margin(2, MARGINS[2])
    for (la, a), (lb, b) in itertools.combinations(loaded, 2):
        ca, cb = _claim2(a), _claim2(b)
        if ca and cb and len(ca["pairs"]) >= 2 and len(cb["pairs"]) >= 2:
            c = dataset_contrast(la, np.array(ca["pairs"]), lb, np.array(cb["pairs"]), ca["metric"], margin)
            if len(ca["kid_pairs"]) >= 2 and len(cb["kid_pairs"]) >= 2:  # KID beside it, as for every quality claim
                c = replace(c, kid=welch_test(np.array(ca["kid_pairs"]), np.array(cb["kid_pairs"]), margin))
            rows.append((f"{la} vs {lb}", c, margin))
    decided = decide_family([c for _, c, _ in rows])
    return [(lab, c, m) for (lab, _, m), c in zip(rows, decided)]


def _claim2(analysis: dict[str, Any]) -> dict[str, Any] | None:
    """Claim 2's primary row of an analysis (its per-seed log ratios in `pairs`), or None."""
    return next((c for c in analysis["claims"] if c["primary"] and c["number"] == 2), None)


def _load(args: Sequence[str]) -> list[tuple[str, dict[str, Any], Path]]:
    loaded = []
    for arg in args:
        path, lab = parse_study_arg(arg)
        if not StudyDir(path).results_csv.is_file():
            raise UserError(f"{path} has no results.csv: give study directories written by `gan study`")
        loaded.append((lab, read_analysis(path), path))
    return loaded


def write_answer(studies: Sequence[str], out: str | Path, context: Sequence[str] = (),
                 claims_only: Sequence[str] = ()) -> tuple[Path, Path]:
    """Forest plot and answer table over `studies` ('DIR[=LABEL]'); returns (forest.png, answer.md).
    `claims_only` studies join the table, the Holm family and the figures but no dataset contrast (see
    answer_claims). `context` studies (e.g. the same pair trained longer) join the effect-over-training figure
    and the mechanism table only: no verdict, no place in the Holm family."""
    loaded, own, beside = _load(studies), _load(claims_only), _load(context)
    rows = forest_rows_of([(lab, a) for lab, a, _ in loaded], [(lab, a) for lab, a, _ in own])
    if not rows:
        raise UserError("no tested primary claim with a CI in these studies: nothing to plot")
    layout = AnswerDir(out)
    layout.path.mkdir(parents=True, exist_ok=True)
    for lab, a, path in (*loaded, *own):
        fig = fig_same_noise(a, path, lab)
        if fig is not None:
            fig.savefig(layout.samples_png(lab), dpi=110, bbox_inches="tight")
    fig = fig_forest(rows, "The answer: primary effects with 95% CI (grey: margin)")
    fig.savefig(layout.forest_png, dpi=110, bbox_inches="tight")
    blocks = [("p", f"Written by `{written_by(studies, out, context, claims_only)}`."), ("table", *answer_table(rows)),
              ("p", ANSWER_RULES)]
    everything = [(lab, a) for lab, a, _ in (*loaded, *own, *beside)]
    fig = fig_effect_panels(everything)
    if fig is not None:
        fig.savefig(layout.effect_png, dpi=110, bbox_inches="tight")
        blocks.append(("img", layout.effect_png))
    mech = mechanism_table(everything)
    if mech[1]:
        blocks += [("h2", "The mechanism, as measured"), ("p", MECHANISM_TEXT), ("table", *mech)]
    md = to_markdown(blocks, layout.path)
    layout.answer_md.write_text(md)
    return layout.forest_png, layout.answer_md


def forest_rows_of(loaded: Sequence[tuple[str, dict[str, Any]]],
                   uncontrasted: Sequence[tuple[str, dict[str, Any]]] = ()) -> list[ForestRow]:
    """The answer's rows: every tested primary claim with a CI, and the dataset contrasts, decided as one family."""
    return [ForestRow(lab, c, m) for lab, c, m in answer_claims(loaded, uncontrasted)
            if c.test is not None and is_finite(c.test.ci_low)]


def written_by(studies: Sequence[str], out: str | Path, context: Sequence[str] = (),
               claims_only: Sequence[str] = ()) -> str:
    """The command that writes this answer (answer.md's first line: a reader reruns it, a test parses it)."""
    return " ".join(["gan answer", *studies, "--out", str(out), *(f"--claims-only {c}" for c in claims_only),
                     *(f"--context {c}" for c in context)])


ANSWER_RULES = (
    "p (Holm): one Holm correction over every primary p-value in this table (each study's tested claims and "
    "each dataset contrast), so the chance of any false supported / contradicted in the whole table stays at or "
    "below 5%; each study's own report corrects over its own claims only. Dataset contrasts (claim 10): Welch's "
    "t on the two studies' per-seed LeakyReLU / ReLU log FCD ratios, read as a ratio of ratios; 'pairs' is the "
    "number of seeds of both studies together. KID beside it: the same contrast on the tail-averaged KID (same "
    "features, unbiased), descriptive.")


def answer_table(rows: Sequence[ForestRow]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) for the README's answer table: claim, study, metric, effect [CI], pairs, verdict, rules out,
    KID beside it."""
    head = ["claim", "dataset", "primary metric", "effect [95% CI]", "pairs", "p (Holm, whole table)", "verdict",
            "smallest effect ruled out", "KID beside it"]
    out = []
    for r in rows:
        c, x = r.claim, ("x" if r.claim.log else "")
        out.append([f"{c.number}. {c.text}", r.study, c.metric,
                    f"{fmt(c.effect)}{x} [{fmt(c.ci_low)}, {fmt(c.ci_high)}]", str(c.n_pairs), fmt(c.p_adjusted),
                    c.verdict, rules_out(c), kid_text(c)])
    return head, out


def fig_effect_panels(loaded: Sequence[tuple[str, dict[str, Any]]]) -> Figure | None:
    """One panel per study with an effect curve (its baseline cell's), on one shared ratio axis: does the effect
    settle, and where, on each dataset. None when no study has one."""
    shown = [(lab, a) for lab, a in loaded if a.get("effect_curves")]
    if not shown:
        return None
    ncols = min(3, len(shown))
    nrows = -(-len(shown) // ncols)
    fig = Figure(figsize=(4.6 * ncols, 3.8 * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharey=True, squeeze=False)).ravel()
    for ax, (lab, a) in zip(axes, shown):
        curve = next((c for c in a["effect_curves"] if not c["cell"]), a["effect_curves"][0])
        panels.effect_axes(ax, [curve], a["effect_margin"], a["leaky"])
        ax.set_title(f"{lab} ({max(curve['pairs'])} pairs)", fontsize="medium")
    for i, ax in enumerate(axes):
        if i >= len(shown):
            ax.set_axis_off()
        elif i % ncols:
            ax.set_ylabel("")
    axes[0].legend(fontsize="x-small", loc="upper left")
    fig.suptitle("LeakyReLU / ReLU FCD ratio over training, paired by seed: simultaneous 95% band (light), "
                 "pointwise (dark), ±margin (grey)", fontsize="medium")
    return fig


def fig_same_noise(analysis: dict[str, Any], study_dir: Path, label: str) -> Figure | None:
    """The first seed whose ReLU and LeakyReLU baseline runs both completed: their samples/final.png side by
    side (every run draws its final grid from the same fixed noise). None when there is no such seed."""
    same = analysis.get("same_noise")
    if not same:
        return None
    fig = Figure(figsize=(10, 5.3), layout="constrained")
    for ax, act, rel in zip(fig.subplots(1, 2), same["arms"], same["paths"]):
        ax.imshow(matplotlib.image.imread(Path(study_dir) / rel), interpolation="nearest")
        ax.set_title(f"D {act}", fontsize="medium")
        ax.set_axis_off()
    fig.suptitle(f"{label}: samples at the end of training, seed {same['seed']}, the same noise")
    return fig
