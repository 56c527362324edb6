"""Over-steps panels say what a plot alone would hide: a value measured once per run is drawn and labelled as an
end-of-run value, a sparse one says at which steps, and groups whose curves coincide are marked, not hidden."""

from __future__ import annotations

import numpy as np

from gan.report.figures import fig_over_steps

GROUPS = [{"label": "relu", "act": "relu", "rest": ""}, {"label": "leaky_relu:0.2", "act": "leaky_relu:0.2", "rest": ""}]
STEPS = list(range(100, 4001, 100))


def curve(steps, mean, n=3):
    mean = np.broadcast_to(np.asarray(mean, float), (len(steps),))
    return {"steps": list(steps), "mean": list(mean), "low": list(mean - 0.01), "high": list(mean + 0.01), "n": n}


def analysis(**over_steps):
    return {"groups": GROUPS, "over_steps": {k.replace("__", "/"): v for k, v in over_steps.items()}}


def texts(ax):
    return [t.get_text() for t in ax.texts]


def test_a_value_measured_once_is_an_end_of_run_value_side_by_side():
    a = analysis(probe__D__dead_frac={"relu": curve(STEPS, 0.2), "leaky_relu:0.2": curve(STEPS, 0.01)},
                 probe__D__dead_frac_eval={"relu": curve([4000], 0.0), "leaky_relu:0.2": curve([4000], 0.0)})
    fig, notes = fig_over_steps(a, ["probe/D/dead_frac", "probe/D/dead_frac_eval"], "Probes")
    full, once = fig.axes[:2]
    assert "measured at step 4000 only: end-of-run value" in once.get_title()
    assert any("dead_frac_eval is measured once per run (step 4000)" in n for n in notes)
    xs = [line.get_xdata()[0] for line in once.lines if len(line.get_xdata()) == 1 and line.get_marker() == "D"]
    assert len(xs) == 2 and xs[0] < 4000 < xs[1]  # the two diamonds side by side, not one on the other
    assert texts(once) == ["both groups: 0\n(drawn side by side)"]
    assert once.get_xlim() == full.get_xlim()  # at the end of the same step axis as the curves
    assert once.get_ylim()[0] < 0 < 0.05 <= once.get_ylim()[1]  # a share: from 0 up, not centred on 0
    assert texts(full) == []  # 0.2 vs 0.01: no overlap to mark


def test_a_value_measured_at_a_few_steps_says_which():
    a = analysis(probe__D__dead_frac={"relu": curve(STEPS, 0.2), "leaky_relu:0.2": curve(STEPS, 0.01)},
                 probe__D__dead_frac_eval={"relu": curve([2000, 4000], 0.3), "leaky_relu:0.2": curve([2000, 4000], 0.0)})
    fig, _ = fig_over_steps(a, ["probe/D/dead_frac", "probe/D/dead_frac_eval"], "Probes")
    full, sparse = fig.axes[:2]
    assert sparse.get_title() == "probe/D/dead_frac_eval\n(measured at steps 2000 and 4000 only)"
    assert full.get_title() == "probe/D/dead_frac" and sparse.get_xlim() == full.get_xlim()


def test_coinciding_curves_are_marked_and_each_colour_stays_visible():
    a = analysis(probe__D__dead_frac={"relu": curve(STEPS, 0.0), "leaky_relu:0.2": curve(STEPS, 0.0)},
                 probe__input_grad__zero_frac={"relu": curve(STEPS, 0.0),
                                               "leaky_relu:0.2": curve(STEPS, [0.0] * 39 + [4e-7])},
                 probe__input_grad__hoyer={"relu": curve(STEPS, 0.6), "leaky_relu:0.2": curve(STEPS, 0.3)})
    fig, notes = fig_over_steps(a, ["probe/D/dead_frac", "probe/input_grad/zero_frac", "probe/input_grad/hoyer"],
                                "Probes")
    zero, tiny, apart = fig.axes[:3]
    assert texts(zero) == ["both groups: 0 at every step\n(the curves lie on top of each other)"]
    assert texts(tiny) == ["both groups: 0 to 4e-07, never more than 4e-07 apart\n"
                           "(the curves lie on top of each other)"]
    assert texts(apart) == []
    assert notes == ["Probes: the groups' curves coincide in probe/D/dead_frac, probe/input_grad/zero_frac "
                     "(each panel says so)"]
    # under the last-drawn (orange) curve, a wider copy of the first (blue) one shows as a band around it
    widths = {(line.get_color(), line.get_linewidth()) for line in zero.lines if len(line.get_xdata()) == len(STEPS)}
    blue, orange = zero.lines[0].get_color(), zero.lines[1].get_color()
    assert max(w for c, w in widths if c == blue) > max(w for c, w in widths if c == orange)
    assert all(line.get_linewidth() == zero.lines[0].get_linewidth() for line in apart.lines[:2])
    relu, leaky = fig.legends[0].legend_handles[:2]  # the legend shows the curves, not the wider copy
    assert relu.get_linewidth() == leaky.get_linewidth() == zero.lines[1].get_linewidth()
