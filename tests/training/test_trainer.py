"""The Trainer against a hand-written torch loop: same seed, init, optimizer, shuffles and batches.

    python -m pytest tests/training/test_trainer.py -q

The reference loop below uses ``torch.nn.functional`` and plain tensor arithmetic, never mltrain's losses
or metrics, so agreement means the Trainer does what a user would write by hand: weights equal bit for
bit, the history's numbers equal to float precision.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mltrain.components.losses import LOSSES
from mltrain.components.metrics import MetricSet
from mltrain.training.callbacks.base import Callback
from mltrain.training.trainer import Split, Trainer

N_TRAIN, N_VAL, N_FEATURES, N_CLASSES = 50, 20, 5, 3
BATCH = 16  # 50 rows: batches of 16, 16, 16 and a last, smaller one of 2
EVAL_BATCH = 8  # 20 validation rows: forward passes of 8, 8 and 4
SHUFFLE_SEED = 7  # the generator the Trainer draws each epoch's permutation from
CLOSE = {"rel": 1e-6, "abs": 1e-7}  # float32 losses summed in another order than the hand loop's


@dataclass(frozen=True)
class Task:
    """One kind of problem: the mltrain loss name and metric, and their hand-written references."""

    loss: str
    metric: str
    out_features: int
    n_classes: int
    reference_loss: Callable[[Tensor, Tensor], Tensor]
    metric_sum: Callable[[Tensor, Tensor], float]  # summed over rows, so batches add up


def _correct_classes(out: Tensor, y: Tensor) -> float:
    return float((out.argmax(1) == y).sum())


def _correct_binary(out: Tensor, y: Tensor) -> float:
    return float(((out.squeeze(1) > 0).float() == y).sum())


def _absolute_errors(out: Tensor, y: Tensor) -> float:
    return float((out.double() - y.double()).abs().sum())


TASKS = {
    "multiclass": Task("sparse_categorical_crossentropy", "accuracy", N_CLASSES, N_CLASSES,
                       F.cross_entropy, _correct_classes),
    "binary": Task("binary_crossentropy", "accuracy", 1, 2,
                   lambda out, y: F.binary_cross_entropy_with_logits(out.squeeze(1), y), _correct_binary),
    "regression": Task("mean_squared_error", "mae", 1, 0, F.mse_loss, _absolute_errors),
}  # fmt: skip


def make_split(task: Task, n: int, seed: int) -> Split:
    """Learnable rows: targets depend on the first two features."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, N_FEATURES, generator=gen)
    signal = x[:, 0] - 0.5 * x[:, 1]
    if task.n_classes > 2:
        y = torch.bucketize(signal, torch.tensor([-0.5, 0.5]))
    elif task.n_classes == 2:
        y = (signal > 0).float()
    else:
        y = (signal + 0.1 * torch.randn(n, generator=gen)).reshape(n, 1)
    return Split(x, y)


def make_models(task: Task) -> tuple[nn.Module, nn.Module]:
    """Two separate MLPs with identical weights: one for the Trainer, one for the hand loop."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(N_FEATURES, 8), nn.ReLU(), nn.Linear(8, task.out_features))
    twin = nn.Sequential(nn.Linear(N_FEATURES, 8), nn.ReLU(), nn.Linear(8, task.out_features))
    twin.load_state_dict(model.state_dict())
    return model, twin


OPTIMIZERS = {
    "adam": lambda params: torch.optim.Adam(params, lr=1e-2),
    "sgd_momentum": lambda params: torch.optim.SGD(params, lr=5e-2, momentum=0.9),
}


def make_trainer(task: Task, model: nn.Module, optimizer_name: str = "adam", **kwargs: object) -> Trainer:
    loss = LOSSES.get(task.loss)()
    settings = {"epochs": 3, "batch_size": BATCH, "eval_batch_size": EVAL_BATCH,
                "generator": torch.Generator().manual_seed(SHUFFLE_SEED)} | kwargs  # fmt: skip
    metrics = MetricSet({task.metric: {}}, loss, task.n_classes)
    return Trainer(model, OPTIMIZERS[optimizer_name](model.parameters()), loss, metrics, **settings)


def hand_fit(
    task: Task,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    train: Split,
    val: Split | None,
    epochs: int,
    batch_size: int = BATCH,
    limit_train_batches: int | None = None,
    val_rows: int | None = None,
) -> list[dict[str, float]]:
    """The loop a user would write; returns per-epoch sample-weighted means like the Trainer's history."""
    gen = torch.Generator().manual_seed(SHUFFLE_SEED)
    rows = []
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(train.x), generator=gen)
        starts = list(range(0, len(train.x), batch_size))[:limit_train_batches]
        loss_sum = metric_sum = 0.0
        seen = 0
        for start in starts:
            idx = order[start : start + batch_size]
            out = model(train.x[idx])
            loss = task.reference_loss(out, train.y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(idx)
            metric_sum += task.metric_sum(out.detach(), train.y[idx])
            seen += len(idx)
        row = {"epoch": epoch, "loss": loss_sum / seen, task.metric: metric_sum / seen}
        if val is not None:
            model.eval()
            with torch.no_grad():
                x, y = val.x[:val_rows], val.y[:val_rows]
                out = model(x)
            row["val_loss"] = task.reference_loss(out, y).item()
            row[f"val_{task.metric}"] = task.metric_sum(out, y) / len(y)
        rows.append(row)
    return rows


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), f"{name} differs"


