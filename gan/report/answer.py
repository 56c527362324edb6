"""`gan answer`: the headline across studies, rendered from OUT/answer.json (gan/analysis/answer_analysis.py computes
every number: the one Holm family over the studies' primary claims, claim 10's dataset contrasts, claim 12's
interventions, steps to quality). This module only draws and writes; the studies' own analysis.json files are read
(never written) for the figures and the mechanism table.

    gan answer results/answer/fashion_mnist=Fashion-MNIST results/answer/mnist5k=mnist5k --out results/answer

writes OUT/answer.json (the statistics), OUT/forest.png, OUT/answer.md (the table the README's "The answer" section
quotes, the interventions' manipulation checks, steps to quality, then the mechanism as measured: analysis.json's
`mechanism` section of every study), OUT/effect_over_training.png (one panel per study: the paired FCD ratio at every
evaluation with its simultaneous band) and, per study, OUT/samples_<label>.png: ReLU and LeakyReLU final samples of
one seed from the same fixed noise, side by side.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import matplotlib.image
import numpy as np
from matplotlib.figure import Figure

from gan.analysis.answer_analysis import CLAIMS_ONLY, CONTEXT, INTERVENTION, STUDY
from gan.analysis.claims import registry
from gan.analysis.claims.result import claim_from_dict, fmt, kid_text, rules_out
from gan.analysis.study_analysis import read_analysis
from gan.files.atomic import write_atomic, write_text_atomic
from gan.files.layout import AnswerDir
from gan.report import panels
from gan.report.document import to_markdown
from gan.report.forest import ForestRow, fig_forest
from gan.report.mechanism_table import MECHANISM_TEXT, mechanism_table
from gan.errors import UserError


def read_answer(out: str | Path) -> dict[str, Any]:
    """OUT/answer.json (written by `gan answer`'s analysis)."""
    path = AnswerDir(out).answer_json
    if not path.is_file():
        raise UserError(f"{out} has no answer.json: run `gan answer STUDY_DIR ... --out {out}` to compute it")
    return json.loads(path.read_text())


def table_rows_of(answer: dict[str, Any]) -> list[ForestRow]:
    """The answer table's rows (answer.json rows marked `shown`), in the analysis' order."""
    return [ForestRow(r["label"], claim_from_dict(r["claim"]), r["margin"]) for r in answer["rows"] if r["shown"]]


def forest_rows_of(answer: dict[str, Any]) -> list[ForestRow]:
    """The rows the forest plot draws: those of the table with a CI that were tested."""
    return [r for r in table_rows_of(answer) if r.claim.test is not None and np.isfinite(r.claim.test.ci_low)
            and not r.claim.verdict.startswith("not tested")]


def _save(fig: Figure, path: Path) -> None:
    write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=110, bbox_inches="tight"))


def write_answer(out: str | Path) -> tuple[Path, Path]:
    """Render OUT/answer.json: the forest plot, the samples, the effect panels and answer.md; returns (forest.png,
    answer.md)."""
    answer = read_answer(out)
    layout = AnswerDir(out)
    by_role = {role: [(s["label"], read_analysis(s["path"]), Path(s["path"])) for s in answer["studies"]
                      if s["role"] == role] for role in (STUDY, CLAIMS_ONLY, CONTEXT, INTERVENTION)}
    for lab, a, path in (*by_role[STUDY], *by_role[CLAIMS_ONLY]):
        fig = fig_same_noise(a, path, lab)
        if fig is not None:
            _save(fig, layout.samples_png(lab))
    fig = fig_forest(forest_rows_of(answer), "The answer: primary effects with 95% CI (grey: margin)")
    if fig is not None:  # e.g. only an intervention whose manipulation check failed: nothing to draw
        _save(fig, layout.forest_png)
    blocks = [("p", f"Written by `{answer['written_by']}`."), ("table", *answer_table(table_rows_of(answer))),
              ("p", ANSWER_RULES)]
    if answer["interventions"]:
        blocks.append(("p", interventions_text(answer["interventions"])))
    everything = [(lab, a) for role in (STUDY, CLAIMS_ONLY, CONTEXT, INTERVENTION) for lab, a, _ in by_role[role]]
    fig = fig_effect_panels(everything)
    if fig is not None:
        _save(fig, layout.effect_png)
        blocks.append(("img", layout.effect_png))
    steps = steps_table(answer["steps_to_quality"], answer)
    if steps[1]:
        blocks += [("h2", "One currency across datasets: steps to quality"), ("p", STEPS_TEXT), ("table", *steps)]
    mech = mechanism_table(everything)
    if mech[1]:
        blocks += [("h2", "The mechanism, as measured"), ("p", MECHANISM_TEXT), ("table", *mech)]
    write_text_atomic(layout.answer_md, to_markdown(blocks, layout.path))
    return layout.forest_png, layout.answer_md


