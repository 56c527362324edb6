"""The layout of a run directory and of a study directory: every path inside them is named here once.

    run = RunDir("runs/fake-D_relu-G_relu-s0")
    run.metrics, run.summary, run.ckpt_last, run.sample("final.png")
    study = StudyDir("studies/quick")
    study.results_csv, study.run("d_act-relu__seed-0").summary, study.report_html

A rename here moves the file for every writer and reader at once (gan study, gan report, the notebook).
"""

from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path

RUNS_ROOT = Path("runs")  # `gan train` without --out: runs/<dataset>-D_<act>-G_<act>-s<seed>
STUDIES_ROOT = Path("studies")  # `gan study` without --out: studies/<name>
STEP_TIME_FILE = "step_time.json"  # claim 6's side-by-side timing (gan/train/step_time.py writes it)
LAST_CKPT, PREV_CKPT = "last.pt", "prev.pt"  # prev.pt: the checkpoint before last.pt (gan/train/checkpoint.py)
LOCK_FILE = ".lock"  # one writer per run or study folder (gan/files/lock.py)
SUMMARY_FILE = "summary.json"  # one per run; counting them counts runs (gan pack)
FINISHED = ("completed", "diverged")  # summary.json statuses of a run that trained to its end (a study skips it)


@dataclass(frozen=True)
class RunDir:
    """What `gan train` writes into one run's folder."""

    path: Path

    def __init__(self, path: str | Path):
        object.__setattr__(self, "path", Path(path))

    @property
    def config(self) -> Path:
        return self.path / "config.yaml"  # the resolved config (gan.config.load.save_config)

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"  # one JSON row per logged step (gan.tracking.metrics_file)

    @property
    def metrics_gz(self) -> Path:
        return self.path / "metrics.jsonl.gz"  # the same rows, gzipped for git (`gan pack`); read when the plain file is absent

    @property
    def summary(self) -> Path:
        return self.path / SUMMARY_FILE  # status, final / mean values, written at the end of a run

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def ckpt_last(self) -> Path:
        return self.checkpoints / LAST_CKPT  # what --resume, gan eval and gan sample load

    @property
    def ckpt_prev(self) -> Path:
        return self.checkpoints / PREV_CKPT  # loaded when last.pt is damaged

    @property
    def ckpt_damaged(self) -> Path:
        return self.checkpoints / f"{LAST_CKPT}.damaged"  # a damaged last.pt, kept aside on resume

    @property
    def lock(self) -> Path:
        return self.path / LOCK_FILE

    @property
    def progress(self) -> tuple[Path, ...]:
        """What a run writes as it trains (a restart removes it; config.yaml and train.log stay). The packed curves
        go too: read_metrics falls back on them, so a stale copy would stand in for the restarted run's rows."""
        return self.checkpoints, self.samples, self.metrics, self.metrics_gz, self.summary, self.eval_json

    @property
    def samples(self) -> Path:
        return self.path / "samples"

    def sample(self, name: str) -> Path:
        """samples/<name>: step_NNNNNN.png during training, final.png at the end."""
        return self.samples / name

    def step_samples(self, step: int) -> Path:
        return self.sample(f"step_{step:06d}.png")

    @property
    def final_samples(self) -> Path:
        return self.sample("final.png")

    @property
    def eval_json(self) -> Path:
        return self.path / "eval.json"  # `gan eval DIR`

    @property
    def grid(self) -> Path:
        return self.path / "grid.png"  # `gan sample DIR` without --out

    @property
    def train_log(self) -> Path:
        return self.path / "train.log"  # stdout and stderr of a study's `gan train`

    @property
    def wandb(self) -> Path:
        return self.path / "wandb"  # W&B's own files (offline-run-*), kept inside the run


