"""Optional: a saved W&B workspace with the panels that answer the question (needs `pip install wandb-workspaces`).

    python -c "from gan.tracking.dashboard import dashboard; raise SystemExit(dashboard('gan-activations', 'ENTITY'))"

The one module besides gan/tracking/tracker.py that touches W&B: it imports the separate `wandb_workspaces`
package (the panel and workspace classes live only there), never `wandb` itself.
"""

from __future__ import annotations

import sys
from typing import Any

from gan.measure import metric_keys as mk
from gan.config.schema import D_ACT
from gan.tracking.metrics_file import STEP_KEY
from gan.tracking.tracker import resolve_mode

# section name -> the keys it plots, one line panel each (tests check a tiny run logs every one of them)
PANELS = {
    "Gradient sparsity and dead units": (mk.IG_HOYER, mk.IG_ZERO_FRAC, mk.D_DEAD_FRAC, mk.D_GRAD_ZERO_FRAC),
    "Sample quality": (mk.FCD, mk.MODES_COVERED),
    "Losses": (mk.LOSS_D, mk.LOSS_G, mk.D_REAL_PROB, mk.D_FAKE_PROB),
}
MEDIA = (mk.SAMPLES,)


def dashboard(project: str, entity: str | None) -> int:
    """Create a workspace view (needs `pip install wandb-workspaces`, an API key and network); 2 if it cannot."""
    if resolve_mode("auto") != "online":
        print("error: a W&B dashboard needs W&B online (set WANDB_API_KEY, unset WANDB_MODE); "
              "offline runs are viewed after `wandb sync`", file=sys.stderr)
        return 2
    try:
        import wandb_workspaces.reports.v2 as wr
        import wandb_workspaces.workspaces as ws
    except ImportError:
        print("error: the dashboard needs the optional package wandb-workspaces; pip install wandb-workspaces",
              file=sys.stderr)
        return 2

    def line(y: str) -> Any:
        return wr.LinePlot(x=STEP_KEY, y=[y], title=y, groupby_aggfunc="mean", groupby_rangefunc="stddev")

    sparsity, quality, losses = (ws.Section(name=name, is_open=name != "Losses", panels=[line(k) for k in keys])
                                 for name, keys in PANELS.items())
    samples = ws.Section(name="Samples", is_open=True, panels=[wr.MediaBrowser(media_keys=list(MEDIA))])
    sections = [sparsity, quality, samples, losses]
    try:
        view = ws.Workspace(name="LeakyReLU vs ReLU", entity=entity, project=project, sections=sections,
                            settings=ws.WorkspaceSettings(x_axis=STEP_KEY),
                            runset_settings=ws.RunsetSettings(groupby=[ws.Config(D_ACT)])).save()
    except Exception as err:  # noqa: BLE001
        print(f"error: could not save the workspace ({type(err).__name__}: {str(err)[:150]})", file=sys.stderr)
        return 2
    print(f"workspace: {view.url}")
    return 0