ANSWER_RULES = (
    "p (Holm): one Holm correction over every primary p-value in this table (each study's tested claims and "
    "each dataset contrast), so the chance of any false supported / contradicted in the whole table stays at or "
    "below 5%; each study's own report corrects over its own claims only. Dataset contrasts (claim 10): Welch's "
    "t on the two studies' per-seed LeakyReLU / ReLU log FCD ratios, read as a ratio of ratios; 'pairs' is the "
    "number of seeds of both studies together. KID beside it: the same contrast on the tail-averaged KID (same "
    "features, unbiased), descriptive.")

_TWELVE = registry.ruled_by(registry.INTERVENTION)  # claim 12's record: its number and margin
INTERVENTIONS_TEXT = (
    f"Interventions (claim {_TWELVE.number}, in the same Holm family): Welch's t on the intervention study's per-seed "
    "LeakyReLU / ReLU log FCD ratios against its base study's, read as the ratio of the two ratios, "
    f"{registry.margin_text(_TWELVE.number, _TWELVE.margin)} margin, in the direction "
    "its study.yaml predicted before its runs (claim12.direction: lower for a stronger D, 12a; higher for a weaker "
    "one, 12b). Manipulation check (results.csv, the ReLU arm's mean half2/D/saturated): ")


def interventions_text(interventions: Sequence[dict[str, Any]]) -> str:
    """The interventions' paragraph: the rule, then each manipulation check as measured."""
    checks = [f"{iv['label']} (base {iv['base_label']}, direction {iv['direction']}): {fmt(iv['check']['relu_mean'])} "
              f"over {iv['check']['runs']} runs, needs {iv['check']['op']} {iv['check']['threshold']}: "
              f"{'passed' if iv['check']['passed'] else 'failed, so the row reads not tested'}"
              for iv in interventions]
    return INTERVENTIONS_TEXT + "; ".join(checks) + "."


STEPS_TEXT = (
    "Descriptive (no p-value, no Holm, no verdict): the LeakyReLU / ReLU effect counted in training steps, a currency "
    "no feature network scales. Per seed, a power law log FCD = a + b log(step) is fitted to each arm's evaluations "
    "from step 1000 to the end T; the row gives the steps ReLU's curve needs to reach the FCD LeakyReLU's curve has at "
    "T, as a multiple of T (geometric mean over seeds, 95% t-interval): > 1, LeakyReLU is ahead. Between two studies, "
    "Welch's t on the per-seed log multiples, read as A's multiple / B's (opposite in direction to claim 10's FCD "
    "ratio of ratios, shown beside it: a ratio of ratios above 1 is a multiple below 1). KID: the same on KID.")


def _times(d: dict[str, Any] | None) -> str:
    """A multiple of T with its CI (answer.json writes a NaN bound, fewer than 2 pairs, as null)."""
    if not d or d.get("ratio_low") is None:
        return "–"
    return f"x{fmt(d['ratio'])} [{fmt(d['ratio_low'])}, {fmt(d['ratio_high'])}]"


def steps_table(section: dict[str, Any], answer: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(header, rows): each study's steps-to-quality multiple, then each contrast with claim 10 beside it."""
    head = ["dataset", "steps ReLU needs for LeakyReLU's end FCD, x T [95% CI]", "pairs", "KID beside it",
            "claim 10 beside it (FCD ratio of ratios)"]
    claim10 = {r["label"]: claim_from_dict(r["claim"]) for r in answer["rows"] if r["kind"] == "dataset_contrast"}
    out = [[s["label"], _times(s["fcd"]), str(s["fcd"]["n"]), _times(s["kid"]), ""] for s in section["studies"]]
    for c in section["contrasts"]:
        ten = claim10.get(c["label"])
        beside = f"{fmt(ten.effect)}x [{fmt(ten.ci_low)}, {fmt(ten.ci_high)}]" if ten is not None and ten.test else "–"
        out.append([c["label"], _times(c["fcd"]), str(c["fcd"]["n"]) if c["fcd"] else "0", _times(c["kid"]), beside])
    return head, out


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
