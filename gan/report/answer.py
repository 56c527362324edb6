"""`gan answer`: the headline across studies. One forest plot and one table over several study directories
(e.g. the Fashion-MNIST study and its mnist5k replication). For each pair of studies the table adds a claim of
its own: does the LeakyReLU / ReLU ratio differ between them (gan/analysis/dataset_contrast.py)? Every primary p-value
of the table (each study's tested claims and every contrast) is one Holm family here; each study's own report
keeps its own family.

    gan answer results/answer/fashion_mnist=Fashion-MNIST results/answer/mnist5k=mnist5k --out results/answer

writes OUT/forest.png, OUT/answer.md (the table the README's "The answer" section quotes) and, per study,
OUT/samples_<label>.png: ReLU and LeakyReLU final samples of one seed from the same fixed noise, side by side.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import matplotlib.image
from matplotlib.figure import Figure

from gan.analysis.arms import RELU, pick_leaky
from gan.analysis.claim import ClaimResult
from gan.analysis.claims import LOG_KID, MARGINS, analysis_margin, baseline_results, claim2_pairs, decide_family, evaluate_claims, margins
from gan.analysis.dataset_contrast import dataset_contrast, welch_test
from gan.errors import UserError
from gan.report.forest import ForestRow, fig_forest
from gan.files.layout import AnswerDir, RunDir, StudyDir
from gan.report.study_report import fmt, kid_text, rules_out, to_markdown  # the report owns number formatting and Markdown
from gan.analysis.stats import ACT, SEED, is_finite
from gan.study.read import Study, load_study_results


def parse_study_arg(arg: str) -> tuple[Path, str]:
    """'DIR=LABEL' or 'DIR' (label: the folder's name)."""
    path, _, lab = arg.partition("=")
    return Path(path), lab or Path(path).name


def answer_claims(loaded: Sequence[tuple[str, Study]]) -> list[tuple[str, ClaimResult, float]]:
    """(study label, primary claim, margin on the analysis scale) for every study's primary claims, then one
    dataset contrast per pair of studies; all decided in one Holm family."""
    rows: list[tuple[str, ClaimResult, float]] = []
    for lab, study in loaded:
        m = margins(study.results)
        rows += [(lab, c, analysis_margin(c.number, m[c.number]))
                 for c in evaluate_claims(study.results, study.step_time) if c.primary]
    margin = analysis_margin(2, MARGINS[2])
    for (la, a), (lb, b) in itertools.combinations(loaded, 2):
        (da, q), (db, _) = claim2_pairs(a.results), claim2_pairs(b.results)
        if len(da) >= 2 and len(db) >= 2:
            c = dataset_contrast(la, da, lb, db, q, margin)
            (ka, _), (kb, _) = claim2_pairs(a.results, LOG_KID), claim2_pairs(b.results, LOG_KID)
            if len(ka) >= 2 and len(kb) >= 2:  # KID beside it, as for every quality claim
                c = replace(c, kid=welch_test(ka, kb, margin))
            rows.append((f"{la} vs {lb}", c, margin))
    decided = decide_family([c for _, c, _ in rows])
    return [(lab, c, m) for (lab, _, m), c in zip(rows, decided)]


def write_answer(studies: Sequence[str], out: str | Path) -> tuple[Path, Path]:
    """Forest plot and answer table over `studies` ('DIR[=LABEL]'); returns (forest.png, answer.md)."""
    loaded = []
    for arg in studies:
        path, lab = parse_study_arg(arg)
        if not StudyDir(path).results_csv.is_file():
            raise UserError(f"{path} has no results.csv: give study directories written by `gan study`")
        loaded.append((lab, load_study_results(path)))
    rows = [ForestRow(lab, c, m) for lab, c, m in answer_claims(loaded)
            if c.test is not None and is_finite(c.test.ci_low)]
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
    md = to_markdown([("table", *answer_table(rows)), ("p", ANSWER_RULES)], layout.path)
    layout.answer_md.write_text(md)
    return layout.forest_png, layout.answer_md


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