def assert_matches_hand(history: list[dict[str, float]], hand: list[dict[str, float]]) -> None:
    assert len(history) == len(hand)
    for row, expected in zip(history, hand, strict=True):
        assert list(row) == [*expected, "lr", "time_s"]  # Keras' column order
        assert {k: row[k] for k in expected} == pytest.approx(expected, **CLOSE)


@pytest.mark.parametrize("optimizer_name", list(OPTIMIZERS))
@pytest.mark.parametrize("task_name", list(TASKS))
def test_trainer_matches_hand_written_loop(task_name: str, optimizer_name: str) -> None:
    task = TASKS[task_name]
    train, val = make_split(task, N_TRAIN, seed=1), make_split(task, N_VAL, seed=2)
    model, twin = make_models(task)
    initial = copy.deepcopy(model.state_dict())

    history = make_trainer(task, model, optimizer_name, epochs=3).fit(train, val)
    hand = hand_fit(task, twin, OPTIMIZERS[optimizer_name](twin.parameters()), train, val, epochs=3)

    assert not torch.equal(model[0].weight, initial["0.weight"]), "training changed nothing"
    assert_same_weights(model, twin)
    assert_matches_hand(history, hand)


@pytest.mark.parametrize("batch_size", [16, 25, 64])  # last batch of 2; 2 equal batches; one batch of 50
def test_batch_sizes_that_do_and_do_not_divide_the_rows(batch_size: int) -> None:
    task = TASKS["multiclass"]
    train, val = make_split(task, N_TRAIN, seed=1), make_split(task, N_VAL, seed=2)
    model, twin = make_models(task)

    trainer = make_trainer(task, model, "sgd_momentum", batch_size=batch_size)
    history = trainer.fit(train, val)
    hand = hand_fit(task, twin, OPTIMIZERS["sgd_momentum"](twin.parameters()), train, val, 3, batch_size)

    assert trainer.steps_per_epoch == math.ceil(N_TRAIN / batch_size)
    assert_same_weights(model, twin)
    assert_matches_hand(history, hand)


@pytest.mark.parametrize("limit", [2, 100])  # 100: more than the 4 batches there are, so no limit
def test_limit_train_and_val_batches(limit: int) -> None:
    task = TASKS["multiclass"]
    train, val = make_split(task, N_TRAIN, seed=1), make_split(task, N_VAL, seed=2)
    model, twin = make_models(task)

    trainer = make_trainer(task, model, limit_train_batches=limit, limit_val_batches=limit)
    history = trainer.fit(train, val)
    val_rows = min(N_VAL, limit * EVAL_BATCH)
    optimizer = OPTIMIZERS["adam"](twin.parameters())
    hand = hand_fit(task, twin, optimizer, train, val, 3, limit_train_batches=limit, val_rows=val_rows)

    assert trainer.steps_per_epoch == min(limit, math.ceil(N_TRAIN / BATCH))
    assert_same_weights(model, twin)
    assert_matches_hand(history, hand)


def test_without_validation_rows_there_are_no_val_columns() -> None:
    task = TASKS["binary"]
    train = make_split(task, N_TRAIN, seed=1)
    model, twin = make_models(task)

    history = make_trainer(task, model).fit(train)
    empty_val = make_trainer(task, make_models(task)[0]).fit(train, Split(train.x[:0], train.y[:0]))
    hand = hand_fit(task, twin, OPTIMIZERS["adam"](twin.parameters()), train, None, epochs=3)

    assert list(history[0]) == ["epoch", "loss", "accuracy", "lr", "time_s"]
    assert [list(r) for r in empty_val] == [list(r) for r in history]
    assert_same_weights(model, twin)
    assert_matches_hand(history, hand)


