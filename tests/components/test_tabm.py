"""``model=tabm``: each member trained on its own loss, the mean prediction in eval mode, and piecewise-linear
bins that are the training rows' quantile bins under ``dataset.numeric=quantile``.

    python -m pytest tests/components/test_tabm.py -q
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from mltrain.components.ensembles import normal_bins
from mltrain.components.losses import LOSSES, mean_prediction
from mltrain.components.metrics import MetricSet
from mltrain.components.models import MODELS
from mltrain.data.datasets import Table
from mltrain.data.preprocessing import Preprocessor
from mltrain.training.trainer import Split, Trainer

pytest.importorskip("tabm")
rtdl = pytest.importorskip("rtdl_num_embeddings")

K = 4


def small(task: str, out: int, **options) -> torch.nn.Module:
    torch.manual_seed(0)
    kwargs = {"k": K, "d_block": 16, "n_bins": 6, "d_embedding": 4, "dropout": 0.0} | options
    return MODELS.get("tabm")(5, out, task=task, n_numeric=3, **kwargs)


@pytest.mark.parametrize(
    ("loss_name", "task", "out"),
    [("sparse_categorical_crossentropy", "multiclass", 3), ("bce", "binary", 1), ("mse", "regression", 1)],
)
def test_training_loss_is_the_mean_of_each_members_loss(loss_name: str, task: str, out: int) -> None:
    model, loss = small(task, out).train(), LOSSES.get(loss_name)()
    x = torch.randn(9, 5)
    y = loss.encode_targets(torch.randint(0, 3 if task == "multiclass" else 2, (9,)))
    members = model(x)
    assert members.shape == (9, K, out)
    if task == "multiclass":
        by_hand = [F.cross_entropy(members[:, j], y) for j in range(K)]
    elif task == "binary":
        by_hand = [F.binary_cross_entropy_with_logits(members[:, j, 0], y) for j in range(K)]
    else:
        by_hand = [F.mse_loss(members[:, j], y) for j in range(K)]
    assert loss(members, y).item() == pytest.approx(torch.stack(by_hand).mean().item(), rel=1e-6)


def test_eval_output_is_the_mean_of_the_members_probabilities() -> None:
    x = torch.randn(7, 5)
    for task, out in (("multiclass", 3), ("binary", 1), ("regression", 2)):
        model = small(task, out)
        members = model.train()(x).detach()  # no dropout: train and eval differ only in the output
        mean = model.eval()(x).detach()
        assert mean.shape == (7, out)
        if task == "multiclass":
            assert torch.allclose(mean.softmax(1), members.softmax(2).mean(1), atol=1e-6)
        elif task == "binary":
            assert torch.allclose(torch.sigmoid(mean), torch.sigmoid(members).mean(1), atol=1e-6)
        else:
            assert torch.allclose(mean, members.mean(1), atol=1e-6)
    confident = torch.tensor([[[80.0], [-80.0]]])  # members sure of opposite classes: p = 0.5, no overflow
    assert mean_prediction(confident, "binary").item() == pytest.approx(0.0, abs=1e-5)


def test_the_trainer_steps_like_a_hand_written_per_member_loop() -> None:
    x, y = torch.randn(24, 5), torch.randint(0, 3, (24,))
    model = small("multiclass", 3, dropout=0.0)
    twin = copy.deepcopy(model)
    loss = LOSSES.get("sparse_categorical_crossentropy")()
    trainer = Trainer(model, torch.optim.AdamW(model.parameters(), lr=1e-2), loss,
                      MetricSet({"accuracy": {}}, loss, n_classes=3), epochs=3, batch_size=24,
                      eval_batch_size=24, generator=torch.Generator().manual_seed(0))  # fmt: skip
    trainer.fit(Split(x, y))

    optimizer = torch.optim.AdamW(twin.parameters(), lr=1e-2)
    for _ in range(3):  # one batch of every row per epoch: the order of the rows does not matter
        twin.train()
        members = twin(x)
        step = torch.stack([F.cross_entropy(members[:, j], y) for j in range(K)]).mean()
        optimizer.zero_grad()
        step.backward()
        optimizer.step()
    for a, b in zip(model.state_dict().values(), twin.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    twin.eval()
    accuracy = (twin(x).argmax(1) == y).double().mean().item()
    assert trainer.history[-1]["loss"] == pytest.approx(step.item(), rel=1e-4)
    assert trainer.evaluate(Split(x, y))["accuracy"].item() == pytest.approx(accuracy)


def test_normal_bins_are_the_training_rows_quantile_bins_after_quantile_scaling() -> None:
    """rtdl_num_embeddings' own ``compute_bins`` on the training rows, once they are scaled with
    ``dataset.numeric=quantile``, finds the bins ``model=tabm`` fixes: the normal's quantiles."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.lognormal(size=4000), "b": rng.standard_t(2, 4000), "y": 0})
    table = Table("t", frame, "y", ["a", "b"], numeric="quantile")
    x = torch.from_numpy(Preprocessor.fit(table, np.arange(3000), True).transform(frame[:3000]))
    for found in rtdl.compute_bins(x, n_bins=8):
        assert torch.allclose(found, normal_bins(8), atol=0.02)


def test_builder_defaults_follow_tabm_and_the_shapes_follow_the_columns() -> None:
    with_embeddings = MODELS.get("tabm")(10, 2, task="multiclass", n_numeric=4)
    assert len(with_embeddings.backbone.blocks) == 2 and with_embeddings.k == 32  # TabM.make's defaults
    plain = MODELS.get("tabm")(10, 2, task="multiclass", n_numeric=4, embedding="none")
    assert len(plain.backbone.blocks) == 3 and plain.num is None
    assert MODELS.get("tabm")(6, 1, task="binary", n_numeric=0).num is None  # only one-hot columns
