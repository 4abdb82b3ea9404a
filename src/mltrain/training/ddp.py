"""The Trainer as one rank of a DistributedDataParallel job (``trainer.nproc=N`` or torchrun).

    trainer = DistributedTrainer(model, optimizer, loss, metrics, epochs=10, batch_size=256)

Built by ``commands/fit.py`` in place of :class:`~mltrain.training.trainer.Trainer` when the process is a rank
of a process group. ``trainer.model`` stays the plain module, so checkpoints, the best weights and
``model.pt`` look exactly like a one-process run's; the DDP wrapper only runs the training steps.
Validation and test scoring run the plain module over all rows on every rank, with no collectives, so every
rank computes the same numbers (the weights are the same on every rank after each step).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from mltrain.training import distributed
from mltrain.training.distributed import StopSignals
from mltrain.training.trainer import Split, Trainer

POLL_EVERY = 16  # batches between two looks at whether a rank was told to stop (a collective)


class DistributedTrainer(Trainer):
    """A :class:`Trainer` whose training epochs are split across the ranks of the process group.

    Each global batch of ``batch_size`` rows is shared out by :func:`distributed.shard`; the epoch's loss
    and metrics are reduced over all ranks (see ``training/distributed.py``). Same arguments as
    :class:`Trainer`.
    """

    def __init__(self, model: nn.Module, *args: Any, **kwargs: Any) -> None:
        super().__init__(model, *args, **kwargs)
        if self.accumulate > 1:  # refused by config/checks.py first; DDP would all-reduce every batch
            raise ValueError("accumulate_grad_batches > 1 is not supported with several processes")
        device = next(model.parameters()).device
        self.ddp = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
        self.rank, self.world = distributed.rank(), distributed.world_size()
        self.stop = StopSignals(device)

    def fit(self, train: Split, val: Split | None = None) -> list[dict[str, float]]:
        """As :meth:`Trainer.fit`; Ctrl-C / SIGTERM on any rank stops every rank at the same batch."""
        with self.stop:
            return super().fit(train, val)

    def train_epoch(self, data: Split) -> dict[str, Tensor]:
        """This rank's share of one pass over shuffled global batches; the epoch's numbers over all ranks."""
        self.stop.check()
        self.ddp.train()
        n, bs, device = len(data), self.batch_size, data.x.device
        n_batches = self.steps_per_epoch
        order = torch.randperm(n, generator=self.generator).to(device, non_blocking=True)
        n_used = min(n, n_batches * bs)
        outputs: Tensor | None = None
        shares = torch.zeros(n_batches, device=device)  # this rank's part of each batch's mean loss
        done = 0  # rows this rank has trained on so far this epoch
        for b in range(n_batches):
            batch = order[b * bs : (b + 1) * bs]
            start, stop = distributed.shard(len(batch), self.rank, self.world)
            idx = batch[start:stop]
            with self.autocast():
                out = self.ddp(data.x[idx])
            out = out.float()
            share = distributed.batch_share(self.loss, out, data.y[idx], len(batch))
            self.optimizer.zero_grad(set_to_none=True)
            full = share * self.world  # DDP averages over ranks: the whole batch's gradient
            (full if self.scaler is None else self.scaler.scale(full)).backward()
            self._step()
            out = self.loss.combined(out.detach())  # an ensemble's members: their mean prediction
            if outputs is None:
                rows = len(distributed.local_positions(n_used, bs, self.rank, self.world))
                outputs = torch.empty((rows, *out.shape[1:]), dtype=out.dtype, device=device)
            outputs[done : done + len(idx)] = out
            shares[b] = share.detach()
            done += len(idx)
            for cb in self._batch_hooks:
                cb.on_train_batch_end(self, b)
            if (b + 1) % POLL_EVERY == 0:
                self.stop.poll()
        return self._epoch_logs(shares, outputs, data.y[order[:n_used]], n_used)

    def _epoch_logs(self, shares: Tensor, outputs: Tensor, target: Tensor, n_used: int) -> dict[str, Tensor]:
        """The epoch's mean loss and metrics over every rank's rows, as one process computes them."""
        losses = distributed.sum_over_ranks(shares)  # each batch's mean loss
        bs, n_batches = self.batch_size, len(losses)
        sizes = torch.full((n_batches,), float(bs), device=losses.device)
        sizes[-1] = n_used - bs * (n_batches - 1)
        self._batch_losses = losses
        logs = {"loss": (losses * (sizes / n_used)).sum()}
        if self.metrics.names:
            logs |= self.metrics(distributed.gather_epoch_rows(outputs, n_used, bs), target)
        return logs
