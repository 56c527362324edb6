"""Provenance: every run records its code version, versions and machine; results.csv and the report use them."""

from __future__ import annotations

import csv
import json
import platform
import re
import subprocess
import warnings

import pytest
import torch
import yaml

from gan import cli
from gan.analysis.study_analysis import code_version_notes, code_versions

from gan.train import machine

from gan.train import provenance

from gan.report import study_report as report
from gan.config.schema import RunConfig
from gan.config.load import apply_overrides
from gan.study.spec import PlannedRun, StudySpec
from gan.study.collect import collect_results
from gan.tracking.tracker import Tracker, wandb_config

from conftest import TINY
from builders_study import make_study

VERSION = re.compile(r"^git:[0-9a-f]{12}(-dirty)?$")


def _git(root, *args):
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def test_code_version_is_the_commit_plus_dirty_and_unknown_outside_a_checkout(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    assert provenance.code_version(repo) == "unknown"  # not a checkout
    _git(repo, "init", "-q")
    assert provenance.code_version(repo) == "unknown"  # a checkout without a commit
    (repo / "a.py").write_text("x = 1\n")
    _git(repo, "add", "a.py")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert provenance.code_version(repo) == f"git:{head[:12]}"
    (repo / "runs").mkdir()
    (repo / "runs" / "new.txt").write_text("untracked")  # run folders in a checkout do not make it dirty
    assert provenance.code_version(repo) == f"git:{head[:12]}"
    (repo / "a.py").write_text("x = 2\n")
    assert provenance.code_version(repo) == f"git:{head[:12]}-dirty"
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))  # no git binary
    assert provenance.code_version(repo) == "unknown"


# two processors of a cloud VM that names its CPU only "AMD EPYC" (a Zen 2 host: AVX2, no AVX-512)
ZEN2 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 23
model\t\t: 49
model name\t: AMD EPYC
flags\t\t: fpu sse sse2 avx fma avx2 bmi2