def test_history_lr_and_time() -> None:
    task = TASKS["regression"]
    trainer = make_trainer(task, make_models(task)[0], "sgd_momentum")
    history = trainer.fit(make_split(task, N_TRAIN, seed=1), make_split(task, N_VAL, seed=2))

    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert all(r["lr"] == 5e-2 for r in history)
    assert all(r["time_s"] > 0 for r in history)
    assert all(type(v) in (int, float) for r in history for v in r.values())  # plain Python numbers
    assert trainer.status == "completed" and trainer.message == ""


def _strip_time(history: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in row.items() if k != "time_s"} for row in history]


def test_same_seed_gives_identical_histories() -> None:
    task = TASKS["multiclass"]
    train, val = make_split(task, N_TRAIN, seed=1), make_split(task, N_VAL, seed=2)
    runs = []
    for _ in range(2):
        model = make_models(task)[0]
        runs.append((make_trainer(task, model).fit(train, val), model))
    other_shuffle = make_trainer(task, make_models(task)[0], generator=torch.Generator().manual_seed(8))

    assert _strip_time(runs[0][0]) == _strip_time(runs[1][0])
    assert_same_weights(runs[0][1], runs[1][1])
    assert _strip_time(other_shuffle.fit(train, val)) != _strip_time(runs[0][0])


class PoisonAfterEpoch(Callback):
    """Puts a NaN into one training row at the end of ``epoch``, so the next epoch diverges."""

    def __init__(self, data: Split, epoch: int, row: int) -> None:
        self.data, self.epoch, self.row = data, epoch, row

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: dict[str, float]) -> None:
        if epoch == self.epoch:
            self.data.x[self.row, 0] = float("nan")


def test_nan_loss_stops_with_status_diverged_naming_epoch_and_batch() -> None:
    task = TASKS["multiclass"]
    train, val = make_split(task, N_TRAIN, seed=1), make_split(task, N_VAL, seed=2)
    recorder = Recorder()
    poisoned_row = 11
    poison = PoisonAfterEpoch(train, epoch=1, row=poisoned_row)
    trainer = make_trainer(task, make_models(task)[0], epochs=5, callbacks=[poison, recorder])

    history = trainer.fit(train, val)

    gen = torch.Generator().manual_seed(SHUFFLE_SEED)
    _, second_epoch_order = torch.randperm(N_TRAIN, generator=gen), torch.randperm(N_TRAIN, generator=gen)
    position = int((second_epoch_order == poisoned_row).nonzero())
    assert trainer.status == "diverged"
    assert trainer.message == f"loss became nan at epoch 2, batch {position // BATCH + 1}"
    assert len(history) == 2  # the good epoch and the one that diverged; no epoch after it
    assert math.isfinite(history[0]["loss"]) and math.isnan(history[1]["loss"])
    assert recorder.calls[-3:] == [("on_epoch_begin", 2), ("on_epoch_end", 2), ("on_fit_end",)]


def test_huge_learning_rate_diverges_in_the_first_epoch() -> None:
    task = TASKS["regression"]
    model = make_models(task)[0]
    loss = LOSSES.get(task.loss)()
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=1e12), loss, MetricSet({}, loss),
                      epochs=5, batch_size=4, generator=torch.Generator().manual_seed(0))  # fmt: skip

    history = trainer.fit(make_split(task, N_TRAIN, seed=1))

    assert trainer.status == "diverged"
    assert trainer.message.startswith("loss became ") and " at epoch 1, batch " in trainer.message
    bad_batch = int(trainer.message.rsplit(" ", 1)[1])
    assert 2 <= bad_batch <= math.ceil(N_TRAIN / 4)  # batch 1 is computed before any step
    assert len(history) == 1 and not math.isfinite(history[0]["loss"])


def test_large_but_finite_batch_losses_do_not_count_as_divergence() -> None:
    """Batch losses of 1.6e37 are finite; their mean must be too (float32 overflows at 3.4e38)."""
    model = nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.fill_(4e18)  # every output 4e18, every squared error 1.6e37
    loss = LOSSES.get("mean_squared_error")()
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.0), loss, MetricSet({}, loss),
                      epochs=2, batch_size=16)  # fmt: skip

    history = trainer.fit(Split(torch.zeros(32, 2), torch.zeros(32, 1)))

    assert (trainer.status, trainer.message) == ("completed", "")
    assert [r["loss"] for r in history] == pytest.approx([1.6e37, 1.6e37], rel=1e-6)


