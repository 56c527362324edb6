"""The cross-study answer's statistics, computed once and written as OUT/answer.json: what answer.md renders.

    path = write_answer_analysis(["results/answer/fashion_mnist=Fashion-MNIST", "results/answer/mnist5k=mnist5k"],
                                 "results/answer")

Inputs are each study's analysis.json, read and never written (gan/analysis/study_analysis.py `read_analysis`: a
stale one is a UserError naming `gan report DIR`). The rows, decided as ONE Holm family over every primary p-value:
- every primary claim of each study given as a study or with `--claims-only` (its analysis.json's claims, re-decided
  in the answer's family; each study's own report keeps its own family);
- claim 10, one per pair of studies (not `--claims-only` ones): Welch's t on claim 2's per-seed log ratios
  (gan/analysis/claims/rules.py's dataset_contrast), KID beside it;
- claim 12, one per `--intervention` study: a study that changes D's strength on one dataset. Its per-seed claim-2
  log ratios against those of its base study (Welch, as claim 10), read as the ratio of the intervention's
  LeakyReLU / ReLU FCD ratio to the base's, +-10% margin, the direction predicted in the intervention study's own
  study.yaml (`claim12: {base: DIR, direction: lower | higher}`, committed before its runs): `lower` (12a) for a
  stronger D, `higher` (12b) for a weaker one. Its manipulation check reads results.csv: the ReLU arm's mean
  `half2/D/saturated` must be >= 0.05 for a stronger D, <= 0.05 for a weaker one; when it is not, the row reads
  "not tested (the intervention did not change saturation as intended)" and leaves the family.
Descriptive, outside the family (no p-value shown, no outcome): steps to quality per study, and between each pair
of studies Welch's t on their per-pair log shifts (claim 10's pairs of studies; gan/analysis/effect_curve.py).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from gan.analysis.claims import registry
from gan.analysis.claims.evaluate import decide_family
from gan.analysis.claims.registry import analysis_margin
from gan.analysis.claims.result import ClaimResult, claim_to_dict, test_to_dict
from gan.analysis.claims.rules import RELU, baseline_results, dataset_contrast, welch_test
from gan.analysis.stats import ALPHA
from gan.analysis.study_analysis import claims_of, read_analysis
from gan.errors import UserError
from gan.files.atomic import write_json_atomic
from gan.files.layout import AnswerDir, StudyDir
from gan.measure import metric_keys as mk
from gan.study.results import ACT, Results, is_finite, load_results

VERSION = 1
STUDY, CLAIMS_ONLY, CONTEXT, INTERVENTION = "study", "claims_only", "context", "intervention"  # a study's role

CONTRAST_CLAIM = registry.ruled_by(registry.CONTRAST)  # claim 10's record
INTERVENTION_CLAIM = registry.ruled_by(registry.INTERVENTION)  # claim 12's: its text and test per predicted direction
SATURATED = mk.half2(mk.D_SATURATED)
# the manipulation check, per predicted direction: the ReLU arm's mean saturated share must reach this
SATURATION_CHECK = {"lower": (">=", 0.05), "higher": ("<=", 0.05)}  # docs/claims.md, claim 12
NOT_CHANGED = "not tested (the intervention did not change saturation as intended)"
CLAIM12_EXAMPLE = "claim12: {base: results/answer/fashion_mnist, direction: lower}"

Reader = Callable[[Path], dict[str, Any]]


@dataclass(frozen=True)
class Entry:
    """One study of the answer: its label, its path as given, its role and its analysis (analysis.json)."""

    label: str
    path: str
    role: str
    analysis: dict[str, Any]


@dataclass(frozen=True)
class Intervention:
    """An intervention study (claim 12), its base study and its manipulation check's input."""

    entry: Entry
    base: Entry
    direction: str  # lower | higher (claim12.direction of its study.yaml)
    saturation: float  # the ReLU arm's mean half2/D/saturated over its completed claim-2 runs (NaN: none)
    saturation_runs: int


@dataclass(frozen=True)
class Inputs:
    studies: list[Entry]
    claims_only: list[Entry]
    context: list[Entry]
    interventions: list[Intervention]


##### reading the inputs (the only I/O besides the one write)


