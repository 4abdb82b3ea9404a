"""Structured-config schemas of every command: typed keys, so ``trainer.epochs=abc`` or ``max_drop=abc``
fails at composition, the same way for ``fit``, ``evaluate``, ``predict``, ``export`` and ``monitor``.

Imports nothing heavy: ``cli.py`` registers these before Hydra composes, also for ``--help`` and tab
completion. The checks that need the components and the data live in ``config/checks.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class TrainerConfig:
    epochs: int = 20
    batch_size: int = 64
    eval_batch_size: int = 1024
    device: str = "auto"
    num_threads: int | None = None
    limit_train_batches: int | None = None
    limit_val_batches: int | None = None
    grad_clip: float | None = None
    deterministic: bool = False
    nproc: int = 1
    compile: bool = False
    precision: str = "32"
    accumulate_grad_batches: int = 1


@dataclass
class CheckpointConfig:
    save_top_k: int = 0


@dataclass
class EarlyStoppingConfig:
    patience: int | None = None
    monitor: str = "val_loss"
    mode: str = "auto"
    min_delta: float = 0.0
    restore_best: bool = False


@dataclass
class FitConfig:
    seed: int = 0
    objective: str = "val_loss"
    objective_mode: str = "auto"
    optimizer: Any = MISSING
    loss: Any = MISSING
    metric: Any = field(default_factory=dict)
    dataset: Any = MISSING
    model: Any = MISSING
    validation: Any = MISSING
    scheduler: Any = MISSING
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    logger: Any = field(default_factory=dict)
    resume: str | None = None
    trust_code: bool = False
    debug: Any = None


@dataclass
class LRFindSettings:
    min_lr: float = 1e-7
    max_lr: float = 10.0
    steps: int | None = None
    smoothing: float = 0.9
    diverge: float = 4.0


@dataclass
class LRFindConfig(FitConfig):
    lr_find: LRFindSettings = field(default_factory=LRFindSettings)


@dataclass
class EvaluateConfig:
    run: str = MISSING
    input: str | None = None
    max_drop: float | None = None
    trust_code: bool = False


@dataclass
class PredictConfig:
    run: str = MISSING
    input: str = MISSING
    output: str = MISSING
    id: str | None = None
    chunksize: int = 10_000
    trust_code: bool = False


@dataclass
class ExportConfig:
    run: str = MISSING
    format: str = "onnx"
    output: str | None = None
    trust_code: bool = False


@dataclass
class MonitorConfig:
    run: str = MISSING
    input: str = MISSING
    max_drift: float | None = 0.25
    max_ks: float | None = None
    max_drop: float | None = None
    trust_code: bool = False


# each command's schema, stored as ``<command>_schema``: the first entry of ``conf/<command>.yaml``'s defaults
SCHEMAS = {
    "fit": FitConfig,
    "evaluate": EvaluateConfig,
    "predict": PredictConfig,
    "export": ExportConfig,
    "monitor": MonitorConfig,
}
SCHEMA_SUFFIX = "_schema"


def register_schemas(command: str | None = None) -> None:
    """Put the schemas in Hydra's ConfigStore (called by ``cli.py`` before composing).

    ``conf/lr_find.yaml`` is fit's config plus ``lr_find.*``: it includes ``fit.yaml``, whose first entry is
    ``fit_schema``, so for ``lr_find`` that name holds :class:`LRFindConfig` (fit's keys and its own).
    """
    store = ConfigStore.instance()
    for name, schema in SCHEMAS.items():
        store.store(name=f"{name}{SCHEMA_SUFFIX}", node=schema)
    if command == "lr_find":
        store.store(name=f"fit{SCHEMA_SUFFIX}", node=LRFindConfig)