class Recorder(Callback):
    """Records every hook call except the per-batch one."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def on_fit_begin(self, trainer: Trainer) -> None:
        self.calls.append(("on_fit_begin",))

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        self.calls.append(("on_epoch_begin", epoch))

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: dict[str, float]) -> None:
        assert row is trainer.history[-1]
        self.calls.append(("on_epoch_end", epoch))

    def on_fit_end(self, trainer: Trainer) -> None:
        self.calls.append(("on_fit_end",))


class BatchRecorder(Recorder):
    def on_train_batch_end(self, trainer: Trainer, batch: int) -> None:
        self.calls.append(("on_train_batch_end", batch))


def test_callback_hooks_are_called_in_order() -> None:
    task = TASKS["multiclass"]
    plain, batches = Recorder(), BatchRecorder()
    trainer = make_trainer(task, make_models(task)[0], epochs=2, limit_train_batches=3,
                           callbacks=[plain, batches])  # fmt: skip

    trainer.fit(make_split(task, N_TRAIN, seed=1), make_split(task, N_VAL, seed=2))

    epoch = [("on_epoch_begin",), *[("on_train_batch_end", b) for b in range(3)], ("on_epoch_end",)]
    expected = [("on_fit_begin",)]
    for e in (1, 2):
        expected += [c + (e,) if c[0].startswith("on_epoch") else c for c in epoch]
    expected.append(("on_fit_end",))
    assert batches.calls == expected
    assert plain.calls == [c for c in expected if c[0] != "on_train_batch_end"]


def test_batch_hook_is_only_called_when_overridden(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(Callback, "on_train_batch_end", lambda self, trainer, batch: calls.append(batch))
    task = TASKS["multiclass"]
    trainer = make_trainer(task, make_models(task)[0], epochs=1, callbacks=[Recorder()])

    trainer.fit(make_split(task, N_TRAIN, seed=1))

    assert calls == []


class StopAt(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: dict[str, float]) -> None:
        trainer.stop_training = epoch >= self.epoch


def test_callback_can_stop_training() -> None:
    task = TASKS["multiclass"]
    recorder = Recorder()
    trainer = make_trainer(task, make_models(task)[0], epochs=10, callbacks=[StopAt(2), recorder])

    history = trainer.fit(make_split(task, N_TRAIN, seed=1))

    assert [r["epoch"] for r in history] == [1, 2]
    assert recorder.calls[-1] == ("on_fit_end",)


class InterruptAt(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_interrupt_keeps_finished_epochs_and_reraises() -> None:
    task = TASKS["multiclass"]
    recorder = Recorder()
    trainer = make_trainer(task, make_models(task)[0], epochs=5, callbacks=[InterruptAt(3), recorder])

    with pytest.raises(KeyboardInterrupt):
        trainer.fit(make_split(task, N_TRAIN, seed=1))

    assert trainer.status == "interrupted"
    assert "epoch 3" in trainer.message
    assert [r["epoch"] for r in trainer.history] == [1, 2]
    assert recorder.calls[-1] == ("on_fit_end",)


def test_evaluate_and_predict_match_a_forward_pass() -> None:
    task = TASKS["multiclass"]
    val = make_split(task, N_VAL, seed=2)
    model, twin = make_models(task)
    trainer = make_trainer(task, model)

    scores = trainer.evaluate(val)
    predictions = trainer.predict(val.x)

    with torch.no_grad():
        out = twin(val.x)
    torch.testing.assert_close(predictions, out)
    assert float(scores["loss"]) == pytest.approx(F.cross_entropy(out, val.y).item(), **CLOSE)
    assert float(scores["accuracy"]) == pytest.approx(_correct_classes(out, val.y) / N_VAL, **CLOSE)


def test_a_non_finite_val_loss_also_counts_as_divergence() -> None:
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    model = nn.Linear(4, 3)
    loss = LOSSES.get("ce")()
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.0), loss, MetricSet({}, loss, 3),
                      epochs=3, batch_size=8)  # fmt: skip
    x_val = torch.full((4, 4), float("inf"))  # finite training rows, overflowing validation rows
    trainer.fit(Split(x, y), Split(x_val, y[:4]))
    assert trainer.status == "diverged" and len(trainer.history) == 1
    assert trainer.message.startswith("val_loss became nan at epoch 1")
