"""Checkpoints: ``checkpoints/last.pt`` after every epoch and ``checkpoints/best.pt`` at the best one.

A checkpoint holds what a run needs to continue exactly where it stopped: model, optimizer and scheduler
state, the epoch, early-stopping state, the history so far and every random state (Python, NumPy, torch
and the trainer's shuffle generator). It holds only tensors and plain Python values, so it loads with
``torch.load(path, weights_only=True)``, which never runs code from the file:

    state = load_checkpoint(Path("runs/fit/<run>/checkpoints/last.pt"))
    model.load_state_dict(state["model"])
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mltrain.errors import DataError
from mltrain.files import atomic_file
from mltrain.training.early_stopping import EarlyStopping
from mltrain.training.trainer import Trainer


def rng_state(generator: torch.Generator) -> dict[str, Any]:
    """Every random source as tensors and lists of ints."""
    version, mt, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": [version, list(mt), gauss],
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
        "shuffle": generator.get_state(),
    }


def set_rng_state(state: dict[str, Any], generator: torch.Generator) -> None:
    """Put back what :func:`rng_state` saved."""
    version, mt, gauss = state["python"]
    random.setstate((version, tuple(mt), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    generator.set_state(state["shuffle"])


def trainer_state(trainer: Trainer, early_stopping: EarlyStopping | None) -> dict[str, Any]:
    """What :func:`restore` needs to continue ``trainer`` after its last finished epoch."""
    return {
        "epoch": len(trainer.history),
        "model": trainer.model.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict() if trainer.scheduler is not None else None,
        "early_stopping": early_stopping.state_dict() if early_stopping is not None else None,
        "history": [dict(row) for row in trainer.history],
        "rng": rng_state(trainer.generator),
    }


def restore(trainer: Trainer, early_stopping: EarlyStopping | None, state: dict[str, Any]) -> None:
    """Load a checkpoint into a freshly built trainer (same config) so ``fit`` continues the run."""
    trainer.model.load_state_dict(state["model"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    if trainer.scheduler is not None and state["scheduler"] is not None:
        trainer.scheduler.load_state_dict(state["scheduler"])
    if early_stopping is not None and state["early_stopping"] is not None:
        early_stopping.load_state_dict(state["early_stopping"])
    trainer.history = [dict(row) for row in state["history"]]
    set_rng_state(state["rng"], trainer.generator)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """``torch.save`` to a temporary file in the same directory, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "wb") as f:
        try:
            torch.save(state, f)
        except RuntimeError as e:  # torch reports a full disk as its zip writer's failure
            if isinstance(e.__context__, OSError):
                raise e.__context__ from e
            raise


def load_checkpoint(path: Path) -> dict[str, Any]:
    """``torch.load(weights_only=True)``: a file holding anything but tensors and plain values is refused.

    Raises:
        DataError: the file is missing, not a checkpoint, or would run code when unpickled.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as e:
        raise DataError(f"no checkpoint at {path}") from e
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as e:
        # torch's own message goes on to suggest weights_only=False, the one thing not to do: leave it out
        raise DataError(
            f"{path} is not a safe mltrain checkpoint: torch.load(weights_only=True) refused it "
            f"({type(e).__name__}; it may hold objects that run code when unpickled); nothing was loaded"
        ) from e
