"""Bad input never shows a traceback nor costs finished work; failing W&B, a full disk and divergence never stop a study.

The bad-input corpus runs each case through `gan.cli.main` in-process (capsys catches stderr; it is the same
code path as the `gan` command, minus the interpreter start) and asserts: exit code 2, one sentence on stderr
(argparse's own usage line plus its error for command-line mistakes), no traceback, and not one byte of the
workspace changed, added or deleted, a finished run included.

Unwritable paths: the tests run as root, so chmod cannot make a directory unwritable; they use a path below
a regular file (`file.txt/run`: ENOTDIR) and a regular file where a directory is wanted (EEXIST) instead.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import gan.files.atomic
import gan.train.checkpoint
from gan.config.datasets import BUILTIN
from gan.train.checkpoint import load_checkpoint
from gan.cli import main
from gan.config.load import load_config
from gan.tracking.metrics_file import read_metrics
from gan.nets.models import build_models
from gan.study.runner import run_study
from gan.train.launch import main_train

from conftest import REPO, TINY
from builders_data import write_cifar, write_idx

FAKE_YAML = str(REPO / "configs" / "fake.yaml")
FAKE_KEY = "fakekey0123456789abcdef0123456789abcdef01"  # looks like a real key; offline only, never synced


class CreatesMarker:
    """Unpickling this (without weights_only) would create a file: the proof that loading ran code."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir")
            for p in sorted(root.rglob("*"))}


