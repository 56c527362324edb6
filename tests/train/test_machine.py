"""gan/train/machine.py's idle_cores: how many threads one-off work (a feature network) gets on a busy CPU."""

from __future__ import annotations

from pathlib import Path

from gan.train.machine import _runnable_now, idle_cores


def counts(*values):
    it = iter(values)
    return lambda: next(it)


def test_idle_cores_leaves_out_the_reader_and_the_other_runnable_threads():
    assert idle_cores(2, sample_s=0, runnable=counts(1, 1, 1, 1, 1)) == 2  # only the reader: both cores
    assert idle_cores(2, sample_s=0, runnable=counts(2, 2, 2, 2, 2)) == 1  # one other job
    assert idle_cores(2, sample_s=0, runnable=counts(6, 5, 6, 6, 5)) == 1  # a crowd: never below 1
    assert idle_cores(16, sample_s=0, runnable=counts(4, 4, 4, 4, 4)) == 13


def test_one_busy_instant_does_not_decide_it_and_no_count_means_every_core():
    assert idle_cores(2, sample_s=0, runnable=counts(1, 9, 1, 1, 1)) == 2  # the median of five instants
    assert idle_cores(4, sample_s=0, runnable=lambda: None) == 4  # no /proc/loadavg (macOS): every core


def test_runnable_is_read_from_the_fourth_field_of_proc_loadavg(tmp_path: Path):
    (tmp_path / "loadavg").write_text("5.10 4.63 3.81 6/216 21103\n")
    assert _runnable_now(tmp_path / "loadavg") == 6
    (tmp_path / "bad").write_text("garbage\n")
    assert _runnable_now(tmp_path / "bad") is None and _runnable_now(tmp_path / "missing") is None
