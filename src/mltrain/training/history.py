"""The epoch history on disk: ``history.csv`` and Keras-shaped ``history.json``, rewritten atomically.

Each file is written to a temporary file in the same directory and renamed over the old one, so a reader,
or a run killed at any moment, only ever sees a complete file.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from mltrain.training.callbacks import Callback
from mltrain.training.trainer import Trainer


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path``; rename it over ``path`` when the block ends without error.

    On an error (or Ctrl-C) the temporary file is removed and ``path``, if it existed, is left as it was.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes the file private; run files are ordinary files
        text = {"encoding": "utf-8", "newline": ""} if "b" not in mode else {}
        with os.fdopen(fd, mode, **text) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (atomic on POSIX)."""
    with atomic_file(path) as f:
        f.write(text)


def atomic_write_json(path: Path, data: Any) -> None:
    """``atomic_write_text`` of indented JSON (NaN and Infinity written as null)."""
    atomic_write_text(path, json.dumps(_finite(data), indent=2) + "\n")


def history_csv(rows: list[dict[str, float]]) -> str:
    """The rows as CSV text, columns in the order of the first row."""
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()


def history_dict(rows: list[dict[str, float]], params: dict[str, Any]) -> dict[str, Any]:
    """Keras' ``History`` shape: ``{"epoch": [...], "history": {"loss": [...], ...}, "params": {...}}``."""
    keys = [k for k in (rows[0] if rows else {}) if k != "epoch"]
    return {
        "epoch": [int(r["epoch"]) for r in rows],
        "history": {k: [r[k] for r in rows] for k in keys},
        "params": params,
    }


class HistoryWriter(Callback):
    """Rewrites ``history.csv`` and ``history.json`` in ``out_dir`` after every epoch.

    ``prefix`` columns come first in ``history.csv`` (``{"fold": 2}`` in a k-fold run).
    """

    def __init__(self, out_dir: Path, params: dict[str, Any], prefix: dict[str, Any] | None = None) -> None:
        self.out_dir, self.params, self.prefix = Path(out_dir), params, prefix or {}

    def on_fit_begin(self, trainer: Trainer) -> None:
        self.params = {**self.params, "steps": trainer.steps_per_epoch}  # Keras' params have it too

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: dict[str, float]) -> None:
        rows = [self.prefix | r for r in trainer.history]
        atomic_write_text(self.out_dir / "history.csv", history_csv(rows))
        atomic_write_json(self.out_dir / "history.json", history_dict(trainer.history, self.params))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
