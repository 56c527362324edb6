"""results/answer/runs_git.py: what git keeps of a long study, and how a fresh checkout gets it back."""

import importlib.util
import json
from pathlib import Path


SCRIPT = Path(__file__).resolve().parents[1] / "results" / "answer" / "runs_git.py"
spec = importlib.util.spec_from_file_location("runs_git", SCRIPT)
runs_git = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runs_git)


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
    kept = {p.relative_to(tmp_path).as_posix() for p in runs_git.pack(tmp_path)}
    assert kept == {"runs/d_act-relu__seed-0/config.yaml", "runs/d_act-relu__seed-0/summary.json",
                    "runs/d_act-relu__seed-0/metrics.jsonl.gz", "runs/d_act-relu__seed-2/config.yaml",
                    "runs/d_act-relu__seed-2/summary.json", "runs/d_act-relu__seed-2/metrics.jsonl.gz"}
    original = (done / "metrics.jsonl").read_bytes()
    gz_bytes = (done / "metrics.jsonl.gz").read_bytes()
    runs_git.pack(tmp_path)
    assert (done / "metrics.jsonl.gz").read_bytes() == gz_bytes  # same metrics, same bytes: no git churn
    (done / "metrics.jsonl").unlink()  # a fresh checkout: the plain file is ignored by git
    assert runs_git.unpack(tmp_path) == (1, [])
    assert (done / "metrics.jsonl").read_bytes() == original


def test_unpack_sets_aside_a_finished_run_whose_curves_were_lost(tmp_path):
    lost = _run(tmp_path, "d_act-relu__seed-12", "completed")
    (lost / "metrics.jsonl").unlink()  # finished after the last pack: summary.json survived, the curves did not
    kept = _run(tmp_path, "d_act-relu__seed-13", None)
    (kept / "metrics.jsonl").unlink()  # never started logging: gan study restarts it anyway, leave it
    n, aside = runs_git.unpack(tmp_path)
    assert (n, aside) == (0, ["d_act-relu__seed-12"])
    assert not lost.exists() and (tmp_path / "set_aside" / "d_act-relu__seed-12" / "summary.json").is_file()
    assert kept.exists()