def parse_study_arg(arg: str) -> tuple[Path, str]:
    """'DIR=LABEL' or 'DIR' (label: the folder's name)."""
    path, _, lab = arg.partition("=")
    return Path(path), lab or Path(path).name


def _entry(arg: str, role: str, read: Reader, root: Path) -> Entry:
    path, lab = parse_study_arg(arg)
    if not StudyDir(root / path).results_csv.is_file():
        raise UserError(f"{path} has no results.csv: give study directories written by `gan study`")
    return Entry(lab, str(path), role, read(root / path))


def claim12_of(results: Results, path: str | Path) -> tuple[str, str]:
    """(base study path, direction) from an intervention study's study.yaml `claim12:` block (UserError when absent
    or malformed: the prediction must be in the study file, written before its runs)."""
    spec = results.study.get("claim12") if isinstance(results.study, dict) else None
    if not isinstance(spec, dict) or not isinstance(spec.get("base"), str) or \
            spec.get("direction") not in SATURATION_CHECK:
        raise UserError(f"{path}/study.yaml has no valid claim12 block: an intervention study names its base study "
                        f"and the direction it predicts before its runs, e.g. `{CLAIM12_EXAMPLE}`")
    return spec["base"], spec["direction"]


def relu_saturation(results: Results) -> tuple[float, int]:
    """The ReLU arm's mean half2/D/saturated over the completed runs claim 2 compares, and how many runs had it."""
    base, _ = baseline_results(results)
    vals = [float(r[SATURATED]) for r in base.completed() if str(r.get(ACT)) == RELU and is_finite(r.get(SATURATED))]
    return (float(np.mean(vals)) if vals else math.nan), len(vals)


def _intervention(arg: str, known: Sequence[Entry], read: Reader, root: Path) -> Intervention:
    entry = _entry(arg, INTERVENTION, read, root)
    results = load_results(root / entry.path)
    base_path, direction = claim12_of(results, entry.path)
    if not StudyDir(root / base_path).results_csv.is_file():
        raise UserError(f"{entry.path}/study.yaml names the base study '{base_path}', which has no results.csv; "
                        "fix claim12.base (a path from the directory `gan answer` runs in)")
    same = [e for e in known if (root / e.path).resolve() == (root / base_path).resolve()]
    base = same[0] if same else Entry(Path(base_path).name, base_path, "base", read(root / base_path))
    return Intervention(entry, base, direction, *relu_saturation(results))


def load_inputs(studies: Sequence[str], claims_only: Sequence[str] = (), context: Sequence[str] = (),
                interventions: Sequence[str] = (), read: Reader = read_analysis, root: Path = Path(".")) -> Inputs:
    """Each 'DIR[=LABEL]' read through `read` (default: analysis.json, never written), paths from `root`."""
    loaded = [_entry(a, STUDY, read, root) for a in studies]
    own = [_entry(a, CLAIMS_ONLY, read, root) for a in claims_only]
    return Inputs(loaded, own, [_entry(a, CONTEXT, read, root) for a in context],
                  [_intervention(a, [*loaded, *own], read, root) for a in interventions])


def written_by(studies: Sequence[str], out: str | Path, context: Sequence[str] = (),
               claims_only: Sequence[str] = (), interventions: Sequence[str] = ()) -> str:
    """The command that writes this answer (answer.md's first line: a reader reruns it, a test parses it)."""
    return " ".join(["gan answer", *studies, "--out", str(out), *(f"--claims-only {c}" for c in claims_only),
                     *(f"--context {c}" for c in context), *(f"--intervention {i}" for i in interventions)])


def write_answer_analysis(studies: Sequence[str], out: str | Path, context: Sequence[str] = (),
                          claims_only: Sequence[str] = (), interventions: Sequence[str] = ()) -> Path:
    """Compute the answer over the studies' analysis.json files and write OUT/answer.json (atomically)."""
    inputs = load_inputs(studies, claims_only, context, interventions)
    answer = compute_answer(inputs, written_by(studies, out, context, claims_only, interventions))
    if not any(r["shown"] for r in answer["rows"]):
        raise UserError("no tested primary claim with a CI in these studies: nothing to answer")
    path = AnswerDir(out).answer_json
    write_json_atomic(path, answer)
    return path


