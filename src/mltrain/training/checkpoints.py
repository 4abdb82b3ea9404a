"""Checkpoints: ``checkpoints/last.pt`` after every epoch and ``checkpoints/best.pt`` at the best one.

A checkpoint holds what a run needs to continue exactly where it stopped: model, optimizer and scheduler
state, the epoch, early-stopping state, the history so far and every random state (Python, NumPy, torch
and the trainer's shuffle generator). It holds only tensors and plain Python values, so it loads with
``torch.load(path, weights_only=True)``, which never runs code from the file:

    state = load_checkpoint(Path("runs/fit/<run>/checkpoints/last.pt"))
    model.load_state_dict(state["model"])
"""

from __future__ import annotations

import random
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mltrain.errors import DataError
from mltrain.files import atomic_file, make_subdir
from mltrain.training.callbacks.early_stopping import EarlyStopping
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
        "scaler": trainer.scaler.state_dict() if trainer.scaler is not None else None,  # 16-mixed's scale
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
    if trainer.scaler is not None and state.get("scaler"):  # absent from checkpoints of older runs
        trainer.scaler.load_state_dict(state["scaler"])
    if early_stopping is not None and state["early_stopping"] is not None:
        early_stopping.load_state_dict(state["early_stopping"])
    trainer.history = [dict(row) for row in state["history"]]
    set_rng_state(state["rng"], trainer.generator)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """``torch.save`` to a temporary file in the same directory, then rename it over ``path``.

    Its folder (``checkpoints/``) is made inside an existing run directory, never the run directory
    itself: a run whose directory was deleted fails at its next write instead of making a new one.
    """
    path = Path(path)
    make_subdir(path.parent)
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
        DataError: naming the file: missing, unreadable, empty, damaged, or holding objects that would run
            code when unpickled (the only case the message calls unsafe).
    """
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the refusal below says it all
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as e:
        raise DataError(f"no checkpoint at {path}") from e
    except OSError as e:  # a read error, not a write error: cli.py would report it as "cannot write"
        raise DataError(f"cannot read {path}: {e.strerror or e}") from e
    except Exception as e:  # noqa: BLE001 - a damaged file fails in many ways (zip, unpickler, EOF, index)
        raise DataError(refusal(Path(path), e)) from e


def refusal(path: Path, error: Exception) -> str:
    """Why ``torch.load`` refused ``path``, in words that tell a damaged file from an unsafe one."""
    # torch's own message goes on to suggest weights_only=False, the one thing not to do: leave it out
    unsafe = re.search(r"GLOBAL (\S+)|Unsupported global: (\S+)", str(error))
    if unsafe:
        name = unsafe.group(1) or unsafe.group(2)
        return (
            f"{path} is not a safe mltrain checkpoint: it holds a Python object ({name}) that would run code "
            "when unpickled, so torch.load(weights_only=True) refused it; nothing was loaded"
        )
    size = path.stat().st_size if path.is_file() else 0
    what = "is empty" if size == 0 else f"is damaged or not a file torch wrote ({size:,} bytes; truncated?)"
    return f"{path} {what}: {type(error).__name__} while reading it; nothing was loaded"
