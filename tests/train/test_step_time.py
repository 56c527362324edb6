"""gan/train/step_time.py's planning pieces, on a fake clock: what is timed and how it is scaled."""

from __future__ import annotations

import pytest

from gan.train.step_time import TIMED_SAMPLES, WARMUP_SAMPLES, eval_seconds


class FakeEvaluation:
    """evaluate(n) advances a fake clock by `once` seconds the first time (imports, thread pools) plus `per`
    seconds per sample every time, and records the sample counts it was called with."""

    def __init__(self, once: float, per: float):
        self.now, self.once, self.per, self.calls = 0.0, once, per, []

    def clock(self) -> float:
        return self.now

    def __call__(self, n: int) -> None:
        self.now += (self.once if not self.calls else 0.0) + self.per * n
        self.calls.append(n)


def test_an_evaluation_is_timed_after_a_warm_up_and_scaled_to_its_samples():
    fake = FakeEvaluation(once=7.0, per=0.002)
    seconds = eval_seconds(fake, 2048, clock=fake.clock)
    assert fake.calls == [WARMUP_SAMPLES, TIMED_SAMPLES]  # the first, untimed, pays the one-time cost
    assert seconds == pytest.approx(0.002 * 2048)  # 4.1 s, not (7 + 1.02) x 4 = 32 s


def test_fewer_samples_than_the_timed_part_are_timed_as_they_are():
    fake = FakeEvaluation(once=3.0, per=0.01)
    assert eval_seconds(fake, 100, clock=fake.clock) == pytest.approx(1.0)
    assert fake.calls == [WARMUP_SAMPLES, 100]
