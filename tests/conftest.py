"""Shared fixtures and helpers: fixed seeds and a clean Hydra for every test, composing the ``fit`` config,
the installed command as a subprocess, and the small data sets several test modules train on.

Run the suite with ``python -m pytest`` from the repository root (``-m slow`` for the long checks).
"""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from mltrain import cli
from mltrain.commands import fit
from mltrain.config.schemas import register_schemas
from mltrain.rundir import install_resolvers as _install_resolvers
from mltrain.rundir import unique_run_dir

SEED = 0


@pytest.fixture(autouse=True)
def _seeded_and_clean_hydra() -> Iterator[None]:
    """Every test starts from the same random state and leaves no initialised Hydra behind, nor the
    logging set-up of a Hydra app it ran in-process (Hydra's job logging replaces the root handlers and
    disables the loggers that existed, which would hide later tests' records from ``caplog``)."""
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    GlobalHydra.instance().clear()
    root.handlers[:] = handlers
    root.setLevel(level)
    for logger in logging.Logger.manager.loggerDict.values():
        if isinstance(logger, logging.Logger):
            logger.disabled = False


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


def mltrain(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m mltrain <args>`` in ``cwd`` with output captured (so not a terminal)."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "mltrain", *args], cwd=cwd, env=full_env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def write_penguins(path: Path, rows: int = 300, missing: bool = False) -> Path:
    """A CSV the package never ships: string labels, a categorical column, numeric columns."""
    rng = np.random.default_rng(3)
    species = rng.choice(["Adelie", "Chinstrap", "Gentoo"], rows)
    centre = {"Adelie": (38.8, 18.3, 190.0), "Chinstrap": (48.8, 18.4, 196.0), "Gentoo": (47.5, 15.0, 217.0)}
    values = np.array([centre[s] for s in species]) + rng.normal(0, [2.0, 0.8, 5.0], (rows, 3))
    frame = pd.DataFrame(values, columns=["bill_length", "bill_depth", "flipper_length"])
    frame.insert(
        0, "island", np.where(species == "Gentoo", "Biscoe", rng.choice(["Dream", "Torgersen"], rows))
    )
    frame["species"] = species
    if missing:
        frame.loc[[3, 10, 11], "bill_depth"] = np.nan
    frame.to_csv(path, index=False)
    return path


def fit_run(path: Path, overrides: list[str]) -> Path:
    register_schemas()
    _install_resolvers()
    with initialize_config_module("mltrain.conf", version_base="1.3"):
        small = [] if any(o.startswith("model=") for o in overrides) else ["model.hidden=[16]"]
        cfg = compose("fit", overrides=["trainer.epochs=5", *small, *overrides])
    GlobalHydra.instance().clear()
    fit.run(cfg, path)
    return path


SHIFTED = "mean area"


def cancer_csvs(root: Path) -> tuple[Path, Path, Path]:
    """breast_cancer split at random into training (75%) and new rows, and the new rows with ``mean area``
    moved by half its standard deviation."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    order = np.random.default_rng(0).permutation(len(frame))
    train, new = frame.iloc[order[:426]], frame.iloc[order[426:]]
    shifted = new.assign(**{SHIFTED: new[SHIFTED] + 0.5 * frame[SHIFTED].std()})
    paths = root / "train.csv", root / "new.csv", root / "shifted.csv"
    for part, path in zip((train, new, shifted), paths, strict=True):
        part.to_csv(path, index=False)
    return paths


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Callable]:
    """``run(args, cwd) -> (status, stderr)``: ``cli.main(args)`` in this process, as the script runs it."""
    monkeypatch.setattr(sys, "argv", ["mltrain"])
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    sigterm = signal.getsignal(signal.SIGTERM)

    def run(args: list[str], cwd: Path) -> tuple[int, str]:
        unique_run_dir.cache_clear()  # a new process would name a new directory
        capsys.readouterr()
        with pytest.raises(SystemExit) as stopped:
            cli.main(args)
        return stopped.value.code, capsys.readouterr().err

    yield run
    signal.signal(signal.SIGTERM, sigterm)
