"""trainer.precision, trainer.accumulate_grad_batches, loss.class_weight, the model summary and the range
test, each against a reference computed another way (a larger batch, scikit-learn, a closed form)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from sklearn.utils.class_weight import compute_class_weight
from torch import nn

from mltrain.commands.single_run import config_differences
from mltrain.components.losses import LOSSES, resolve_class_weights
from mltrain.components.metrics import MetricSet
from mltrain.errors import ConfigError
from mltrain.rundir import RunDir
from mltrain.training.callbacks.early_stopping import EarlyStopping
from mltrain.training.callbacks.writers import CheckpointWriter
from mltrain.training.lr_finder import range_test, rates
from mltrain.training.model_summary import model_summary
from mltrain.training.trainer import Split, Trainer

CE = LOSSES.get("sparse_categorical_crossentropy")()


def _data(n: int = 100, seed: int = 0) -> Split:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    return Split(x, (x[:, 0] + 0.5 * x[:, 1] > 0).long() + (x[:, 2] > 1).long())


def _fit(batch_size: int, accumulate: int, optimizer: str = "sgd", epochs: int = 2, **kwargs) -> Trainer:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
    opt = (torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9) if optimizer == "sgd"
           else torch.optim.Adam(model.parameters(), lr=1e-2))  # fmt: skip
    trainer = Trainer(model, opt, CE, MetricSet({}, CE, 3), epochs=epochs, batch_size=batch_size,
                      generator=torch.Generator().manual_seed(1), accumulate_grad_batches=accumulate,
                      **kwargs)  # fmt: skip
    trainer.fit(_data())
    return trainer


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_accumulation_equals_one_batch_n_times_larger(optimizer: str) -> None:
    """Batches of 8 accumulated 4 at a time take the steps of batches of 32 with a mean loss: 100 rows
    make windows of 32, 32, 32 and a last partial one of 4 rows (one batch of 4, not four batches)."""
    small, large = _fit(8, 4, optimizer), _fit(32, 1, optimizer)
    assert small.steps_per_epoch == large.steps_per_epoch == 4
    assert small.batches_per_epoch == 13
    for a, b in zip(small.model.parameters(), large.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    assert [r["loss"] for r in small.history] == pytest.approx([r["loss"] for r in large.history], abs=1e-6)


def test_limit_train_batches_counts_optimizer_steps() -> None:
    small, large = _fit(8, 4, limit_train_batches=2), _fit(32, 1, limit_train_batches=2)
    assert small.steps_per_epoch == 2 and small.batches_per_epoch == 8
    for a, b in zip(small.model.parameters(), large.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_accumulation_with_a_window_cut_short_by_the_rows() -> None:
    """10 batches of 10 rows, 3 per step: windows of 30, 30, 30 and 10 rows; the big batch is 30 rows."""
    small, large = _fit(10, 3), _fit(30, 1)
    for a, b in zip(small.model.parameters(), large.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_top_k_keeps_the_k_best_epochs_and_prunes_what_a_kill_left(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    tracker = EarlyStopping("loss", "max", None)  # max: the worst epochs by loss, so not simply the last
    trainer = _fit(16, 1, epochs=5, callbacks=[tracker, CheckpointWriter(run, tracker, save_top_k=2)])
    best = sorted(trainer.history, key=lambda r: (-r["loss"], r["epoch"]))[:2]
    expected = [run.top_k_checkpoint(int(r["epoch"]), "loss", r["loss"]) for r in best]
    assert run.top_k_checkpoints() == sorted(expected)
    state = torch.load(expected[0], weights_only=True)
    assert state["epoch"] == best[0]["epoch"]
    stale = run.top_k_checkpoint(6, "loss", 9.0)  # written by a process killed before last.pt said epoch 6
    stale.write_bytes(b"")
    writer = CheckpointWriter(run, tracker, save_top_k=2)
    writer.on_fit_begin(trainer)  # a resume from last.pt (epoch 5)
    assert run.top_k_checkpoints() == sorted(expected)
    CheckpointWriter(run, tracker, save_top_k=1).on_fit_begin(trainer)
    assert run.top_k_checkpoints() == [expected[0]]


def test_bf16_keeps_float32_parameters_and_optimizer_state() -> None:
    full, half = _fit(16, 1, "adam", epochs=3), _fit(16, 1, "adam", epochs=3, precision="bf16")
    assert all(p.dtype == torch.float32 for p in half.model.parameters())
    state = half.optimizer.state_dict()["state"]
    assert all(t.dtype == torch.float32 for s in state.values() for t in s.values() if t.dim() > 0)
    assert half.history[-1]["loss"] == pytest.approx(full.history[-1]["loss"], rel=0.05)
    assert half.history[-1]["loss"] != full.history[-1]["loss"]  # bf16 did run: rounding differs
    assert half.scaler is None


def test_16_mixed_is_refused_on_the_cpu() -> None:
    with pytest.raises(ValueError, match="16-mixed needs a CUDA device"):
        _fit(16, 1, precision="16-mixed")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="16-mixed needs CUDA")
def test_16_mixed_on_cuda_scales_and_keeps_float32() -> None:  # pragma: no cover - GPU machines only
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3)).cuda()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    data = _data()
    trainer = Trainer(model, opt, CE, MetricSet({}, CE, 3), epochs=2, batch_size=16, precision="16-mixed")
    trainer.fit(Split(data.x.cuda(), data.y.cuda()))
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert trainer.scaler is not None and trainer.scaler.get_scale() > 0
    assert trainer.history[-1]["loss"] < trainer.history[0]["loss"]


def test_balanced_class_weights_are_scikit_learns() -> None:
    codes = np.array([0] * 50 + [1] * 7 + [2] * 13)
    loss = LOSSES.get("sparse_categorical_crossentropy")(class_weight="balanced")
    ours = resolve_class_weights(loss, codes, ["a", "b", "c"])
    theirs = compute_class_weight("balanced", classes=np.arange(3), y=codes)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_class_weights_by_list_and_by_name() -> None:
    codes = np.array([0, 1, 2])
    named = LOSSES.get("categorical_crossentropy")(class_weight={"b": 3.0})
    assert resolve_class_weights(named, codes, ["a", "b", "c"]) == (1.0, 3.0, 1.0)
    listed = LOSSES.get("bce")(class_weight=[1, 4])
    assert resolve_class_weights(listed, codes[:2], ["no", "yes"]) == (1.0, 4.0)
    with pytest.raises(ConfigError, match="has 2 weights but the data has 3 classes"):
        resolve_class_weights(listed, codes, ["a", "b", "c"])
    with pytest.raises(ConfigError, match="names class z, which the data does not have"):
        resolve_class_weights(LOSSES.get("ce")(class_weight={"z": 2}), codes, ["a", "b", "c"])


def test_weighted_losses_against_a_hand_written_weighted_mean() -> None:
    g = torch.Generator().manual_seed(0)
    out, y, w = torch.randn(20, 3, generator=g), torch.randint(0, 3, (20,), generator=g), (1.0, 2.5, 0.5)
    by_hand = (torch.tensor(w)[y] * F.cross_entropy(out, y, reduction="none")).mean()
    for name in ("sparse_categorical_crossentropy", "categorical_crossentropy"):
        loss = LOSSES.get(name)(class_weight=list(w)).weighted(w)
        torch.testing.assert_close(loss(out, y), by_hand)
    logit, target = torch.randn(20, 1, generator=g), (y > 0).float()
    bce = LOSSES.get("bce")(class_weight="balanced").weighted((2.0, 0.5))
    expected = F.binary_cross_entropy_with_logits(logit.squeeze(1), target, pos_weight=torch.tensor(0.25))
    torch.testing.assert_close(bce(logit, target), expected)


def test_model_summary_counts_and_shapes() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))
    model[0].bias.requires_grad_(False)
    sample = torch.randn(2, 4)
    before = torch.get_rng_state()
    summary = model_summary(model, sample)
    assert torch.equal(before, torch.get_rng_state())  # dropout in eval mode draws nothing
    assert [layer["output_shape"] for layer in summary["layers"]] == [[-1, 8]] * 4 + [[-1, 3]]
    assert [layer["parameters"] for layer in summary["layers"]] == [40, 16, 0, 0, 27]
    assert summary["total_parameters"] == 83 and summary["trainable_parameters"] == 75
    assert summary["size_bytes"] == (83 + 8 + 8) * 4 + 8  # float32 weights, running stats, int64 counter
    assert model.training and model[1].num_batches_tracked.item() == 0


def _regression(seed: int) -> tuple[Split, float]:
    """Linear regression rows and the largest step size plain full-batch gradient descent survives on the
    mean squared error: 2 / the largest eigenvalue of its Hessian, 2/n [X 1]^T [X 1]."""
    g = torch.Generator().manual_seed(seed)
    n = 512
    x = torch.randn(n, 8, generator=g) * torch.tensor([3.0, 1, 1, 0.5, 0.5, 0.3, 0.2, 0.1])
    y = x @ torch.randn(8, 1, generator=g) + 0.1 * torch.randn(n, 1, generator=g)
    design = torch.cat([x, torch.ones(n, 1)], 1).double()
    return Split(x, y), 2 / torch.linalg.eigvalsh(2 / n * design.T @ design).max().item()


@pytest.mark.parametrize("seed", range(4))
def test_range_test_suggests_a_rate_inside_the_stable_range(seed: int) -> None:
    """Full-batch SGD on least squares diverges above 2/lambda_max: the suggestion lies below it, within two
    decades, and the sweep stops once the loss blows up past it."""
    data, limit = _regression(seed)
    torch.manual_seed(seed)
    model = nn.Linear(8, 1)
    curve = range_test(model, torch.optim.SGD(model.parameters(), lr=1.0), LOSSES.get("mse")(), data,
                       len(data), 100, 1e-4, 10.0, torch.Generator().manual_seed(0))  # fmt: skip
    assert curve.suggestion is not None and limit / 100 < curve.suggestion < limit
    assert curve.stopped_early and limit < curve.lrs[-1] < 10.0


def test_rates_are_log_spaced() -> None:
    np.testing.assert_allclose(rates(1e-3, 10.0, 5), [1e-3, 1e-2, 1e-1, 1.0, 10.0], rtol=1e-12)


def test_a_run_saved_before_the_new_keys_resumes() -> None:
    """Its config.yaml has no trainer.precision, accumulate_grad_batches, save_top_k or class_weight: their
    defaults behave as it did, so resume= is not refused for them; a value other than the default is."""
    trainer = {"epochs": 3, "precision": "32", "accumulate_grad_batches": 1}
    loss = {"name": "ce", "class_weight": None}
    now = OmegaConf.create({"trainer": trainer, "checkpoint": {"save_top_k": 0}, "loss": loss})
    saved = OmegaConf.create({"trainer": {"epochs": 2}, "loss": {"name": "ce"}})
    assert config_differences(saved, now) == []
    now.trainer.precision = "bf16"
    assert config_differences(saved, now) == ["trainer.precision"]
