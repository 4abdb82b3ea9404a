"""The plugin class Hydra instantiates for ``hydra/sweeper=optuna``; the work is done by
``mltrain.launch.optuna_sweeper.OptunaSweep`` (imported only when a sweep starts)."""

from __future__ import annotations

from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class OptunaSweeper(Sweeper):
    """Hydra's ``Sweeper`` plugin API: ``setup`` once, then ``sweep`` with the command line's overrides."""

    def __init__(self, **settings: Any) -> None:
        from mltrain.launch.optuna_sweeper import OptunaSweep

        self.sweep_impl = OptunaSweep(**settings)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.sweep_impl.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> None:
        self.sweep_impl.sweep(arguments)
