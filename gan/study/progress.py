"""`gan study`'s progress inside each running run: one bar per run, its last logged step out of train.steps.

    bars = RunBars({"d_act-relu__seed-0": 1000, ...})
    bars.update({"d_act-relu__seed-0": Path("studies/quick/runs/d_act-relu__seed-0")})  # every ~0.5 s
    bars.close()

A study's runs are `gan train` processes whose own progress bar goes to their train.log; the study's terminal
would otherwise show only how many runs are done, which on a CPU stays at 0 for many minutes. The step is read
from the tail of the run's metrics.jsonl (gan/tracking/metrics_file.py's last_step) (one JSON row per logged step, appended as the run trains), so the bar
moves every train.log_every steps and costs one small read per run per update.
"""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from gan.tracking.metrics_file import last_step



class RunBars:
    """One tqdm line per running run, below the study's own bar (position 0); a finished run's line is reused."""

    def __init__(self, totals: dict[str, int], disable: bool | None = False, file=None) -> None:
        self.totals, self.disable, self.file = totals, disable, file  # file: None is sys.stderr, as tqdm's
        self._bars: dict[str, tuple[tqdm, Path]] = {}
        self._slots: dict[str, int] = {}  # run -> its line below the study's bar

    def update(self, running: dict[str, Path]) -> None:
        """Open a bar for each newly running run, move every bar to its run's last step, close finished ones."""
        for name in [n for n in self._bars if n not in running]:
            self._finish(name)
        for name, run_dir in running.items():
            if name not in self._bars:
                used = set(self._slots.values())
                slot = self._slots[name] = next(i for i in range(1, len(used) + 2) if i not in used)
                bar = tqdm(total=self.totals.get(name), desc=f"  {name}", unit="step", position=slot, leave=False,
                           disable=self.disable, dynamic_ncols=True, file=self.file)
                bar.set_postfix_str("setting up (data, quality features)")
                self._bars[name] = (bar, run_dir)
            self._move(*self._bars[name])

    def _move(self, bar: tqdm, run_dir: Path) -> None:
        step = last_step(run_dir)
        if step is not None and step != bar.n:
            if bar.n == 0:  # training has begun: the rate and time left count from here, not from the set-up
                bar.set_postfix_str("", refresh=False)
                bar.reset(total=bar.total)
            bar.update(step - bar.n)  # a resumed run starts at its checkpoint's step

    def _finish(self, name: str) -> None:
        bar, run_dir = self._bars.pop(name)
        self._slots.pop(name)
        self._move(bar, run_dir)
        bar.refresh()  # its last step stays in a log; on a terminal the line is then cleared (leave=False)
        bar.close()

    def close(self) -> None:
        for name in list(self._bars):
            self._finish(name)