@dataclass(frozen=True)
class StudyDir:
    """What `gan study` and `gan report` write into one study's folder."""

    path: Path

    def __init__(self, path: str | Path):
        object.__setattr__(self, "path", Path(path))

    @property
    def runs(self) -> Path:
        return self.path / "runs"

    def run(self, name: str) -> RunDir:
        return RunDir(self.runs / name)

    @property
    def lock(self) -> Path:
        return self.path / LOCK_FILE

    @property
    def study_yaml(self) -> Path:
        return self.path / "study.yaml"  # a copy of the study file it ran

    @property
    def results_csv(self) -> Path:
        return self.path / "results.csv"  # one row per run (gan.study.collect.collect_results)

    @property
    def analysis_json(self) -> Path:
        return self.path / "analysis.json"  # the one analysis every renderer reads (gan.analysis.study_analysis)

    @property
    def step_time(self) -> Path:
        return self.path / STEP_TIME_FILE

    def look_yaml(self, seeds: int) -> Path:
        return self.path / f"study.seeds{seeds}.yaml"  # `--until-decided`: the study file of one look

    @property
    def sequential_json(self) -> Path:
        return self.path / "sequential.json"  # `--until-decided`: each look's level and verdicts

    @property
    def report(self) -> Path:
        return self.path / "report"

    @property
    def report_md(self) -> Path:
        return self.report / "report.md"

    @property
    def report_html(self) -> Path:
        return self.report / "report.html"

    @property
    def figures(self) -> Path:
        return self.report / "figures"

    def figure(self, name: str) -> Path:
        return self.figures / f"{name}.png"


@dataclass(frozen=True)
class AnswerDir:
    """What `gan answer` writes: the forest plot and table over several studies."""

    path: Path

    def __init__(self, path: str | Path):
        object.__setattr__(self, "path", Path(path))

    @property
    def forest_png(self) -> Path:
        return self.path / "forest.png"

    @property
    def answer_md(self) -> Path:
        return self.path / "answer.md"  # the table the README's "The answer" section quotes

    @property
    def answer_json(self) -> Path:
        return self.path / "answer.json"  # the answer's statistics (gan/analysis/answer_analysis.py): what answer.md renders

    @property
    def effect_png(self) -> Path:
        return self.path / "effect_over_training.png"  # one panel per study: the FCD ratio at every evaluation

    def samples_png(self, label: str) -> Path:
        """ReLU and LeakyReLU sample grids from the same noise, side by side, for one study."""
        return self.path / f"samples_{''.join(c if c.isalnum() or c in '-_' else '_' for c in label)}.png"


def cache_dir(root: str | Path) -> Path:
    """$GAN_CACHE_DIR, else <data.root>/.gan_cache: where parsed datasets and the quality classifier are cached."""
    return Path(os.environ.get("GAN_CACHE_DIR") or Path(root) / ".gan_cache")


# The quality classifiers (and their real-data floors) every committed study was measured with, shipped in the
# repository so that a fresh clone measures alike and `make demo` does not spend minutes retraining one.
SHIPPED_CACHE = Path(__file__).resolve().parents[2] / "results" / "answer" / "classifier_cache"
SHIPPED_CACHE_ENV = "GAN_SHIPPED_CACHE"  # another folder of shipped cache files; empty: none


def shipped_cache_file(cache_file: str | Path) -> Path | None:
    """The shipped file of the same name as a cache file (`classifier-<key>.pt`, its .json, `reference-...json`),
    or None. Only the name is matched here: the reader checks identity, sha256 and accuracy as for any cache file,
    so a shipped file is used exactly when a file of the user's own cache would be."""
    folder = os.environ.get(SHIPPED_CACHE_ENV, str(SHIPPED_CACHE))
    path = Path(folder) / Path(cache_file).name if folder else None
    return path if path is not None and path.is_file() else None


def reference_cache_name(data_key: str, kind: str, n: int, digest: str) -> str:
    """The real-data floor's cache file name (gan/measure/quality.py reference_floor): what it was measured for (the
    data, the feature network's kind, the sample count) and by which network (the first 12 hex of its sha256)."""
    return f"reference-{data_key}-{kind}-n{n}-c{digest.removeprefix('sha256:')[:12]}.json"


def shipped_reference(n: int, digest: str) -> Path | None:
    """The shipped floor file measured at n samples by the feature network of sha256 `digest` (a network's hash
    names its data and kind), or None: how an analysis finds a floor's anchor that older runs' summary.json lack."""
    folder = os.environ.get(SHIPPED_CACHE_ENV, str(SHIPPED_CACHE))
    name = reference_cache_name("*", "*", n, digest)
    found = sorted(Path(folder).glob(name)) if folder and Path(folder).is_dir() else []
    return found[0] if len(found) == 1 else None
