"""The epoch history as files: ``history.csv`` text and the Keras-shaped ``history.json`` content.

``training/callbacks/writers.py``'s ``HistoryWriter`` rewrites both atomically (``mltrain.files``) after
every epoch.
"""

from __future__ import annotations

import csv
import io
from typing import Any


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
