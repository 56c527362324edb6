"""`gan advise`'s words and figure, rendered from the pilot's advise.json alone (gan/analysis/advice.py computes it).

    text = write_advice(pilot_dir)   # -> advise.md and advise.png beside advise.json; returns what it printed

The order is the command's: (1) what the ReLU D does, beside the committed studies' range; (2) the paired ratios at
each evaluation; (3) the rule's prediction for the user's length, and whether the compare study is needed (its
command and planned time); (4) the rule's track record; then the limits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gan.files.atomic import write_atomic, write_text_atomic
from gan.measure import metric_keys as mk
from gan.study.results import is_finite

AHEAD = "LeakyReLU(0.2) ahead"
WORDS = {AHEAD: "LeakyReLU(0.2) in D will give better samples (its FCD below ReLU's)",
         "LeakyReLU not ahead": "LeakyReLU(0.2) in D will not give better samples (its FCD above ReLU's, or within "
                                "±10%): keep ReLU, or either"}


def _f(x: Any, digits: int = 3) -> str:
    return f"{x:.{digits}g}" if is_finite(x) else "–"


def _hours(s: Any) -> str:
    if not is_finite(s):
        return "?"
    return f"{s / 3600:.1f} h" if s >= 3600 else f"{s / 60:.0f} min" if s >= 60 else f"{s:.0f} s"


def _table(head: list[str], rows: list[list[str]]) -> str:
    cell = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                     + ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows])


def _ratio(r: dict[str, Any], i: int | None = None) -> str:
    if i is None:
        return f"{_f(r['ratio'])}x [{_f(r['ci_low'])}, {_f(r['ci_high'])}]"
    return f"{_f(r['ratio'][i])}x [{_f(r['low'][i])}, {_f(r['high'][i])}]"


def _costs(c: dict[str, Any]) -> str:
    parts = [("training", "train"), ("evaluations", "eval"), ("probes", "probe"), ("starting runs", "startup"),
             ("the feature network", "feature_net")]
    return ", ".join(f"{name} {_hours(c[k])}" for name, k in parts if c.get(k))


def section_d(a: dict[str, Any]) -> list[str]:
    relu, ranges, rule = a["relu"], a["ranges"], a["rule"]
    prof = relu["profile"]
    if not prof:
        return ["## 1. What your ReLU D does", "", "No completed ReLU run in the pilot."]
    windows = prof["windows"]
    head = ["measure (ReLU arm, mean over its runs)"] + [f"steps {lo + 1}-{hi}" for lo, hi in windows]
    rows = []
    for key, value in prof["keys"].items():
        rng = ranges.get(key) or [None] * len(windows)
        rows.append([value_text(key)] + [f"{_f(m)} [{_f(r[0])}-{_f(r[1])}]" if r else _f(m)
                                         for m, r in zip(value["mean"], rng)])
    seeds = ", ".join(_f(v, 2) for v in relu["s_per_seed"].values())
    s_range = a["s_range"]
    w = rule["window"]
    return ["## 1. What your ReLU D does",
            "",
            f"Per 500-step window; in brackets the range of the committed studies' ReLU arms (cell means, "
            f"{a['record']['independent']} independent cells). Steps 1-1000 are a start-up transient in every "
            "BatchNorm cell and tell nothing; the rule reads steps 1001-2000.",
            "",
            _table(head, rows),
            "",
            f"S, the share of logged steps {w[0] + 1}-{w[1]} with {rule['saturated']}: **{_f(relu['s'])}** (per seed: "
            f"{seeds}); committed cells span {_f(s_range[0]) if s_range else '–'}-{_f(s_range[1]) if s_range else '–'}."]


def value_text(key: str) -> str:
    from gan.analysis.saturation_rule import PROFILE_TEXT

    return PROFILE_TEXT.get(key, key)


def section_ratios(a: dict[str, Any]) -> list[str]:
    ratios = a["curves"]["ratios"]
    fcd, kid = ratios.get("fcd"), ratios.get("kid")
    if not fcd:
        return ["## 2. LeakyReLU / ReLU at each evaluation", "", "No step has 2 pairs with FCD yet."]
    kid_at = {s: i for i, s in enumerate(kid["steps"])} if kid else {}
    rows = [[str(s), _ratio(fcd, i), _ratio(kid, kid_at[s]) if s in kid_at else "–", str(fcd["pairs"][i])]
            for i, s in enumerate(fcd["steps"])]
    return ["## 2. LeakyReLU / ReLU at each evaluation", "",
            "Paired by seed (each seed trains both arms from the same start), 95% t-interval; below 1: LeakyReLU's "
            "samples are closer to the data. A 2000-step pilot's ratio tracks the 4000-step ratio only loosely "
            "(the cell-level evidence behind claim 11): read it as what happened so far, not as the answer.", "",
            _table(["step", "FCD ratio [95% CI]", "KID ratio [95% CI]", "pairs"], rows)]


def section_prediction(a: dict[str, Any]) -> list[str]:
    p, rule, c = a["prediction"], a["rule"], a["compare"]
    rec = a["record"]
    after = rec["after"]
    track = (f"after the data it was right in {after['right']}, wrong in {after['wrong']} and undecided in "
             f"{after['undecided']} of the committed cells it called; before the data: {rec['tally']}")
    s = f"S = {_f(p['s'])} {'>' if is_finite(p['s']) and p['s'] > rule['threshold'] else '<='} {rule['threshold']:g}"
    if p["call"] is None:
        lines = [f"**No prediction.** {p['no_prediction'][0].upper() + p['no_prediction'][1:]}."]
    elif p["length"] == rule["horizon"]:
        lines = [f"**At your length, {p['length']} steps, the rule predicts {p['call']}**: {WORDS[p['call']]} "
                 f"({s})."]
    else:
        lines = [f"**Your training length, {p['length']} steps, is outside the rule: it makes no tested prediction "
                 f"there** (it is stated for {rule['horizon']} steps; {rec['horizon']}). At {rule['horizon']} steps it "
                 f"predicts {p['call']}: {WORDS[p['call']]} ({s})."]
    first, last = c.get("first_look"), c.get("last_look")
    planned = (f" Planned here: about {_hours(first['total'])} to its first look ({c['looks'][0]} seeds: "
               f"{_costs(first)}), {_hours(last['total'])} if it needs all {c['looks'][-1]} seeds."
               if first else "")
    if p["decisive"]:
        lines.append(f"The pilot is decisive for the rule's call: every ReLU seed's S lies on one side of "
                     f"{rule['threshold']:g}. The call is a prediction, not a measurement ({track}). For a measured "
                     f"answer on your setup, run the compare study:")
    else:
        why = ("the rule makes no call here" if p["call"] is None else
               "the ReLU seeds' S lie on both sides of the threshold")
        lines.append(f"The pilot is not decisive ({why}): a full compare study is needed for an answer:")
    return ["## 3. The prediction", "", *lines, "", f"    {c['command']}", "", planned.strip()]


def section_record(a: dict[str, Any]) -> list[str]:
    rec = a["record"]
    head = ["study / cell", "data", "steps", "ReLU S", "predicted", "found: LeakyReLU / ReLU FCD [95% CI], pairs",
            "score", "made"]
    rows = []
    for r in rec["rows"]:
        made = r["when"] + (f"; repeats {r['repeats']}" if r.get("repeats") else "")
        rows.append([f"{r['study']} / {r['cell']}", r["dataset"], str(r["steps"]), _f(r["s"]),
                     r["prediction"] or "none (" + (r["no_prediction"] or "").replace(
                         "the rule has no evidence for this setup: ", "outside the rule: ") + ")",
                     f"{r['found']}: {_ratio(r)}, {r['n']}", r["score"] or "–", made])
    verdict = f"Claim 11, over the predictions made before their data: **{rec['verdict']}** ({rec['tally']})."
    return ["## 4. The rule's track record", "", verdict,
            "Scores 'after the data' read S from the same runs that were judged: the rule was found in them, so "
            "they show it fits, never that it predicts.", "", _table(head, rows)]


def section_limits(a: dict[str, Any]) -> list[str]:
    rec, rule = a["record"], a["rule"]
    setups = "; ".join(f"{k} {', '.join(v)}" for k, v in rec["setups"].items() if v)
    repeats = [r for r in rec["rows"] if r.get("repeats")]
    family = ("all MNIST-family data (28x28 grey digits or clothes, padded to 32x32)" if rec.get("mnist_family")
              else "these datasets")
    n = rec["cells"]
    lines = [f"The rule rests on {n} committed cell{'s' * (n != 1)} ({rec['independent']} independent"
             + (f"; {len(repeats)} repeat{'s' * (len(repeats) == 1)} the runs of another cell" if repeats else "")
             + f"), on {', '.join(rec['datasets'])}: {family}, with a DCGAN discriminator at {setups}. Any other "
             "data, image size, architecture or normalization is untested.",
             f"Horizon: the rule is about {rule['horizon']} steps; {rec['horizon']}.",
             f"What a miss looks like: {rec['wrong_example']}.",
             (f"The rule is about cells, not seeds: within a cell, a seed's own S and its own log ratio correlate "
              f"r = {_f(rec['within_cell_r'], 2)} (pooled over {rec['within_cell_seeds']} seeds of the cells whose S "
              "varies)." if is_finite(rec.get("within_cell_r")) else
              "The rule is about cells, not seeds: no committed cell's S varies enough to test it seed by seed.")]
    return ["## Limits", "", *[f"- {x}" for x in lines]]


def render(a: dict[str, Any]) -> str:
    setup, pilot = a["setup"], a["pilot"]
    plan = pilot["plan"]
    timing = ""
    if plan.get("estimate"):
        est, got = plan["estimate"]["total"], plan.get("measured_s")
        timing = (f" Pilot wall time here: {_hours(got)} measured, {_hours(est)} planned ({_costs(plan['estimate'])})"
                  + (f"; measured / planned {got / est:.2f}" if is_finite(got) and est else "") + ".")
    failed = f" {len(pilot['failed'])} run(s) did not complete and are left out." if pilot["failed"] else ""
    head = [f"# gan advise: ReLU or LeakyReLU(0.2) in your D?", "",
            f"Setup: {setup['base'] or 'defaults'}" + (f" with {' '.join(setup['overrides'])}" if setup["overrides"]
                                                       else "")
            + f"; pilot: {setup['seeds']} paired seeds x 2 arms x {setup['steps']} steps, {pilot['completed']} of "
              f"{pilot['runs']} runs completed ({pilot['dir']}).{failed}{timing}", "",
            f"Made {a['made_utc']} with code {a['code_version']}. Figure: advise.png."]
    blocks = [head, section_d(a), section_ratios(a), section_prediction(a), section_record(a), section_limits(a)]
    return "\n\n".join("\n".join(b) for b in blocks) + "\n"


def figure(a: dict[str, Any], path: Path) -> Path | None:
    """Left: each arm's saturated share per 100 steps (the rule's window and threshold marked); right: the paired
    FCD and KID ratio at each evaluation with its 95% interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sat, ratios, rule = a["curves"]["saturated"], a["curves"]["ratios"], a["rule"]
    if not sat and not ratios:
        return None
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for act, series in sat.items():
        ax1.plot(series["steps"], series["mean"], marker=".", label=f"D {act}")
    lo, hi = rule["window"]
    ax1.axvspan(lo, hi, color="0.9", label=f"the rule's window ({lo + 1}-{hi})")
    ax1.axhline(rule["threshold"], color="k", lw=0.8, ls="--", label=f"threshold {rule['threshold']:g}")
    ax1.set(xlabel="step", ylabel=f"share of logged steps with\n{mk.SATURATED_TEXT}",
            title="D saturated (mean over seeds, per 100 steps)", ylim=(-0.03, 1.03))
    ax1.legend(fontsize=8)
    for (name, r), dx in zip(sorted(ratios.items()), (-15, 15)):
        steps = [s + dx for s in r["steps"]]
        err = [[m - l for m, l in zip(r["ratio"], r["low"])], [h - m for m, h in zip(r["ratio"], r["high"])]]
        ax2.errorbar(steps, r["ratio"], yerr=err, marker="o", capsize=3, label=f"{name.upper()} ratio, 95% CI")
    ax2.axhline(1.0, color="k", lw=0.8)
    margin = rule["margin"]
    ax2.axhspan(1 / (1 + margin), 1 + margin, color="0.92", label=f"within ±{margin:.0%}")
    ax2.set(xlabel="step", ylabel="LeakyReLU / ReLU (below 1: LeakyReLU better)", title="paired ratio per evaluation")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)
    return path


def write_advice(pilot: str | Path) -> str:
    """advise.md and advise.png from the pilot's advise.json; returns the text (what `gan advise` prints)."""
    pilot = Path(pilot)
    a = json.loads((pilot / "advise.json").read_text())
    figure(a, pilot / "advise.png")
    text = render(a)
    write_text_atomic(pilot / "advise.md", text)
    return text