##### the statistics (pure: analysis dicts in, answer dict out)


def _headline(analysis: dict[str, Any]) -> dict[str, Any] | None:
    """The headline claim's primary row of an analysis (claim 2: its per-seed log ratios in `pairs`), or None."""
    return next((c for c in analysis["claims"] if c["primary"] and c["number"] == registry.HEADLINE.number), None)


def _pairs(analysis: dict[str, Any], key: str = "pairs") -> np.ndarray:
    c = _headline(analysis)
    return np.array(c[key] if c else [], dtype=float)


def intervention_claim(iv: Intervention,
                       margin: float = analysis_margin(INTERVENTION_CLAIM.number, INTERVENTION_CLAIM.margin)
                       ) -> ClaimResult:
    """Claim 12 for one intervention, before the Holm family decides it (see the module docstring)."""
    d, d0 = _pairs(iv.entry.analysis), _pairs(iv.base.analysis)
    op, threshold = SATURATION_CHECK[iv.direction]
    claimed = "< 1" if iv.direction == "lower" else "> 1"
    detail = (f"({iv.entry.label} leaky / relu FCD ratio) / ({iv.base.label} ratio): Welch's t on the per-seed log "
              f"ratios ({len(d)} and {len(d0)} seeds), claimed {claimed} (study.yaml claim12.direction: "
              f"{iv.direction}); TOST at ±{100 * math.expm1(margin):.3g}%; manipulation check: the ReLU D saturated "
              f"in {iv.saturation:.3g} of 2nd-half steps on average over {iv.saturation_runs} runs (needs {op} "
              f"{threshold})")
    twelve = INTERVENTION_CLAIM
    direction, text = twelve.variant(iv.direction)
    if len(d) < 2 or len(d0) < 2:
        return ClaimResult(twelve.number, text, twelve.metric, "not tested", detail + "; fewer than 2 seeds: no test",
                           None, log=twelve.log, direction=direction)
    test = welch_test(d, d0, margin)
    c = ClaimResult(twelve.number, text, twelve.metric, "", detail, test, log=twelve.log, p=test.p, direction=direction,
                    constant=f"every pair: {test.mean:+.3g}" if test.sd == 0 else "")
    k, k0 = _pairs(iv.entry.analysis, "kid_pairs"), _pairs(iv.base.analysis, "kid_pairs")
    if len(k) >= 2 and len(k0) >= 2:  # KID beside it, as for every quality claim
        c = replace(c, kid=welch_test(k, k0, margin))
    if not check_passed(iv):  # the cause did not move: the row says so and leaves the family (no p)
        c = replace(c, verdict=NOT_CHANGED, p=math.nan)
    return c


def check_passed(iv: Intervention) -> bool:
    op, threshold = SATURATION_CHECK[iv.direction]
    share = round(iv.saturation, 9) if is_finite(iv.saturation) else iv.saturation  # a mean of 0.05s may be 0.0499...
    return is_finite(share) and (share >= threshold if op == ">=" else share <= threshold)


def answer_claims(loaded: Sequence[tuple[str, dict[str, Any]]],
                  uncontrasted: Sequence[tuple[str, dict[str, Any]]] = (),
                  interventions: Sequence[Intervention] = ()) -> list[tuple[str, str, ClaimResult, float]]:
    """(label, kind, claim, margin on the analysis scale) for every study's primary claims, one dataset contrast
    per pair of `loaded` studies, then one claim 12 per intervention; all decided in one Holm family. `uncontrasted`
    studies add their claims only: each varies something else on data already in the table, so a contrast with
    the study of the same data would be no dataset contrast."""
    rows: list[tuple[str, str, ClaimResult, float]] = []
    for lab, a in (*loaded, *uncontrasted):
        rows += [(lab, "claim", c, analysis_margin(c.number, a["margins"][str(c.number)]))
                 for c in claims_of(a) if c.primary]
    margin = analysis_margin(CONTRAST_CLAIM.number, CONTRAST_CLAIM.margin)
    for (la, a), (lb, b) in itertools.combinations(loaded, 2):
        ca, cb = _headline(a), _headline(b)
        if ca and cb and len(ca["pairs"]) >= 2 and len(cb["pairs"]) >= 2:
            c = dataset_contrast(la, np.array(ca["pairs"]), lb, np.array(cb["pairs"]), ca["metric"], margin)
            if len(ca["kid_pairs"]) >= 2 and len(cb["kid_pairs"]) >= 2:  # KID beside it, as for every quality claim
                c = replace(c, kid=welch_test(np.array(ca["kid_pairs"]), np.array(cb["kid_pairs"]), margin))
            rows.append((f"{la} vs {lb}", "dataset_contrast", c, margin))
    rows += [(f"{iv.entry.label} vs {iv.base.label}", "intervention", intervention_claim(iv, margin), margin)
             for iv in interventions]
    decided = decide_family([c for _, _, c, _ in rows])
    return [(lab, kind, c, m) for (lab, kind, _, m), c in zip(rows, decided)]