def _ckpt_dir(root: Path, name: str, write) -> Path:
    d = root / name
    (d / "checkpoints").mkdir(parents=True)
    write(d / "checkpoints" / "last.pt")
    return d


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    """A workspace holding a finished run, bad data folders, bad checkpoints, bad configs and bad study files."""
    root = tmp_path_factory.mktemp("corpus")
    (root / "cwd").mkdir()  # the corpus runs here, so default paths (runs/, studies/) land inside the snapshot
    existing = root / "existing"
    assert main_train(None, TINY + ["train.steps=2", "train.ckpt_every=2", "train.sample_every=2"],
                      str(existing), None) == 0
    (root / "file.txt").write_text("a regular file\n")

    (root / "unknown_key.yaml").write_text("model:\n  widht: 8\n")
    (root / "malformed.yaml").write_text("model: {ngf: 8\n  d_act: [relu\n")
    (root / "list.yaml").write_text("- data\n- model\n")

    write_idx(root / "idx_truncated" / "MNIST" / "raw", truncate=True)
    write_idx(root / "idx_magic" / "MNIST" / "raw", magic=0x12345678)
    write_cifar(root / "cifar_shape", shape=(100,))
    (root / "no_data").mkdir()

    state = torch.load(existing / "checkpoints" / "last.pt", weights_only=True)
    raw = (existing / "checkpoints" / "last.pt").read_bytes()
    _ckpt_dir(root, "ck_truncated", lambda p: p.write_bytes(raw[: len(raw) // 2]))
    _ckpt_dir(root, "ck_empty", lambda p: p.write_bytes(b""))
    G16, D16 = build_models(load_config(None, TINY + ["model.ngf=16", "model.ndf=16"]).model, 1, 32)
    _ckpt_dir(root, "ck_arch", lambda p: torch.save({**state, "G": G16.state_dict(), "D": D16.state_dict()}, p))
    marker = str(root.parent / f"{root.name}-PWNED")  # outside the workspace: the snapshot would flag it too
    _ckpt_dir(root, "ck_code", lambda p: torch.save({**state, "G": CreatesMarker(marker)}, p))
    _ckpt_dir(root, "ck_foreign", lambda p: torch.save({"weights": torch.zeros(3)}, p))
    (root / "no_ckpt").mkdir()
    (root / "no_ckpt" / "config.yaml").write_text("data: {name: fake}\n")

    base = f"base: {FAKE_YAML}\n"
    studies = {
        "s_unknown": base + "axes: {train.seed: [0]}\nrunz: 3\n",
        "s_axis_scalar": base + "axes: {train.seed: 0}\n",
        "s_base_missing": "base: nowhere/missing.yaml\naxes: {train.seed: [0]}\n",
        "s_bad_value": base + "axes: {model.d_act: [relu, swish]}\n",
        "s_bad_override": base + "overrides: {train.stepz: 3}\naxes: {train.seed: [0]}\n",
        "s_list": "- name: x\n  base: b.yaml\n",
        "s_malformed": base + "axes: {train.seed: [0, 1}\n",
        "s_escape": "name: ../../escaped\n" + base + "axes: {train.seed: [0]}\n",
        "s_same_folder": base + "axes: {model.d_act: ['leaky_relu:0.2', 'leaky_relu:0.2 ']}\n",
    }
    for name, text in studies.items():
        (root / f"{name}.yaml").write_text(text)
    return root


def P(name: str):
    """A path inside the workspace, resolved when the case runs."""
    return lambda ws: str(ws / name)


NEW = P("cwd/new_run")  # an --out that does not exist yet: a failing case must not create it
T = [*TINY, "train.steps=2"]

# (id, argv (str, or callables taking the workspace), regex the one-sentence message must match)
CASES = [
    # config
    ("unknown_key", ["train", FAKE_YAML, "model.ngff=8", "--out", NEW], r"unknown config key 'model.ngff'.*model.ngf"),
    ("unknown_key_in_yaml", ["train", P("unknown_key.yaml"), "--out", NEW], r"unknown config key 'model.widht'"),
    ("wrong_type_int", ["train", *T, "train.steps=abc", "--out", NEW], r"'train.steps' must be an integer"),
    ("wrong_type_bool", ["train", *T, "train.channels_last=maybe", "--out", NEW], r"'train.channels_last'.*true or false"),
    ("bad_activation", ["train", *T, "model.d_act=swish", "--out", NEW], r"unknown activation 'swish'"),
    ("bad_slope_text", ["train", *T, "model.d_act=leaky_relu:steep", "--out", NEW], r"not a number"),
    ("bad_slope_range", ["train", *T, "model.d_act=leaky_relu:1.5", "--out", NEW], r"slope must be in \[0, 1\)"),
    ("arg_on_relu", ["train", *T, "model.g_act=relu:0.1", "--out", NEW], r"takes no argument"),
    ("image_size_48", ["train", *T, "data.image_size=48", "--out", NEW], r"'data.image_size' must be 32 or 64"),
    ("zero_steps", ["train", *TINY, "train.steps=0", "--out", NEW], r"'train.steps' must be positive"),
    ("negative_lr", ["train", *T, "train.lr=-1", "--out", NEW], r"'train.lr' must be positive"),
    ("eval_n_samples_1", ["train", *T, "eval.enabled=true", "eval.n_samples=1", "--out", NEW],
     r"'eval.n_samples' must be at least 7"),
    ("huge_model", ["train", *T, "model.ngf=20000", "--out", NEW],
     r"model.ngf=20000.* needs at least \d+\.\d GB but this machine has .* GB of available RAM; use a smaller"),
    ("batch_over_dataset", ["train", *T, "data.fake_size=8", "--out", NEW], r"larger than the dataset"),
    ("malformed_yaml", ["train", P("malformed.yaml"), "--out", NEW], r"not valid YAML"),
    ("yaml_not_mapping", ["train", P("list.yaml"), "--out", NEW], r"must hold a mapping"),
    ("missing_config", ["train", P("nope.yaml"), "--out", NEW], r"does not exist"),
    ("override_without_value", ["train", FAKE_YAML, "model.ngf", "--out", NEW], r"not of the form key=value"),
    ("section_as_value", ["train", *T, "model=3", "--out", NEW], r"section 'model' must be a mapping"),
    ("bad_choice", ["train", *T, "track.wandb=sometimes", "--out", NEW], r"'track.wandb'.*valid values"),
    # data
    ("idx_truncated", ["train", *T, "data.name=mnist", "data.root={ws}/idx_truncated", "--out", NEW],
     r"dataset 'mnist' under .* is unreadable"),
    ("idx_wrong_magic", ["train", *T, "data.name=mnist", "data.root={ws}/idx_magic", "--out", NEW],
     r"dataset 'mnist' under .* is unreadable"),
    ("cifar_wrong_shape", ["train", *T, "data.name=cifar10", "data.root={ws}/cifar_shape", "--out", NEW],
     r"cifar10.*(unreadable|expected)"),
    ("mnist_missing_offline", ["train", *T, "data.name=mnist", "data.root={ws}/no_data", "--out", NEW],
     r"'mnist' was not found and cannot be downloaded"),
    ("fashion_missing_offline", ["train", *T, "data.name=fashion_mnist", "data.root={ws}/no_data", "--out", NEW],
     r"apt-get install dataset-fashion-mnist"),
    ("data_verb_missing", ["data", "mnist", "--root", P("no_data")], r"was not found"),
    # checkpoints
    ("ckpt_truncated", ["train", "--resume", P("ck_truncated")], r"truncated or corrupted"),
    ("ckpt_empty", ["train", "--resume", P("ck_empty")], r"truncated or corrupted"),
    ("ckpt_other_arch", ["train", "--resume", P("ck_arch")], r"does not fit this architecture"),
    ("ckpt_other_arch_sample", ["sample", P("ck_arch"), "--n", "4"], r"does not match its own config"),
    ("ckpt_runs_code", ["train", "--resume", P("ck_code")], r"refused without loading"),
    ("ckpt_runs_code_sample", ["sample", P("ck_code")], r"refused without loading"),
    ("ckpt_runs_code_eval", ["eval", P("ck_code")], r"refused without loading"),
    ("ckpt_foreign", ["train", "--resume", P("ck_foreign")], r"not written by `gan train`"),
    ("resume_without_ckpt", ["train", "--resume", P("no_ckpt")], r"no checkpoint at"),
    ("resume_a_file", ["train", "--resume", P("existing/checkpoints/last.pt")], r"takes the run directory"),
    ("resume_changes_model", ["train", "--resume", P("existing"), "model.ngf=16"], r"'model.\*' cannot change"),
    ("resume_fewer_steps", ["train", "--resume", P("existing"), "train.steps=1"], r"below the 2 steps"),
    ("resume_bad_override", ["train", "--resume", P("existing"), "train.batch_size=5000"], r"larger than the dataset"),
    ("resume_and_config", ["train", FAKE_YAML, "--resume", P("existing")], r"not both"),
    ("overwrite_finished_run", ["train", *T, "--out", P("existing")], r"already holds a run"),
    # paths
    ("out_below_a_file", ["train", *T, "--out", P("file.txt/run")], r"cannot write.*file.txt/run"),
    ("out_is_a_file", ["train", *T, "--out", P("file.txt")], r"cannot write.*file.txt"),
    ("name_escapes", ["train", *T, "name=../../escaped"], r"run name '../../escaped' may only hold"),
    ("sample_out_below_a_file", ["sample", P("existing"), "--n", "4", "--out", P("file.txt/grid.png")],
     r"cannot write.*file.txt"),
    ("study_name_escapes", ["study", P("s_escape.yaml")], r"study name '../../escaped'"),
    # command line
    ("unknown_subcommand", ["fly"], r"invalid choice: 'fly'"),
    ("unknown_flag", ["train", FAKE_YAML, "--bogus"], r"unrecognized arguments: --bogus"),
    ("train_without_config", ["train"], r"needs a CONFIG"),
    ("sample_n_zero", ["sample", P("existing"), "--n", "0"], r"--n must be positive"),
    ("sample_n_huge", ["sample", P("existing"), "--n", "200000"], r"--n 200000 makes a .* pass --n \d+ or fewer"),
    ("study_jobs_zero", ["study", P("s_unknown.yaml"), "--jobs", "0"], r"--jobs must be positive"),
    ("int_flag_not_int", ["sample", P("existing"), "--n", "many"], r"--n: invalid int value: 'many'; see `gan sample --help`"),
    ("flag_not_a_choice", ["data", "folder", "--root", P("existing"), "--image-size", "48"],
     r"^error: --image-size: invalid choice: 48 \(choose from 32, 64\); see `gan data --help`$"),
    ("verb_flag_unknown", ["study", P("s_unknown.yaml"), "--jobz"], r"unrecognized arguments: --jobz; see `gan study --help`"),
    # study files
    ("study_unknown_key", ["study", P("s_unknown.yaml")], r"may only hold name, base, overrides, axes.*runz"),
    ("study_axis_not_list", ["study", P("s_axis_scalar.yaml")], r"'axes' must map config keys to non-empty lists"),
    ("study_base_missing", ["study", P("s_base_missing.yaml")], r"base config 'nowhere/missing.yaml' does not exist"),
    ("study_bad_value", ["study", P("s_bad_value.yaml")], r"unknown activation 'swish'"),
    ("study_bad_override", ["study", P("s_bad_override.yaml")], r"unknown config key 'train.stepz'"),
    ("study_not_mapping", ["study", P("s_list.yaml")], r"must hold a mapping"),
    ("study_malformed", ["study", P("s_malformed.yaml")], r"not valid YAML"),
    ("study_runs_share_a_folder", ["study", P("s_same_folder.yaml")], r"two runs would share the folder"),
    ("study_missing", ["study", P("nope.yaml")], r"study file .* does not exist"),
    # sample / eval / report on what is not there
    ("sample_without_ckpt", ["sample", P("no_ckpt")], r"no checkpoint at"),
    ("eval_missing_dir", ["eval", P("missing_run")], r"no checkpoint at|does not exist"),
    ("report_missing_dir", ["report", P("missing_study")], r"missing_study"),
]


def _argv(spec: list, ws: Path) -> list[str]:
    return [a(ws) if callable(a) else a.replace("{ws}", str(ws)) for a in spec]


@pytest.mark.parametrize("case, spec, pattern", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_sentence_exit_2_and_changes_nothing(ws, case, spec, pattern, capsys, monkeypatch):
    fashion = BUILTIN["fashion_mnist"]  # its Debian package folder: absent
    monkeypatch.setitem(BUILTIN, "fashion_mnist", replace(fashion, debian=(fashion.debian[0], str(ws / "no_debian"))))
    monkeypatch.chdir(ws / "cwd")
    marker = ws.parent / f"{ws.name}-PWNED"
    before = _snapshot(ws.parent)
    try:
        code = main(_argv(spec, ws))
    except SystemExit as exit_:  # a mistake must never get here: argparse's own exit is turned into one sentence
        code = f"SystemExit({exit_.code})"
    out, err = capsys.readouterr()
    assert code == 2, f"exit {code}\nstdout: {out}\nstderr: {err}"
    assert "Traceback" not in err + out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err  # argparse's mistakes too: no usage block
    assert re.search(pattern, lines[0]), lines[0]
    assert not marker.exists(), "loading the checkpoint ran code"
    assert _snapshot(ws.parent) == before, "a failing command changed, added or deleted files"


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 25


########################################################################################
# divergence inside a study; a stale run killed before its first checkpoint is started afresh

@pytest.mark.slow
def test_study_with_a_diverging_run_completes_and_lists_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = tmp_path / "div.yaml"
    study.write_text(f"name: div\nbase: {FAKE_YAML}\n"
                     "overrides: {train.steps: 4, train.log_every: 1, train.ckpt_every: 1, train.sample_every: 4, "
                     "train.probe_every: 0, model.nz: 16}\n"
                     "axes:\n  train.lr_g: [2.0e-4, 1.0e+30]\n")  # G's 1e30 step overflows D's loss to NaN at step 2
    out = tmp_path / "study"
    stale = out / "runs" / "lr_g-0.0002"  # as a SIGKILL before the first checkpoint leaves it
    stale.mkdir(parents=True)
    (stale / "config.yaml").write_text("data: {name: fake}\n")
    (stale / "metrics.jsonl").write_text('{"step": 1, "loss/D": 9.0}\n{"step": 2, "lo')
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert run_study(str(study), jobs=1, out=str(out), threads=1) == 0  # --threads: not the cores' share (2 on CI)
    import csv

    rows = {r["run"]: r for r in csv.DictReader(open(out / "results.csv"))}
    assert rows["lr_g-0.0002"]["status"] == "completed" and rows["lr_g-1e30"]["status"] == "diverged"
    diverged = out / "runs" / "lr_g-1e30"
    summary = json.loads((diverged / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["step"] == 2
    assert summary["provenance"]["threads"] == 1
    assert load_checkpoint(diverged)["step"] == 1  # the last good checkpoint, before the non-finite step
    assert [r["step"] for r in read_metrics(stale)] == [1, 2, 3, 4]
    assert all(r["loss/D"] != 9.0 for r in read_metrics(stale))
    assert run_study(str(study), jobs=1, out=str(out)) == 0  # again: both finished, nothing reruns
    assert json.loads((diverged / "summary.json").read_text()) == summary


########################################################################################
# W&B failing mid-run: one warning, training and metrics.jsonl go on

def _tracking_warnings(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "gan.tracking.tracker" and r.levelno >= logging.WARNING]


@pytest.mark.slow
@pytest.mark.parametrize("failure", ["log_raises", "init_raises", "wandb_dir_is_a_file"])
def test_failing_wandb_costs_one_warning(tmp_path, monkeypatch, caplog, capsys, failure):
    import wandb

    run_dir = tmp_path / "run"
    if failure == "log_raises":
        real_log, calls = wandb.Run.log, {"n": 0}

        def flaky_log(self, *args, **kwargs):
            calls["n"] += 1
            if calls["n"] >= 3:
                raise ConnectionError("W&B backend went away")
            return real_log(self, *args, **kwargs)

        monkeypatch.setattr(wandb.Run, "log", flaky_log)
    elif failure == "init_raises":
        monkeypatch.setattr(wandb, "init", lambda *a, **k: (_ for _ in ()).throw(OSError(errno.EACCES, "denied")))
    else:  # W&B cannot create its folder
        run_dir.mkdir()
        (run_dir / "wandb").write_text("not a folder")
    with caplog.at_level(logging.WARNING, logger="gan.tracking.tracker"):
        code = main_train(None, TINY + ["train.steps=8", "track.wandb=offline"], str(run_dir), None)
    assert code == 0
    assert len(_tracking_warnings(caplog)) == 1, [r.getMessage() for r in _tracking_warnings(caplog)]
    assert "Traceback" not in capsys.readouterr().err
    assert [r["step"] for r in read_metrics(run_dir)] == [2, 4, 6, 8]
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
    assert load_checkpoint(run_dir)["step"] == 8


########################################################################################
# a full disk while checkpointing: the previous last.pt stays, the run says so and stops (exit 2)

@pytest.mark.parametrize("where", ["torch.save", "os.replace"])
def test_full_disk_keeps_the_previous_checkpoint(tmp_path, monkeypatch, capsys, where):
    run_dir = tmp_path / "run"
    calls = {"n": 0}

    def enospc():
        raise OSError(errno.ENOSPC, "No space left on device")

    if where == "torch.save":
        real_save = gan.train.checkpoint.torch.save

        def save(obj, f, *args, **kwargs):
            calls["n"] += 1
            if calls["n"] >= 2:
                f.write(b"half a checkpoint")
                enospc()
            return real_save(obj, f, *args, **kwargs)

        monkeypatch.setattr(gan.train.checkpoint.torch, "save", save)
    else:
        class FullDiskOs:
            def __getattr__(self, name):
                return getattr(__import__("os"), name)

            def replace(self, src, dst):
                calls["n"] += str(dst).endswith("last.pt")
                if calls["n"] >= 2 and str(dst).endswith("last.pt"):
                    enospc()
                return __import__("os").replace(src, dst)

        monkeypatch.setattr(gan.files.atomic, "os", FullDiskOs())  # the one atomic writer renames every file
    code = main(["train", *TINY, "train.steps=12", "--out", str(run_dir)])  # checkpoints at 4 (ok), then 8 fails
    err = capsys.readouterr().err
    # issue 20: the run stops at the failed write (exit 2) instead of training on with no checkpoint
    assert code == 2 and err.count("error: disk full writing") == 1 and "the previous checkpoint is intact" in err
    assert f"gan train --resume {run_dir}" in err and "Traceback" not in err
    assert load_checkpoint(run_dir)["step"] == 4
    names = {p.name for p in (run_dir / "checkpoints").iterdir()}  # no temp file left
    assert names in ({"last.pt"}, {"last.pt", "prev.pt"})  # prev.pt: rotated before the failed rename
    assert not (run_dir / "summary.json").exists()  # not finished: a study resumes it


########################################################################################
# no secrets on disk

def test_api_key_is_in_no_file_of_the_run(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)  # with an explicit offline mode: never online, never a sync
    run_dir = tmp_path / "run"
    assert main_train(None, TINY + ["train.steps=4", "track.wandb=offline"], str(run_dir), None) == 0
    files = [p for p in run_dir.rglob("*") if p.is_file() and not p.is_symlink()]
    names = {p.name for p in files}
    assert {"config.yaml", "metrics.jsonl", "summary.json", "last.pt"} <= names
    assert any(p.suffix == ".wandb" for p in files)  # the offline W&B run was really written
    assert [str(p) for p in files if FAKE_KEY.encode() in p.read_bytes()] == []


########################################################################################
# found before the work starts: memory, emulated bf16; warnings as the tool's own lines


def test_sample_grid_larger_than_free_memory_is_refused(ws, monkeypatch, capsys):
    import gan.train.machine
    monkeypatch.setattr(gan.train.machine, "available_memory", lambda device="cpu": (0.05e9, "available RAM"))
    assert main(["sample", str(ws / "existing"), "--n", "20000", "--out", str(ws / "cwd" / "big.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert re.fullmatch(r"error: a grid of 20000 samples needs at least \d+\.\d GB but this machine has 0\.1 GB "
                        r"of available RAM; pass a smaller --n", err), err
    assert not (ws / "cwd" / "big.png").exists()


def test_memory_estimate_counts_what_training_holds():
    import gan.train.machine
    cfg = load_config(None, TINY)
    g_p, d_p, g_a, d_a = gan.train.machine.model_footprint(cfg.model, 1, 32, 16)
    G, D = build_models(cfg.model, 1, 32)
    assert (g_p, d_p) == (sum(p.numel() for p in G.parameters()), sum(p.numel() for p in D.parameters()))
    assert gan.train.machine.training_bytes(cfg, 1, 16) == 16 * (g_p + d_p) + 8 * (g_a + 2 * d_a)
    assert g_a > 16 * 1 * 32 * 32  # at least G's output image batch (16, 1, 32, 32)


@pytest.mark.parametrize("native", [False, True])
def test_bf16_on_a_cpu_without_native_bf16_warns_once_before_training(tmp_path, monkeypatch, capsys, native):
    import gan.train.machine
    import gan.train.launch
    monkeypatch.setattr(gan.train.machine, "native_bf16", lambda: native)
    monkeypatch.setattr(gan.train.machine, "cpu_capability", lambda: "AVX2")
    started, real_train = [], gan.train.launch.train

    def train(*args, **kwargs):  # what stderr holds when the loop starts
        started.append(capsys.readouterr().err)
        return real_train(*args, **kwargs)

    monkeypatch.setattr(gan.train.launch, "train", train)
    assert main(["train", *TINY, "train.steps=2", "train.precision=bf16", "--out", str(tmp_path / "run")]) == 0
    before = started[0].strip().splitlines()
    warned = [line for line in before if "bf16" in line]
    if native:
        assert warned == []
    else:
        assert warned == [f"warning: this CPU lacks native bf16 support ({gan.train.machine.cpu_model()}, torch capability "
                          "AVX2, no AVX512-BF16 or AMX): train.precision=bf16 will be much slower than fp32 (13-28x "
                          "measured); use train.precision=fp32"]


def test_a_python_warning_is_one_line_without_the_source_path(monkeypatch, capsys):
    import warnings
    import gan.commands.sample

    def warns(run, n, out):
        warnings.warn("quality metrics from 64 samples (< 2048) are biased (FCD most);\n compare at equal n")
        return 0

    monkeypatch.setattr(gan.commands.sample, "sample_grid", warns)
    assert main(["sample", "somewhere"]) == 0
    err = capsys.readouterr().err
    assert err == "warning: quality metrics from 64 samples (< 2048) are biased (FCD most); compare at equal n\n"


@pytest.mark.slow
def test_cli_run_shows_library_warnings_as_one_line(tmp_path):
    from conftest import run_cli
    done = run_cli("train", *TINY, "eval.enabled=true", "eval.n_samples=64", "eval.batch_size=32", "train.steps=2",
                   "--out", str(tmp_path / "run"), env={"GAN_CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr
    lines = [ln for ln in done.stderr.replace("\r", "\n").splitlines() if "warning" in ln.lower()]
    assert "warning: quality metrics from 64 samples (< 2048) are biased (FCD most); compare runs only at equal " \
           "eval.n_samples" in lines
    assert not any(".py:" in ln for ln in lines), lines
