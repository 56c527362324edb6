"""`gan answer`: the headline across studies. One forest plot and one table over several study directories
(e.g. the Fashion-MNIST study and its mnist5k replication), each study its own Holm family.

    gan answer results/answer/fashion_mnist=Fashion-MNIST results/answer/mnist5k=mnist5k --out results/answer

writes OUT/forest.png, OUT/answer.md (the table the README's "The answer" section quotes) and, per study,
OUT/samples_<label>.png: ReLU and LeakyReLU final samples of one seed from the same fixed noise, side by side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib.image
from matplotlib.figure import Figure

from gan.arms import RELU, pick_leaky
from gan.claims import baseline_results, evaluate_claims
from gan.errors import UserError
from gan.forest import ForestRow, fig_forest, forest_rows
from gan.layout import AnswerDir, RunDir, StudyDir
from gan.report import fmt, rules_out, to_markdown  # the report owns number formatting and Markdown
from gan.stats import ACT, SEED
from gan.study_data import Study, load_study_results


def parse_study_arg(arg: str) -> tuple[Path, str]:
    """'DIR=LABEL' or 'DIR' (label: the folder's name)."""
    path, _, lab = arg.partition("=")
    return Path(path), lab or Path(path).name


def write_answer(studies: Sequence[str], out: str | Path) -> tuple[Path, Path]:
    """Forest plot and answer table over `studies` ('DIR[=LABEL]'); returns (forest.png, answer.md)."""
    rows, loaded = [], []
    for arg in studies:
        path, lab = parse_study_arg(arg)
        if not StudyDir(path).results_csv.is_file():
            raise UserError(f"{path} has no results.csv: give study directories written by `gan study`")
        study = load_study_results(path)
        rows += forest_rows(lab, study.results, evaluate_claims(study.results, study.step_time))
        loaded.append((lab, study))
    if not rows:
        raise UserError("no tested primary claim with a CI in these studies: nothing to plot")
    layout = AnswerDir(out)
    layout.path.mkdir(parents=True, exist_ok=True)
    for lab, study in loaded:
        fig = fig_same_noise(study, lab)
        if fig is not None:
            fig.savefig(layout.samples_png(lab), dpi=110, bbox_inches="tight")
    fig = fig_forest(rows, "The answer: primary effects with 95% CI (grey: margin)")
    fig.savefig(layout.forest_png, dpi=110, bbox_inches="tight")
    md = to_markdown([("table", *answer_table(rows))], layout.path)
    layout.answer_md.write_text(md)
    return layout.forest_png, layout.answer_md


def answer_table(rows: Sequence[ForestRow]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) for the README's answer table: claim, study, metric, effect [CI], pairs, verdict, rules out."""
    head = ["claim", "dataset", "primary metric", "effect [95% CI]", "pairs", "p (Holm)", "verdict",
            "smallest effect ruled out"]
    out = []
    for r in rows:
        c, x = r.claim, ("x" if r.claim.log else "")
        out.append([f"{c.number}. {c.text}", r.study, c.metric,
                    f"{fmt(c.effect)}{x} [{fmt(c.ci_low)}, {fmt(c.ci_high)}]", str(c.n_pairs), fmt(c.p_adjusted),
                    c.verdict, rules_out(c)])
    return head, out


def fig_same_noise(study: Study, label: str) -> Figure | None:
    """The first seed whose ReLU and LeakyReLU baseline runs both completed: their samples/final.png side by
    side (every run draws its final grid from the same fixed noise). None when there is no such seed."""
    base, _ = baseline_results(study.results)
    leaky = pick_leaky(base.levels(ACT))
    by_seed: dict[object, dict[str, str]] = {}
    for r in base.completed():
        by_seed.setdefault(r.get(SEED), {})[str(r.get(ACT))] = str(r["run"])
    for seed, runs in sorted(by_seed.items(), key=lambda kv: str(kv[0])):
        dirs = {act: study.run_dirs.get(runs.get(act, "")) for act in (RELU, leaky)}
        grids = {act: RunDir(d).final_samples if d else None for act, d in dirs.items()}
        if all(g is not None and g.is_file() for g in grids.values()):
            fig = Figure(figsize=(10, 5.3), layout="constrained")
            for ax, (act, grid) in zip(fig.subplots(1, 2), grids.items()):
                ax.imshow(matplotlib.image.imread(grid), interpolation="nearest")
                ax.set_title(f"D {act}", fontsize="medium")
                ax.set_axis_off()
            fig.suptitle(f"{label}: samples at the end of training, seed {seed}, the same noise")
            return fig
    return None
