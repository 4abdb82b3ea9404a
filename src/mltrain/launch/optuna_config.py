"""The settings of ``hydra/sweeper=optuna``: the sweeper's keys, its samplers and its pruners.

    mltrain fit -m hydra/sweeper=optuna hydra/sweeper/sampler=random hydra/sweeper/pruner=median \
        hydra.sweeper.n_trials=20 hydra.sweeper.storage=sqlite:///study.db hydra.sweeper.study_name=lr \
        'optimizer.lr=tag(log, interval(1e-4, 1e-1))'

Plain dataclasses (no optuna import): ``src/hydra_plugins/mltrain_optuna_sweeper`` stores them in Hydra's
ConfigStore under ``hydra/sweeper``, ``hydra/sweeper/sampler`` and ``hydra/sweeper/pruner``, which Hydra does
on every start-up. The keys users typed with ``hydra-optuna-sweeper`` 1.3 keep their meaning; the sweeper
itself is ``launch/optuna_sweeper.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

SWEEPER_TARGET = "hydra_plugins.mltrain_optuna_sweeper.optuna_sweeper.OptunaSweeper"


@dataclass
class SamplerConfig:
    _target_: str = MISSING


@dataclass
class TPESamplerConfig(SamplerConfig):
    """Tree-structured Parzen estimator: Optuna's default, good from a few dozen trials on."""

    _target_: str = "optuna.samplers.TPESampler"
    seed: int | None = None
    n_startup_trials: int = 10  # random trials before TPE models the results
    n_ei_candidates: int = 24
    multivariate: bool = False
    constant_liar: bool = True  # running trials count as bad guesses: parallel workers spread out


@dataclass
class RandomSamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.RandomSampler"
    seed: int | None = None


@dataclass
class CmaEsSamplerConfig(SamplerConfig):
    """CMA-ES: continuous parameters (intervals); choices are sampled at random."""

    _target_: str = "optuna.samplers.CmaEsSampler"
    seed: int | None = None
    n_startup_trials: int = 1
    sigma0: float | None = None
    restart_strategy: str | None = None
    use_separable_cma: bool = False
    consider_pruned_trials: bool = False


@dataclass
class NSGAIISamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.NSGAIISampler"
    seed: int | None = None
    population_size: int = 50
    mutation_prob: float | None = None
    crossover_prob: float = 0.9
    swapping_prob: float = 0.5


@dataclass
class QMCSamplerConfig(SamplerConfig):
    """Quasi-Monte Carlo: a low-discrepancy cover of the space (Sobol or Halton)."""

    _target_: str = "optuna.samplers.QMCSampler"
    seed: int | None = None
    qmc_type: str = "sobol"
    scramble: bool = False


@dataclass
class GPSamplerConfig(SamplerConfig):
    """Gaussian-process Bayesian optimisation: few, expensive trials."""

    _target_: str = "optuna.samplers.GPSampler"
    seed: int | None = None
    n_startup_trials: int = 10
    deterministic_objective: bool = False


@dataclass
class GridSamplerConfig(SamplerConfig):
    """Every point of the grid once; the grid is made from the sweep's choices and ranges at run time."""

    _target_: str = "optuna.samplers.GridSampler"
    _partial_: bool = True
    seed: int | None = None


@dataclass
class BruteForceSamplerConfig(SamplerConfig):
    """Every combination of discrete parameters, then the study stops."""

    _target_: str = "optuna.samplers.BruteForceSampler"
    seed: int | None = None


SAMPLERS = {
    "tpe": TPESamplerConfig, "random": RandomSamplerConfig, "cmaes": CmaEsSamplerConfig,
    "nsgaii": NSGAIISamplerConfig, "qmc": QMCSamplerConfig, "gp": GPSamplerConfig, "grid": GridSamplerConfig,
    "bruteforce": BruteForceSamplerConfig,
}  # fmt: skip


@dataclass
class PrunerConfig:
    _target_: str = MISSING


@dataclass
class NopPrunerConfig(PrunerConfig):
    """No pruning: every trial trains all its epochs."""

    _target_: str = "optuna.pruners.NopPruner"


