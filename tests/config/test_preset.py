"""``preset=tabular``: what it sets, that the command line still wins over it, and that without it the
defaults are what they were (the digits default stays a small MLP).

    python -m pytest tests/config/test_preset.py -q
"""

from __future__ import annotations

from collections.abc import Callable

from omegaconf import DictConfig

from mltrain.config.checks import validate_config

Compose = Callable[..., DictConfig]


def test_preset_tabular_sets_the_model_scaling_optimizer_and_early_stopping(compose_fit: Compose) -> None:
    cfg = compose_fit(["preset=tabular", "dataset=breast_cancer"])
    assert cfg.model.name == "tabm" and cfg.model.k == 32 and cfg.model.d_block == 256
    assert cfg.dataset.numeric == "quantile" and cfg.dataset.name == "breast_cancer"
    assert (cfg.optimizer.name, cfg.optimizer.lr, cfg.optimizer.weight_decay) == ("adamw", 2e-3, 3e-4)
    assert cfg.scheduler.name == "none" and cfg.trainer.epochs == 100 and cfg.trainer.batch_size == 256
    assert cfg.early_stopping.patience == 10 and cfg.early_stopping.restore_best is True
    assert validate_config(cfg) == []


def test_the_command_line_wins_over_the_preset(compose_fit: Compose) -> None:
    cfg = compose_fit(["preset=tabular", "trainer.epochs=7", "model.k=8", "dataset.numeric=robust",
                       "optimizer=adam"])  # fmt: skip
    assert cfg.trainer.epochs == 7 and cfg.model.k == 8 and cfg.dataset.numeric == "robust"
    assert cfg.optimizer.name == "adam"


def test_without_a_preset_the_defaults_are_unchanged(compose_fit: Compose) -> None:
    cfg = compose_fit([])
    assert cfg.model.name == "mlp" and cfg.dataset.name == "digits" and cfg.dataset.numeric == "standard"
    assert cfg.optimizer.name == "adam" and cfg.trainer.epochs == 20 and cfg.early_stopping.patience is None
