"""How a global batch is split across ranks and reduced back, checked without starting processes.

    python -m pytest tests/training/test_distributed.py -q

The split and the reductions are checked against plain Python loops and against one process's gradient
of the whole batch; the DistributedTrainer itself runs in a process group of one (gloo, in this process),
where it must train exactly like the Trainer. Runs of several processes are in ``tests/commands/test_ddp.py``
(slow).
"""

from __future__ import annotations

import copy
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from mltrain.components.losses import LOSSES
from mltrain.components.metrics import MetricSet
from mltrain.components.models import MODELS
from mltrain.status import INTERRUPTED
from mltrain.training import distributed
from mltrain.training.callbacks.base import Callback
from mltrain.training.ddp import POLL_EVERY, DistributedTrainer
from mltrain.training.trainer import Split, Trainer


@pytest.mark.parametrize("world", [1, 2, 3, 8])
@pytest.mark.parametrize("n", [0, 1, 2, 7, 64])
def test_shards_cover_every_row_once_and_differ_by_at_most_one(n: int, world: int) -> None:
    bounds = [distributed.shard(n, r, world) for r in range(world)]
    rows = [i for start, stop in bounds for i in range(start, stop)]
    assert rows == list(range(n))
    sizes = [stop - start for start, stop in bounds]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize(
    ("n_used", "batch_size", "world"), [(50, 16, 2), (50, 16, 3), (5, 4, 3), (64, 64, 2)]
)
def test_local_positions_are_each_ranks_slices_of_each_batch(
    n_used: int, batch_size: int, world: int
) -> None:
    expected: dict[int, list[int]] = {r: [] for r in range(world)}
    for first in range(0, n_used, batch_size):  # the reference: a loop over batches and ranks
        batch = list(range(first, min(first + batch_size, n_used)))
        for r in range(world):
            expected[r] += batch[len(batch) * r // world : len(batch) * (r + 1) // world]
    for r in range(world):
        assert distributed.local_positions(n_used, batch_size, r, world).tolist() == expected[r]
    every = torch.cat([distributed.local_positions(n_used, batch_size, r, world) for r in range(world)])
    assert sorted(every.tolist()) == list(range(n_used))


@pytest.mark.parametrize(("rows", "world"), [(7, 2), (7, 3), (2, 3), (16, 4)])
def test_rank_shares_add_up_to_the_whole_batchs_loss_and_gradient(rows: int, world: int) -> None:
    """Simulated ranks (model copies, DDP's average done by hand) against one process on the whole batch."""
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    x, y = torch.randn(rows, 4), torch.randint(0, 3, (rows,))
    whole = F.cross_entropy(model(x), y)
    expected = torch.autograd.grad(whole, list(model.parameters()))
    loss = LOSSES.get("sparse_categorical_crossentropy")()
    shares, grads = [], []
    for r in range(world):
        replica = copy.deepcopy(model)
        start, stop = distributed.shard(rows, r, world)
        share = distributed.batch_share(loss, replica(x[start:stop]), y[start:stop], rows)
        shares.append(share.detach())
        grads.append(torch.autograd.grad(share * world, list(replica.parameters())))
    assert float(torch.stack(shares).sum()) == pytest.approx(float(whole.detach()), rel=1e-6)
    for i, want in enumerate(expected):
        torch.testing.assert_close(sum(g[i] for g in grads) / world, want, rtol=1e-6, atol=1e-7)


@pytest.fixture
def world_of_one(tmp_path: Path) -> Iterator[None]:
    """A gloo process group of one rank, in this process (one torch thread: the models are tiny)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()
    torch.set_num_threads(threads)


def _fit(
    cls: type[Trainer], callbacks: tuple[Callback, ...] = (), batch_size: int = 8, model_name: str = "mlp"
) -> tuple[Trainer, nn.Module]:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(100, 5, generator=gen)
    data = Split(x, (x[:, 0] > x[:, 1]).long() + (x[:, 2] > 1).long())
    model = (
        nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3))
        if model_name == "mlp"  # model=tabm: training outputs (batch, k, 3), one loss per member
        else MODELS.get("tabm")(
            5, 3, task="multiclass", n_numeric=3, k=4, d_block=16, n_bins=4, d_embedding=4
        )
    )
    loss = LOSSES.get("sparse_categorical_crossentropy")()
    metrics = MetricSet({"accuracy": {}, "f1": {}}, loss, n_classes=3)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    trainer = cls(model, optimizer, loss, metrics, epochs=3, batch_size=batch_size, eval_batch_size=16,
                  callbacks=callbacks, generator=torch.Generator().manual_seed(7), grad_clip=1.0)  # fmt: skip
    trainer.fit(Split(x[:70], data.y[:70]), Split(x[70:], data.y[70:]))
    return trainer, model


@pytest.mark.parametrize("model_name", ["mlp", "tabm"])
def test_a_world_of_one_trains_exactly_like_the_trainer(world_of_one: None, model_name: str) -> None:
    plain, plain_model = _fit(Trainer, model_name=model_name)
    ddp, ddp_model = _fit(DistributedTrainer, model_name=model_name)
    assert ddp.model is ddp_model  # checkpoints see the plain module, not DDP's wrapper
    for a, b in zip(plain_model.state_dict().values(), ddp_model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(plain.history, ddp.history, strict=True):
        assert {k: v for k, v in a.items() if k != "time_s"} == {k: v for k, v in b.items() if k != "time_s"}


class _SignalAt(Callback):
    """Sends this process SIGTERM after one training batch, as ``kill`` would."""

    def __init__(self, batch: int) -> None:
        self.batch = batch

    def on_train_batch_end(self, trainer: Trainer, batch: int) -> None:
        if batch == self.batch and len(trainer.history) == 1:
            os.kill(os.getpid(), signal.SIGTERM)


def test_sigterm_stops_at_a_poll_through_the_previous_handler(world_of_one: None) -> None:
    seen = []

    def command_line_handler(signum: int, frame: object) -> None:
        seen.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, command_line_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            _fit(DistributedTrainer, callbacks=(_SignalAt(batch=1),))
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == [signal.SIGTERM]  # the handler ran once, when the ranks agreed to stop


def test_a_signal_during_training_is_acted_on_within_two_polls(world_of_one: None) -> None:
    stopped = []

    class Record(Callback):
        def on_fit_end(self, trainer: Trainer) -> None:
            stopped.append((trainer.status, len(trainer.history)))

    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            _fit(DistributedTrainer, callbacks=(_SignalAt(batch=0), Record()), batch_size=2)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert 2 * POLL_EVERY <= 70 // 2  # the flag is shared at one poll and acted on at the next
    assert stopped == [(INTERRUPTED, 1)]  # the second epoch was abandoned; the first is kept
