"""`gan pack`: what git keeps of a long study, how a fresh checkout gets it back, and the commit it makes."""

import json
import subprocess
from pathlib import Path


from gan.cli import main
from gan.study import small_files


def _run(study: Path, name: str, status: str | None, rows: int = 3) -> Path:
    folder = study / "runs" / name
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("name: x\n")
    (folder / "metrics.jsonl").write_text("".join(json.dumps({"step": i, "G/loss": i / 2}) + "\n" for i in range(rows)))
    if status:
        (folder / "summary.json").write_text(json.dumps({"status": status}))
    return folder


def test_pack_keeps_finished_runs_only_and_unpack_restores_the_same_bytes(tmp_path):
    done = _run(tmp_path, "d_act-relu__seed-0", "completed")
    _run(tmp_path, "d_act-relu__seed-1", None)  # still training: nothing of it goes to git
    _run(tmp_path, "d_act-relu__seed-2", "diverged")  # a diverged run is a result, kept like a finished one
    (tmp_path / "results.csv").write_text("run\n")
    (tmp_path / "report" / "figures").mkdir(parents=True)
    (tmp_path / "report" / "figures" / "forest.png").write_bytes(b"png")  # the report's figures are kept too
    (tmp_path / "report" / "report.md").write_text("# report\n")
    kept = {p.relative_to(tmp_path).as_posix() for p in small_files.pack(tmp_path)}
    assert kept == {"results.csv", "report/report.md", "report/figures/forest.png", "runs/d_act-relu__seed-0/config.yaml", "runs/d_act-relu__seed-0/summary.json",
                    "runs/d_act-relu__seed-0/metrics.jsonl.gz", "runs/d_act-relu__seed-2/config.yaml",
                    "runs/d_act-relu__seed-2/summary.json", "runs/d_act-relu__seed-2/metrics.jsonl.gz"}
    original = (done / "metrics.jsonl").read_bytes()
    gz_bytes = (done / "metrics.jsonl.gz").read_bytes()
    small_files.pack(tmp_path)
    assert (done / "metrics.jsonl.gz").read_bytes() == gz_bytes  # same metrics, same bytes: no git churn
    (done / "metrics.jsonl").unlink()  # a fresh checkout: the plain file is ignored by git
    assert small_files.unpack(tmp_path) == (1, [])
    assert (done / "metrics.jsonl").read_bytes() == original


def test_unpack_sets_aside_a_finished_run_whose_curves_were_lost(tmp_path):
    lost = _run(tmp_path, "d_act-relu__seed-12", "completed")
    (lost / "metrics.jsonl").unlink()  # finished after the last pack: summary.json survived, the curves did not
    kept = _run(tmp_path, "d_act-relu__seed-13", None)
    (kept / "metrics.jsonl").unlink()  # never started logging: gan study restarts it anyway, leave it
    n, aside = small_files.unpack(tmp_path)
    assert (n, aside) == (0, ["d_act-relu__seed-12"])
    assert not lost.exists() and (tmp_path / "set_aside" / "d_act-relu__seed-12" / "summary.json").is_file()
    assert kept.exists()


def _git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def test_gan_pack_git_commits_the_small_files_only(tmp_path, capsys):
    repo = tmp_path / "repo"
    study = repo / "results" / "s"
    repo.mkdir()
    _git("init", "-q", cwd=repo)
    _git("config", "user.email", "t@t", cwd=repo)
    _git("config", "user.name", "t", cwd=repo)
    (repo / ".gitignore").write_text("metrics.jsonl\nrest.txt\n")  # as the project's .gitignore keeps big files out
    (repo / "rest.txt").write_text("staged by someone else\n")
    (repo / "other.txt").write_text("x\n")
    _git("add", "other.txt", cwd=repo)  # staged work of the user's: the pack commit must not sweep it in
    _run(study, "d_act-relu__seed-0", "completed")
    _run(study, "d_act-relu__seed-1", None)
    assert main(["pack", str(study), "--git"]) == 0
    committed = _git("show", "--name-only", "--format=%s", "HEAD", cwd=repo).split()
    assert committed[:5] == ["studies:", "1", "more", "finished", "run(s)"]
    assert sorted(committed[-3:]) == ["results/s/runs/d_act-relu__seed-0/config.yaml",
                                      "results/s/runs/d_act-relu__seed-0/metrics.jsonl.gz",
                                      "results/s/runs/d_act-relu__seed-0/summary.json"]
    assert "A  other.txt" in _git("status", "--short", cwd=repo)  # still staged, not committed
    assert main(["pack", str(study), "--git"]) == 0  # nothing new: no empty commit
    assert _git("rev-list", "--count", "HEAD", cwd=repo).strip() == "1"
    (study / "results.csv").write_text("run\n")  # the study's own file changed, no run finished
    assert main(["pack", str(study), "--git"]) == 0
    assert _git("log", "-1", "--format=%s", cwd=repo).strip() == "studies: study files updated (no new run)"


def test_gan_pack_refuses_a_folder_that_is_not_a_study(tmp_path, capsys):
    assert main(["pack", str(tmp_path)]) == 2
    assert "not a study directory" in capsys.readouterr().err


def test_gan_pack_unpack_through_the_cli(tmp_path, capsys):
    done = _run(tmp_path, "d_act-relu__seed-0", "completed")
    assert main(["pack", str(tmp_path)]) == 0
    (done / "metrics.jsonl").unlink()
    assert main(["pack", str(tmp_path), "--unpack"]) == 0
    assert "unpack: 1 run(s) restored" in capsys.readouterr().out and (done / "metrics.jsonl").is_file()


def test_a_packed_run_is_read_from_its_gz_as_cloned(tmp_path):
    """A fresh clone holds metrics.jsonl.gz only: read_metrics reads it, with the same rows as the plain file
    (issue 42: `gan report --collect` on a clone had lost every curve); the plain file wins when both exist."""
    from gan.tracking.metrics_file import read_metrics

    run = _run(tmp_path, "d_act-relu__seed-0", "completed", rows=5)
    plain = read_metrics(run)
    assert [r["step"] for r in plain] == [0, 1, 2, 3, 4] and plain[3]["G/loss"] == 1.5
    small_files.pack(tmp_path)
    (run / "metrics.jsonl").unlink()
    assert read_metrics(run) == plain
    (run / "metrics.jsonl").write_text(json.dumps({"step": 9, "G/loss": 7.0}) + "\n")  # training appends here
    assert read_metrics(run) == [{"step": 9, "G/loss": 7.0}]


def test_a_restarted_run_loses_its_packed_curves_too(tmp_path):
    """--restart removes the gz with the rest: a stale packed copy would stand in for the new run's rows."""
    from gan.train.run_folder import clear_progress
    from gan.tracking.metrics_file import read_metrics

    run = _run(tmp_path, "d_act-relu__seed-0", "completed")
    small_files.pack(tmp_path)
    clear_progress(run, "--restart")
    assert not (run / "metrics.jsonl.gz").exists() and read_metrics(run) == []
