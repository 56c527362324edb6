"""Per-run derived values that the claims' primary metrics read, computed from a run's metrics.jsonl rows.

`gan study` writes them as named columns of results.csv (study.collect_results calls `derived_columns`), so
the statistics never reach back into run folders and anyone can recompute a verdict from results.csv alone.

- `tail3/log/quality/fcd`: mean of log(FCD) over the run's last TAIL_EVALS (3) evaluations. A GAN's FCD jumps
  from one evaluation to the next; one snapshot adds that noise to every run. On the log scale a paired
  difference is a log ratio (exp() of it reads "0.93x ReLU's FCD"), and FCD's right skew becomes symmetric.
  Fewer than 3 evaluations: the mean over those there are (the column `tail3/n_evals` says how many).
- `tail3/log/quality/kid`: the same tail average of KID (unbiased, same features; its positive values only: KID
  can dip below 0 for a generator as good as the data, which DCGANs here never are), read beside FCD.
- `at1000/log/quality/fcd`: log(FCD) at the evaluation nearest step EARLY_STEP (1000, within +-25%): the early
  horizon, reported beside the tail average as descriptive only (a 1000-step comparison says how fast two arms
  start, not which samples a user ends with).
- `half2/<key>`: mean of a probe key over the probes of the second half of training (step > last step / 2):
  early probes measure an untrained D and would dilute the effect a claim is about.
- `half2/D/saturated`: the share of the second half's logged training rows in which D saturates (metric_keys.
  is_saturated on D/real_prob and D/fake_prob, the batch means of sigmoid(D)): how often D separates reals from
  fakes nearly perfectly. Read from the training rows every run logs (runs older than the over-strong-D probes included).
- `w1001_2000/D/saturated`: the same share over the rows with 1000 < step <= 2000 (metric_keys.SATURATION_WINDOW),
  claim 11's statistic S (a cell's S: the mean over its ReLU runs; gan/analysis/saturation_rule.py); written only
  for a run that logged up to step 2000.
- `median/perf/step_ms`: the median of a run's logged step times (descriptive row of claim 6 and the step-time
  figure): robust to the warm-up step and to checkpoint / eval steps, unlike the final value. Claim 6 itself
  reads only step_time.json (runs of a study share the CPU).
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from gan.measure import metric_keys as mk
from gan.study.results import is_finite

TAIL_EVALS, EARLY_STEP = mk.TAIL_EVALS, mk.EARLY_STEP
FCD_KEYS = (mk.FCD, mk.FID)  # fid with eval.features=inception
TAIL_KEYS = (*FCD_KEYS, mk.KID)  # KID (same features, unbiased) beside FCD in every quality claim
HALF2_KEYS = (mk.IG_HOYER, mk.D_DEAD_FRAC, mk.D_DEAD_FRAC_EVAL, mk.OVERFIT_HELDOUT_GAP)
STEP_MS, MEDIAN_STEP_MS = mk.STEP_MS, mk.MEDIAN_STEP_MS


def early_log_value(rows: Iterable[dict], key: str, step: int = EARLY_STEP) -> float | None:
    """log of `key` at the evaluation nearest `step` (within +-25% of it; the last row of that step wins)."""
    at = {int(r["step"]): float(r[key]) for r in sorted(rows, key=lambda r: r.get("step", 0))
          if is_finite(r.get("step")) and is_finite(r.get(key)) and r[key] > 0}
    near = min(at, key=lambda s: (abs(s - step), s), default=None)
    return math.log(at[near]) if near is not None and abs(near - step) <= step / 4 else None


def tail_log_mean(rows: Iterable[dict], key: str, k: int = TAIL_EVALS) -> tuple[float | None, int]:
    """(mean log of the last k positive finite values of `key` in step order, how many were used)."""
    vals = [float(r[key]) for r in sorted(rows, key=lambda r: r.get("step", 0))
            if is_finite(r.get(key)) and r[key] > 0][-k:]
    return (sum(map(math.log, vals)) / len(vals), len(vals)) if vals else (None, 0)


def second_half_mean(rows: Iterable[dict], key: str) -> float | None:
    """Mean of `key` over rows with step > (last step) / 2; None when there is none."""
    rows = list(rows)
    last = max((r.get("step", 0) for r in rows if is_finite(r.get("step"))), default=0)
    vals = [float(r[key]) for r in rows if is_finite(r.get(key)) and is_finite(r.get("step")) and r["step"] > last / 2]
    return sum(vals) / len(vals) if vals else None


def window_saturated_share(rows: Iterable[dict], after: float, upto: float) -> tuple[float | None, int]:
    """(share of the rows with after < step <= upto holding both D/real_prob and D/fake_prob in which D saturates
    (metric_keys.is_saturated), how many such rows); (None, 0) when no row holds both."""
    flags = [mk.is_saturated(r[mk.D_REAL_PROB], r[mk.D_FAKE_PROB]) for r in rows
             if is_finite(r.get("step")) and after < r["step"] <= upto
             and is_finite(r.get(mk.D_REAL_PROB)) and is_finite(r.get(mk.D_FAKE_PROB))]
    return (sum(flags) / len(flags) if flags else None), len(flags)


def saturated_share(rows: Iterable[dict]) -> float | None:
    """Share of the 2nd half's rows (step > last step / 2) holding both D/real_prob and D/fake_prob in which D
    saturates; None when no row holds both."""
    rows = [r for r in rows if is_finite(r.get("step"))]
    last = max((r["step"] for r in rows), default=0)
    return window_saturated_share(rows, last / 2, math.inf)[0]


def rule_window_share(rows: Iterable[dict]) -> float | None:
    """Claim 11's statistic of one run: its saturated share over the logged rows in SATURATION_WINDOW (1000 < step
    <= 2000); None unless the run logged past the window's end (a run stopped at step 1500 would be read on half
    a window and look like a finished one)."""
    rows = [r for r in rows if is_finite(r.get("step"))]
    after, upto = mk.SATURATION_WINDOW
    if max((r["step"] for r in rows), default=0) < upto:
        return None
    return window_saturated_share(rows, after, upto)[0]


def median_step_ms(rows: Iterable[dict]) -> float | None:
    """Median of perf/step_ms over the rows with a step (one value per step); None when there is none."""
    times = list({int(r["step"]): float(r[STEP_MS]) for r in rows if "step" in r and is_finite(r.get(STEP_MS))}
                 .values())
    return float(np.median(times)) if times else None


def derived_columns(rows: list[dict]) -> dict[str, float | int]:
    """The derived results.csv columns of one run (only those it has data for)."""
    out: dict[str, float | int] = {}
    for key in TAIL_KEYS:
        mean, n = tail_log_mean(rows, key)
        if mean is not None:
            out[mk.tail_log(key)] = mean
            if key in FCD_KEYS:
                out[mk.TAIL_N_EVALS] = n
        early = early_log_value(rows, key) if key in FCD_KEYS else None
        if early is not None:
            out[mk.early_log(key)] = early
    for key in HALF2_KEYS:
        mean = second_half_mean(rows, key)
        if mean is not None:
            out[mk.half2(key)] = mean
    share = saturated_share(rows)
    if share is not None:
        out[mk.half2(mk.D_SATURATED)] = share
    share = rule_window_share(rows)
    if share is not None:
        out[mk.window(mk.D_SATURATED)] = share
    median = median_step_ms(rows)
    if median is not None:
        out[MEDIAN_STEP_MS] = median
    return out