def shown(kind: str, c: ClaimResult) -> bool:
    """Whether a row enters the answer table: a tested claim with a CI; an intervention always (a failed
    manipulation check or missing runs is itself the answer)."""
    return kind == "intervention" or (c.test is not None and is_finite(c.test.ci_low))


def steps_section(loaded: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Steps to quality, descriptive: each study's (its analysis.json `steps_to_quality`), and for each pair of
    studies Welch's t on their per-pair log shifts (A's minus B's: the ratio of their multiples of T)."""
    have = [(lab, a["steps_to_quality"]) for lab, a in loaded if a.get("steps_to_quality")]
    studies = [{"label": lab, **{k: {f: s[k][f] for f in ("n", "dropped", "mean", "ci_low", "ci_high", "ratio",
                                                            "ratio_low", "ratio_high", "fit_from")}
                                 for k in ("fcd", "kid")}} for lab, s in have]
    margin = analysis_margin(CONTRAST_CLAIM.number, CONTRAST_CLAIM.margin)  # claim 10's pairs of studies
    contrasts = []
    for (la, a), (lb, b) in itertools.combinations(have, 2):
        row: dict[str, Any] = {"label": f"{la} vs {lb}"}
        for k in ("fcd", "kid"):
            x, y = np.array(a[k]["pairs"], float), np.array(b[k]["pairs"], float)
            t = welch_test(x, y, margin) if len(x) >= 2 and len(y) >= 2 else None
            row[k] = None if t is None else {**test_to_dict(t), "ratio": math.exp(t.mean),
                                             "ratio_low": math.exp(t.ci_low), "ratio_high": math.exp(t.ci_high)}
        contrasts.append(row)
    return {"studies": studies, "contrasts": contrasts}


def compute_answer(inputs: Inputs, command: str = "") -> dict[str, Any]:
    """answer.json: the command, the studies and their roles, every row of the one Holm family, each intervention's
    manipulation check and the steps-to-quality section."""
    loaded = [(e.label, e.analysis) for e in inputs.studies]
    rows = answer_claims(loaded, [(e.label, e.analysis) for e in inputs.claims_only], inputs.interventions)
    listed = [*inputs.studies, *inputs.claims_only, *inputs.context, *(iv.entry for iv in inputs.interventions)]
    return {
        "version": VERSION,
        "written_by": command,
        "alpha": ALPHA,
        "studies": [{"label": e.label, "path": e.path, "role": e.role} for e in listed],
        "rows": [{"label": lab, "kind": kind, "margin": m, "shown": shown(kind, c), "claim": claim_to_dict(c)}
                 for lab, kind, c, m in rows],
        "family": {"tested": sum(1 for _, _, c, _ in rows if is_finite(c.p_adjusted))},
        "interventions": [{"label": iv.entry.label, "path": iv.entry.path, "base_label": iv.base.label,
                           "base_path": iv.base.path, "direction": iv.direction,
                           "check": {"metric": SATURATED, "arm": RELU, "relu_mean": iv.saturation,
                                     "runs": iv.saturation_runs, "op": SATURATION_CHECK[iv.direction][0],
                                     "threshold": SATURATION_CHECK[iv.direction][1], "passed": check_passed(iv)}}
                          for iv in inputs.interventions],
        "steps_to_quality": steps_section(loaded),
    }
