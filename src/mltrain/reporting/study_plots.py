"""An Optuna sweep's own plots, as PNGs in the sweep directory's ``plots/``, drawn without a server.

    write_study_plots(study, sweep_dir)  # optuna_history.png, optuna_parallel_coordinate.png, ...

Optuna's ``optuna.visualization.matplotlib`` draws them; a plot that the study cannot have yet (parameter
importances need two finished trials and a parameter that varies) is left out with a log line.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from mltrain.files import atomic_file
from mltrain.rundir import RunDir

log = logging.getLogger(__name__)

STUDY_PLOTS = {
    "optuna_history.png": "plot_optimization_history",
    "optuna_parallel_coordinate.png": "plot_parallel_coordinate",
    "optuna_param_importances.png": "plot_param_importances",
    "optuna_intermediate_values.png": "plot_intermediate_values",  # each trial's objective per epoch
}


def write_study_plots(study: Any, sweep_dir: Path) -> list[str]:
    """Draw the plots of ``STUDY_PLOTS`` that ``study`` has data for; their paths, relative to the sweep."""
    import matplotlib

    matplotlib.use("Agg")  # Optuna draws through pyplot: no display, and nothing shown
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as optuna_plots

    out = RunDir(sweep_dir).plots
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, function in STUDY_PLOTS.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ExperimentalWarning, and "no trials to plot"
                axes = getattr(optuna_plots, function)(study)
        except (ValueError, RuntimeError, ZeroDivisionError) as error:
            log.info("%s left out: %s", name, error)
            continue
        figure = getattr(axes, "figure", None) or axes.flat[0].figure
        if not figure.axes or not any(ax.has_data() for ax in figure.axes):
            log.info("%s left out: no trial has data for it yet", name)
            plt.close(figure)
            continue
        figure.set_size_inches(8, 5)
        figure.tight_layout()
        with atomic_file(out / name, "wb") as f:
            figure.savefig(f, format="png", dpi=100)
        plt.close(figure)
        written.append(str(RunDir.plots / name))
    return written