@dataclass
class MedianPrunerConfig(PrunerConfig):
    """Stop a trial whose best objective so far is worse than the median of earlier trials at that epoch."""

    _target_: str = "optuna.pruners.MedianPruner"
    n_startup_trials: int = 5  # trials that are never pruned: the median needs some
    n_warmup_steps: int = 0  # epochs of every trial that are never pruned
    interval_steps: int = 1
    n_min_trials: int = 1


@dataclass
class SuccessiveHalvingPrunerConfig(PrunerConfig):
    """Asynchronous successive halving: keep the best 1/reduction_factor of trials at each rung."""

    _target_: str = "optuna.pruners.SuccessiveHalvingPruner"
    min_resource: Any = "auto"  # epochs before the first rung; auto: from the first finished trial
    reduction_factor: int = 4
    min_early_stopping_rate: int = 0
    bootstrap_count: int = 0


@dataclass
class HyperbandPrunerConfig(PrunerConfig):
    """Hyperband: several successive-halving brackets with different rung spacings."""

    _target_: str = "optuna.pruners.HyperbandPruner"
    min_resource: int = 1
    max_resource: Any = "auto"  # epochs of a full trial; auto: from the first finished trial
    reduction_factor: int = 3
    bootstrap_count: int = 0


PRUNERS = {
    "none": NopPrunerConfig, "median": MedianPrunerConfig, "hyperband": HyperbandPrunerConfig,
    "successive_halving": SuccessiveHalvingPrunerConfig,
}  # fmt: skip


@dataclass
class OptunaSweeperConf:
    _target_: str = SWEEPER_TARGET
    defaults: list[Any] = field(default_factory=lambda: [{"sampler": "tpe"}, {"pruner": "none"}])

    sampler: SamplerConfig = MISSING  # hydra/sweeper/sampler=tpe|random|cmaes|nsgaii|qmc|gp|grid|bruteforce
    pruner: PrunerConfig = MISSING  # hydra/sweeper/pruner=none|median|successive_halving|hyperband
    direction: str = "minimize"  # minimize | maximize; set from the run's objective unless given
    # Where the study lives: null (this process's memory; a journal file in the sweep directory when a
    # launcher runs the jobs in other processes), an RDB URL (sqlite:///study.db, postgresql://...), or
    # the path of an Optuna journal file (study.journal). A re-run on the same storage and study continues it.
    storage: str | None = None
    study_name: str | None = None  # null: the storage's one study, or a new one named "sweep"
    n_trials: int = 20  # trials of the whole study, whichever worker ran them; a re-run runs the rest
    n_jobs: int = 2  # trials launched at once by a parallel launcher (joblib, submitit); 1 with the basic one
    max_failure_rate: float = 1.0  # stop asking for trials once this share of this worker's trials failed
    params: dict[str, str] | None = None  # search space as key: "interval(0, 1)", beside the command line
    custom_search_space: str | None = None  # a function (config, optuna.Trial) -> None that suggests more
    plots: bool = True  # optimisation history, parallel coordinates and importances as PNGs in the sweep dir
    trial_plots: bool = False  # each trial's learning curves and confusion matrix (most of its overhead)


def register_sweeper() -> None:
    """Make ``hydra/sweeper=optuna`` known to Hydra, also where its plugin scan cannot see it.

    Hydra finds plugins by walking the ``hydra_plugins`` namespace package's folders; an editable install
    (``pip install -e .``) maps ``src/hydra_plugins`` through an import hook that the walk does not see.
    Storing the configs and registering the class through Hydra's public ``Plugins.register`` works for
    either kind of install (a second registration of the same class changes nothing).
    """
    import importlib.util

    from hydra.core.plugins import Plugins

    if importlib.util.find_spec("optuna") is None:
        return  # no sweep extra: hydra/sweeper=optuna says which extra to install (config/messages.py)
    from hydra_plugins.mltrain_optuna_sweeper import config  # noqa: F401 - stores the config groups
    from hydra_plugins.mltrain_optuna_sweeper.optuna_sweeper import OptunaSweeper

    Plugins.instance().register(OptunaSweeper)
