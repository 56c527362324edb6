"""gan/measure/metric_keys.py: every key a claim, figure, dashboard panel or W&B table reads is written by a tiny run
(fake data, probes and evaluation on), every key a run writes is registered, and no module but the
registry spells a metric key."""

from __future__ import annotations

import ast
import csv
import re
from pathlib import Path

import pytest

from conftest import REPO, TINY
from gan.analysis.claims import registry as claims
from gan.tracking import dashboard
from gan.analysis import study_analysis
from gan.measure import metric_keys as mk
from gan.tracking import tracker as tracking
from gan.tracking.metrics_file import read_metrics

KEY_LITERAL = re.compile(r"^(probe|final|mean|median|half2|tail\d+|at\d+|w\d+_\d+|quality|classifier|perf|loss|D|G|"
                         r"dataset|provenance)/")


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    """One 4-step run (probes at steps 2 and 4, quality at 2 and 4) collected into a study's results.csv."""
    from gan.study.spec import PlannedRun, StudySpec
    from gan.study.collect import collect_results
    from gan.train.launch import main_train

    root = tmp_path_factory.mktemp("study")
    run_dir = root / "runs" / "a"
    overrides = [o for o in TINY if not o.startswith(("train.probe_every", "eval.enabled"))]
    mp = pytest.MonkeyPatch()
    mp.setenv("GAN_CACHE_DIR", str(root / "cache"))
    mp.setenv("WANDB_MODE", "disabled")
    try:
        code = main_train(None, overrides + ["train.steps=4", "train.probe_every=2", "train.probe_batch=8",
                                             "eval.enabled=true", "eval.every=2", "eval.n_samples=32",
                                             "eval.batch_size=32"], str(run_dir), None)
    finally:
        mp.undo()
    assert code == 0
    spec = StudySpec("t", None, {}, {"train.seed": [0]})
    path = collect_results(root, spec, [PlannedRun("a", {"train.seed": 0}, "a")])
    with path.open(newline="") as f:
        columns = set(next(csv.reader(f)))
    rows = read_metrics(run_dir)
    return {k for r in rows for k in r} | columns


def _read_keys() -> dict[str, tuple[str, ...]]:
    """Consumer -> the keys it reads."""
    return {"claims": claims.KEYS_READ + claims.STEP_MS_KEYS,
            "analysis": study_analysis.PROBE_KEYS + study_analysis.QUALITY_KEYS + study_analysis.TRAIN_KEYS + study_analysis.FINAL_KEYS,
            "dashboard": tuple(k for keys in dashboard.PANELS.values() for k in keys),
            "W&B table": tracking.TABLE_COLUMNS}


def test_every_key_a_consumer_reads_is_written_by_a_tiny_run(tiny_study):
    missing = {who: [k for k in keys if k not in tiny_study and not mk.describe(k).needs]
               for who, keys in _read_keys().items()}
    assert missing == {who: [] for who in missing}
    assert any(m and m.group(1) not in mk.SPLITS for m in map(mk.D_LAYER_DEAD.match, tiny_study))  # dead_by_layer
    optional = [k for keys in _read_keys().values() for k in keys if mk.describe(k).needs]
    # FID only with eval.features=inception; the early horizon only with an evaluation near step 1000
    assert set(optional) == {mk.FID, mk.final(mk.FID), mk.tail_log(mk.FID), mk.early_log(mk.FCD)}


def test_every_key_a_tiny_run_writes_is_registered(tiny_study):
    keys = {k for k in tiny_study if "/" in k}  # config columns are dotted, bookkeeping ones plain
    assert keys and [k for k in sorted(keys) if mk.describe(k) is None] == []


def test_every_read_key_is_registered_and_the_claim_registry_says_which_claim_reads_it():
    for who, keys in _read_keys().items():
        assert [k for k in keys if mk.describe(k) is None] == [], who
    reads = {}  # key -> the claims whose record reads it (gan/analysis/claims/registry.py: the one owner)
    for c in claims.STUDY_CLAIMS:
        for key in c.keys:
            reads.setdefault(key, set()).add(c.number)
    assert reads[claims.LOG_FCD] == {2, 4, 5, 7, 8, 9} and reads[claims.LOG_KID] == {2, 4, 5, 7, 8, 9}
    assert reads[claims.HOYER] == {1} and reads[claims.DEAD] == {3, 8} and reads[claims.DEAD_EVAL] == {3}
    assert reads[mk.MEDIAN_STEP_MS] == {6} and claims.STEP_TIME not in reads  # claim 6 reads step_time.json
    assert set(claims.KEYS_READ) == set(reads) and all(mk.describe(k) for k in reads)
    assert claims.claim(11).metric == mk.window(mk.D_SATURATED) and mk.describe(claims.claim(11).metric).needs
    assert {m.direction for m in mk.REGISTRY.values()} <= {mk.LOWER, mk.HIGHER, mk.NONE}
    assert mk.REGISTRY[mk.FCD].direction == mk.LOWER and mk.REGISTRY[mk.MODES_COVERED].direction == mk.HIGHER


def test_describe_names_layers_splits_and_derived_columns():
    assert mk.probe("D", "dead_frac", "conv2", "real") == "probe/D/real/conv2/dead_frac"
    assert mk.describe("probe/D/real/conv2/dead_frac").description.endswith("(training view)")
    assert mk.describe("mean/probe/D/conv1/dead_frac") is not None
    ref = mk.describe(mk.reference(mk.FCD))
    assert ref.name == "quality/ref/fcd" and ref.direction == mk.LOWER
    assert mk.describe("final/quality/kid").direction == mk.LOWER
    assert mk.describe("quality/nonsense") is None and mk.describe("final/nonsense") is None


def _key_literals(path: Path) -> list[str]:
    """String constants (docstrings aside) that start like a metric key."""
    tree = ast.parse(path.read_text())
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [f"{path.relative_to(REPO)}:{n.lineno}: {n.value!r}" for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs
            and KEY_LITERAL.match(n.value)]


def test_no_module_but_the_registry_spells_a_metric_key():
    """Every module of gan/, in every package (rglob: the stages are folders), but the registry itself."""
    registry = REPO / "gan" / "measure" / "metric_keys.py"
    modules = [p for p in sorted((REPO / "gan").rglob("*.py")) if p != registry]
    assert len(modules) > 100 and REPO / "gan" / "report" / "figures.py" in modules  # the packages are scanned
    assert [hit for p in modules for hit in _key_literals(p)] == []
