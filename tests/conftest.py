"""Shared fixtures: fixed seeds and a clean Hydra for every test, and composing the ``fit`` config.

Run the suite with ``python -m pytest`` from the repository root (``-m slow`` for the long checks).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from mltrain.config import register_schemas
from mltrain.rundirs import install_resolvers as _install_resolvers

SEED = 0


@pytest.fixture(autouse=True)
def _seeded_and_clean_hydra() -> Iterator[None]:
    """Every test starts from the same random state and leaves no initialised Hydra behind."""
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    yield
    GlobalHydra.instance().clear()


@pytest.fixture
def compose_fit() -> Callable[..., DictConfig]:
    """``compose_fit(["optimizer=sgd", "trainer.epochs=2"])``: the ``fit`` config as ``mltrain fit`` sees it.

    The schemas and resolvers are registered first, as ``cli.main`` does; ``hydra.*`` is not part of the
    result, so ``${mltrain_run_dir:...}`` is never resolved and no run directory is created.
    """
    register_schemas()
    _install_resolvers()

    def compose_with(overrides: Sequence[str] = ()) -> DictConfig:
        with initialize_config_module("mltrain.conf", version_base="1.3"):
            return compose("fit", overrides=list(overrides))

    return compose_with
