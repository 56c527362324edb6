"""Optional: a saved W&B workspace with the panels that answer the question (needs `pip install wandb-workspaces`).

    python -c "from gan.dashboard import dashboard; raise SystemExit(dashboard('gan-activations', 'ENTITY'))"

The one module besides gan/tracking.py that touches W&B: it imports the separate `wandb_workspaces`
package (the panel and workspace classes live only there), never `wandb` itself.
"""

from __future__ import annotations

import sys
from typing import Any

from gan.metrics_log import STEP_KEY
from gan.tracking import resolve_mode


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

    sections = [
        ws.Section(name="Gradient sparsity and dead units", is_open=True, panels=[
            line("probe/input_grad/hoyer"), line("probe/input_grad/zero_frac"), line("probe/D/dead_frac"),
            line("probe/D/grad_zero_frac")]),
        ws.Section(name="Sample quality", is_open=True, panels=[line("quality/fcd"), line("quality/modes_covered")]),
        ws.Section(name="Samples", is_open=True, panels=[wr.MediaBrowser(media_keys=["samples"])]),
        ws.Section(name="Losses", is_open=False, panels=[line("loss/D"), line("loss/G"), line("D/real_prob"),
                                                          line("D/fake_prob")]),
    ]
    try:
        view = ws.Workspace(name="LeakyReLU vs ReLU", entity=entity, project=project, sections=sections,
                            settings=ws.WorkspaceSettings(x_axis=STEP_KEY),
                            runset_settings=ws.RunsetSettings(groupby=[ws.Config("model.d_act")])).save()
    except Exception as err:  # noqa: BLE001
        print(f"error: could not save the workspace ({type(err).__name__}: {str(err)[:150]})", file=sys.stderr)
        return 2
    print(f"workspace: {view.url}")
    return 0
