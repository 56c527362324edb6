"""`gan train`'s work: one writer per run folder, then prepare the folder, build the run, train, summarize.

    code = main_train("configs/fashion_mnist.yaml", ["train.seed=3"], out=None, resume=None)  # exit code
"""

from __future__ import annotations

import time

from gan.config.load import config_to_dict

from gan.config.schema import run_name
from gan.errors import STATUS_EXIT
from gan.files.lock import FolderLock
from gan.measure import metric_keys as mk
from gan.measure.quality import Evaluator, reference_floor
from gan.tracking.metrics_file import read_metrics, summarize, truncate_metrics
from gan.tracking.summary_file import end_record
from gan.tracking.tracker import Tracker
from gan.train import distributed, provenance
from gan.train.loop import train
from gan.train.probe_setup import make_probe
from gan.train.run import build_run
from gan.train.run_folder import folder_to_lock, prepare_run_dir, write_config


def main_train(config_path: str | None, overrides: list[str], out: str | None, resume: str | None,
               restart: bool = False) -> int:
    """`gan train`: returns the exit code (0 completed, 1 diverged, 130 interrupted); one process per folder."""
    lock, folder = None, None
    if distributed.context().rank == 0:  # one writer per folder; the other ranks of a torchrun write nothing
        folder = folder_to_lock(config_path, overrides, out, resume)
        if folder is not None:
            lock, created = FolderLock(folder, "run folder"), not folder.exists()
    with distributed.same_outcome():
        if lock is not None:
            lock.acquire()
    try:
        return _train_locked(config_path, overrides, out, resume, restart)
    finally:
        if lock is not None:
            lock.release()
            if created and not any(folder.iterdir()):  # refused before any write: leave no folder behind
                folder.rmdir()


def _train_locked(config_path: str | None, overrides: list[str], out: str | None, resume: str | None,
                  restart: bool) -> int:
    # under torchrun, a user error seen by one rank only (a file missing on one node, a rank-0 write) must
    # stop every rank: same_outcome raises it everywhere instead of leaving the others in a collective
    with distributed.same_outcome():
        cfg, run_dir, state = prepare_run_dir(config_path, overrides, out, resume, restart)
    dist = distributed.context()
    run = build_run(cfg, run_dir)  # bad data or a checkpoint of another architecture fail before anything is written
    with distributed.same_outcome():
        if state is not None:
            run.load_state(state)  # every rank loads the same checkpoint (z stream and batch stream are global)
        if dist.rank == 0:
            write_config(cfg, run_dir)
            # rows after the checkpoint are recomputed identically;
            # a run killed before its first checkpoint starts afresh
            truncate_metrics(run_dir, run.step)
        prov = provenance.record(cfg, run.device) if dist.rank == 0 else {}  # git runs once, at the start
        tracker = Tracker(cfg, run_dir, run_id=run.wandb_run_id, enabled=dist.rank == 0, provenance=prov,
                          dataset=run.train_record)
    run.wandb_run_id = tracker.run_id
    started = time.perf_counter()
    probe = make_probe(run) if cfg.train.probe_every and dist.rank == 0 else None
    evaluator = Evaluator(cfg, run.device) if cfg.eval.enabled and dist.rank == 0 else None
    status = train(run, tracker, probe, evaluator)
    final, mean = summarize(read_metrics(run_dir)) if dist.rank == 0 else ({}, {})
    quality_ref = {}  # what real images score against the test split: the floor beside the run's quality
    if evaluator is not None and status == "completed":
        quality_ref = {**reference_floor(cfg, run.device, evaluator=evaluator),
                       mk.REF_CLASSIFIER_TEST_ACC: evaluator.classifier_meta.get("test_acc"),
                       mk.REF_HELD_OUT: len(evaluator.real_feats)}  # fewer than 2048 bias FCD: the headline says so
    tracker.finish(end_record(status=status, step=run.step, name=run_name(cfg),
                              wall_time_s=time.perf_counter() - started, config=config_to_dict(cfg),
                              final=final, mean=mean, quality_ref=quality_ref, wandb_run_id=tracker.run_id,
                              provenance=prov, dataset=run.train_record or {},
                              classifier=evaluator.classifier_record() if evaluator is not None else {}))
    if status == "diverged" and dist.rank == 0:
        print(f"run diverged at step {run.step} (non-finite loss); last good checkpoint kept in {run_dir}")
    distributed.close(wait_for_peers=True)  # every rank ended the loop alike: meet, then tear down
    return STATUS_EXIT[status]
