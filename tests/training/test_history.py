"""``history.csv`` / ``history.json`` and the atomic writes behind them.

python -m pytest tests/training/test_history.py -q
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

import pytest
import torch
from torch import nn

from mltrain.components.losses import LOSSES
from mltrain.components.metrics import MetricSet
from mltrain.files import atomic_write_json, atomic_write_text
from mltrain.training.callbacks.base import Callback
from mltrain.training.callbacks.writers import HistoryWriter
from mltrain.training.history import history_csv, history_dict
from mltrain.training.trainer import Split, Trainer

ROWS = [
    {"epoch": 1, "loss": 1.25, "accuracy": 0.5, "f1": 0.25, "val_loss": 1.5, "val_accuracy": 0.375,
     "val_f1": 0.125, "lr": 0.001, "time_s": 0.1},
    {"epoch": 2, "loss": 0.75, "accuracy": 0.625, "f1": 0.5, "val_loss": 1.0, "val_accuracy": 0.5,
     "val_f1": 0.375, "lr": 0.001, "time_s": 0.2},
]  # fmt: skip
KERAS_ORDER = ["epoch", "loss", "accuracy", "f1", "val_loss", "val_accuracy", "val_f1", "lr", "time_s"]


def strict_json(text: str) -> object:
    """``json.loads`` that refuses NaN and Infinity, which are not JSON."""
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} is not valid JSON"))


def test_atomic_write_replaces_content_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "history.csv"
    atomic_write_text(target, "old\n")
    atomic_write_text(target, "new\n")

    assert target.read_text(encoding="utf-8") == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["history.csv"]
    assert target.stat().st_mode & 0o777 == 0o644  # an ordinary file, not mkstemp's private 0600


def test_failed_rename_keeps_old_content_and_removes_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "history.csv"
    atomic_write_text(target, "epoch,loss\n1,0.5\n")

    def crash(src: str, dst: str) -> None:
        assert Path(src).read_text(encoding="utf-8") == "half written"  # the new text went to the temp file
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        atomic_write_text(target, "half written")

    assert target.read_text(encoding="utf-8") == "epoch,loss\n1,0.5\n"
    assert [p.name for p in tmp_path.iterdir()] == ["history.csv"]


def test_failed_write_keeps_old_content_and_removes_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "history.json"
    atomic_write_text(target, "{}\n")

    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(target, "ok so far \ud800")  # a lone surrogate fails inside f.write

    assert target.read_text(encoding="utf-8") == "{}\n"
    assert [p.name for p in tmp_path.iterdir()] == ["history.json"]


def test_history_csv_keeps_keras_column_order_and_exact_values() -> None:
    text = history_csv(ROWS)

    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == KERAS_ORDER
    parsed = list(reader)
    assert [{k: float(v) for k, v in row.items()} for row in parsed] == ROWS
    assert text.count("\n") == 3 and "\r" not in text
    assert history_csv([]) == ""


def test_history_dict_is_shaped_like_keras_history() -> None:
    params = {"epochs": 2, "batch_size": 64, "samples": 100}

    shaped = history_dict(ROWS, params)

    assert shaped == {
        "epoch": [1, 2],
        "history": {k: [r[k] for r in ROWS] for k in KERAS_ORDER[1:]},
        "params": params,
    }
    assert list(shaped["history"]) == KERAS_ORDER[1:]
    assert history_dict([], params) == {"epoch": [], "history": {}, "params": params}


def test_nan_and_infinity_are_written_as_null(tmp_path: Path) -> None:
    rows = [
        {"epoch": 1, "loss": 0.5, "val_loss": math.inf},
        {"epoch": 2, "loss": math.nan, "val_loss": -math.inf},
    ]

    atomic_write_json(tmp_path / "history.json", history_dict(rows, {"epochs": 2}))

    written = strict_json((tmp_path / "history.json").read_text(encoding="utf-8"))
    assert written["history"] == {"loss": [0.5, None], "val_loss": [None, None]}


class Snapshot(Callback):
    """Reads both history files right after each epoch (it runs after the HistoryWriter)."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.seen: list[tuple[list[dict[str, str]], dict]] = []

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: dict[str, float]) -> None:
        with open(self.out_dir / "history.csv", encoding="utf-8", newline="") as f:
            csv_rows = list(csv.DictReader(f))
        self.seen.append((csv_rows, strict_json((self.out_dir / "history.json").read_text(encoding="utf-8"))))


def _tiny_trainer(callbacks: list[Callback], epochs: int = 3) -> tuple[Trainer, Split, Split]:
    torch.manual_seed(0)
    x = torch.randn(30, 4)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    loss = LOSSES.get("sparse_categorical_crossentropy")()
    metrics = MetricSet({"accuracy": {}, "f1": {}}, loss, n_classes=3)
    trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=1e-2), loss, metrics,
                      epochs=epochs, batch_size=8, callbacks=callbacks)  # fmt: skip
    return trainer, Split(x[:20], y[:20]), Split(x[20:], y[20:])


def test_history_writer_rewrites_both_files_after_every_epoch(tmp_path: Path) -> None:
    params = {"epochs": 3, "batch_size": 8, "samples": 20}
    snapshot = Snapshot(tmp_path)
    trainer, train, val = _tiny_trainer([HistoryWriter(tmp_path, params), snapshot])

    history = trainer.fit(train, val)

    assert len(snapshot.seen) == 3
    for epoch, (csv_rows, json_data) in enumerate(snapshot.seen, start=1):
        assert [int(r["epoch"]) for r in csv_rows] == list(range(1, epoch + 1))
        assert list(csv_rows[0]) == KERAS_ORDER
        assert json_data["epoch"] == list(range(1, epoch + 1))
        assert json_data["params"] == params | {"steps": 3}  # 20 rows in batches of 8
    final_csv, final_json = snapshot.seen[-1]
    assert [{k: float(v) for k, v in r.items()} for r in final_csv] == history
    assert final_json["history"] == {k: [r[k] for r in history] for k in KERAS_ORDER[1:]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv", "history.json"]


def test_history_writer_keeps_the_diverged_epoch_as_null(tmp_path: Path) -> None:
    trainer, train, val = _tiny_trainer([HistoryWriter(tmp_path, {})], epochs=4)
    train.x[5, 0] = math.nan

    trainer.fit(train, val)

    written = strict_json((tmp_path / "history.json").read_text(encoding="utf-8"))
    assert trainer.status == "diverged"
    assert written["epoch"] == [1] and written["history"]["loss"] == [None]
    assert (tmp_path / "history.csv").read_text(encoding="utf-8").splitlines()[1].startswith("1,nan,")