processor\t: 1
vendor_id\t: AuthenticAMD
cpu family\t: 23
model\t\t: 49
model name\t: AMD EPYC 7B12
flags\t\t: fpu sse sse2 avx fma avx2 bmi2 avx512f
"""


def test_cpuinfo_reads_the_first_processor_and_tells_model_from_model_name(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(ZEN2)
    info = machine.cpuinfo(path)
    assert (info["vendor_id"], info["cpu family"], info["model"], info["model name"]) == \
        ("AuthenticAMD", "23", "49", "AMD EPYC")  # processor 1's 'AMD EPYC 7B12' and its avx512f are not read
    assert machine.cpu_model(info) == "AMD EPYC"
    assert machine.cpuinfo(tmp_path / "absent") == {}


def test_cpu_kind_tells_apart_cpus_that_share_a_model_name(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(ZEN2)
    zen2 = machine.cpuinfo(path)
    assert machine.cpu_kind(zen2, "AVX2") == "AuthenticAMD 23.49 AVX2 avx2"
    # the same model name on a Zen 4 host: AVX-512 and its bf16, no AMX tiles
    zen4 = {**zen2, "model": "17", "cpu family": "25", "flags": zen2["flags"] + " avx512f avx512dq avx512_bf16"}
    assert machine.cpu_model(zen4) == machine.cpu_model(zen2) == "AMD EPYC"
    assert machine.cpu_kind(zen4, "AVX512") == "AuthenticAMD 25.17 AVX512 avx2+avx512f+avx512_bf16"
    spr = {"vendor_id": "GenuineIntel", "cpu family": "6", "model": "143", "model name": "Intel(R) Xeon(R) Processor",
           "flags": "avx2 amx_tile avx512_bf16 amx_int8 avx512f avx512_fp16"}  # listed in the kernel's order, not ours
    assert machine.cpu_kind(spr, "AVX512") == "GenuineIntel 6.143 AVX512 avx2+avx512f+avx512_bf16+amx_tile"
    assert machine.cpu_kind({}, "DEFAULT") == f"{platform.machine() or 'unknown'} ?.? DEFAULT none"  # no /proc
    assert machine.cpu_kind() == machine.cpu_kind(machine.cpuinfo(), machine.cpu_capability())


def test_a_tiny_run_records_its_provenance_in_summary_json(tmp_path):
    out = tmp_path / "run"
    assert cli.main(["train", *TINY, "train.steps=2", "train.device=cpu", "--out", str(out)]) == 0
    prov = json.loads((out / "summary.json").read_text())["provenance"]
    assert VERSION.match(prov["code_version"]) and prov["code_version"] == provenance.code_version()
    assert prov["torch"] == torch.__version__ and prov["python"] == platform.python_version()
    assert prov["cpu"] == machine.cpu_model() and prov["threads"] == torch.get_num_threads() >= 1
    assert prov["cpu_kind"] == machine.cpu_kind() and prov["cpu_kind"].split()[2] == machine.cpu_capability()
    assert (prov["device"], prov["precision"]) == ("cpu", "fp32")


def test_wandb_config_carries_the_provenance_beside_the_config():
    cfg = apply_overrides(RunConfig(), ["train.precision=bf16"])
    prov = provenance.record(cfg, "cpu")
    config = wandb_config(cfg, prov)
    assert config["provenance"] == prov and prov["precision"] == "bf16" and prov["device"] == "cpu"
    assert config["provenance"]["cpu_kind"] == machine.cpu_kind()
    assert config["train"]["precision"] == "bf16"


def test_results_csv_takes_the_runs_own_config_not_the_preset(tmp_path):
    run_dir = tmp_path / "runs" / "a"
    run_dir.mkdir(parents=True)
    # the preset says leaky_relu:0.2 and 300 steps; the run was trained before the preset changed
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"model": {"d_act": "leaky_relu:0.1"},
                                                         "train": {"seed": 0, "steps": 200}}))
    (run_dir / "metrics.jsonl").write_text(json.dumps({"step": 2, "loss/D": 1.0}) + "\n")
    (run_dir / "summary.json").write_text(json.dumps({
        "status": "completed", "step": 200, "final": {}, "mean": {},
        "provenance": {"code_version": "git:0123456789ab", "threads": 2,
                       "cpu_kind": "AuthenticAMD 23.49 AVX2 avx2"}}))
    settings = {"model.d_act": "leaky_relu:0.2", "train.steps": 300, "train.seed": 0, "model.ndf": 16}
    spec = StudySpec("t", None, {}, {"model.d_act": ["leaky_relu:0.2"]})
    path = collect_results(tmp_path, spec, [PlannedRun("a", settings, "a"),
                                            PlannedRun("b", {**settings, "train.seed": 1}, "b")])
    a, b = list(csv.DictReader(path.open()))
    assert (a["model.d_act"], a["train.steps"], a["train.seed"]) == ("leaky_relu:0.1", "200", "0")
    assert a["model.ndf"] == "16"  # not in that config.yaml: the preset's value stands
    assert a["provenance/code_version"] == "git:0123456789ab" and a["provenance/threads"] == "2"
    assert a["provenance/cpu_kind"] == "AuthenticAMD 23.49 AVX2 avx2" and b["provenance/cpu_kind"] == ""
    assert (b["status"], b["model.d_act"], b["train.seed"]) == ("missing", "leaky_relu:0.2", "1")  # never ran


def _with_versions(study, versions):
    path = study / "results.csv"
    rows = list(csv.DictReader(path.open()))
    for row, version in zip(rows, versions):
        row["provenance/code_version"] = version
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_report_lists_the_code_version_and_warns_when_runs_mix_versions(tmp_path):
    one = make_study(tmp_path / "one", seeds=(0, 1), failed=False)
    _with_versions(one, ["git:aaaaaaaaaaaa"] * 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.write_report(one)
    assert "code version: git:aaaaaaaaaaaa (4 runs)" in (one / "report" / "report.md").read_text()

    mixed = make_study(tmp_path / "mixed", seeds=(0, 1), failed=False)
    _with_versions(mixed, ["git:aaaaaaaaaaaa", "git:aaaaaaaaaaaa", "git:bbbbbbbbbbbb-dirty", ""])
    with pytest.warns(UserWarning, match="3 code versions"):
        report.write_report(mixed)
    md = (mixed / "report" / "report.md").read_text()
    assert ("the runs came from 3 code versions: git:aaaaaaaaaaaa (2 runs), git:bbbbbbbbbbbb-dirty (1 run), "
            "not recorded (1 run)") in md


def test_the_tracker_hands_the_provenance_to_wandb_init(tmp_path, monkeypatch):
    import wandb

    seen = {}

    def capture(**kwargs):
        seen.update(kwargs)
        raise RuntimeError("stop here")  # the Tracker warns once and carries on without W&B

    monkeypatch.setattr(wandb, "init", capture)
    cfg = apply_overrides(RunConfig(), ["track.wandb=offline"])
    prov = provenance.record(cfg, "cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Tracker(cfg, tmp_path / "run", provenance=prov)
    assert seen["config"]["provenance"] == prov and seen["config"]["model"]["d_act"] == cfg.model.d_act


def test_the_code_version_note_counts_finished_runs_only():
    # a run killed before its first checkpoint has no provenance: it is not a second "code version"
    rows = [{"status": "completed", "provenance/code_version": "git:aaaaaaaaaaaa"},
            {"status": "diverged", "provenance/code_version": "git:aaaaaaaaaaaa"},
            {"status": "interrupted", "provenance/code_version": ""},
            {"status": "missing"}, {"status": "new"}]
    assert code_version_notes(code_versions(rows)) == ["code version: git:aaaaaaaaaaaa (2 runs)"]
    rows.append({"status": "completed", "provenance/code_version": ""})  # a finished run without one still counts
    notes = code_version_notes(code_versions(rows))
    assert len(notes) == 1 and "2 code versions: git:aaaaaaaaaaaa (2 runs), not recorded (1 run)" in notes[0]
