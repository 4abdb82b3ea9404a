"""The Trainer: fit a model on in-memory tensors, one epoch at a time, as fast as a hand-written loop.

Data that fits in memory stays as tensors on the device and is batched by slicing a per-epoch random
permutation (a DataLoader's per-sample fetching costs 1.5x at batch 128 and 3.9x at batch 1024 on the
benchmark). Each batch's loss and outputs are copied into preallocated device buffers, so the loop never
waits on the host; the epoch's loss and metrics are computed once, at its end.

    trainer = Trainer(model, optimizer, loss, metrics, epochs=10, batch_size=64)
    history = trainer.fit(Split(x_train, y_train), Split(x_val, y_val))

``precision`` (Lightning's names) runs the forward passes under ``torch.autocast``: ``bf16`` on the CPU or
CUDA, ``16-mixed`` (CUDA only) with a ``torch.amp.GradScaler``; parameters, gradients and the optimizer's
state stay float32, and the loss is computed on float32 outputs. ``accumulate_grad_batches=N`` sums the
gradients of N batches before one optimizer step, each batch's loss weighted by its share of the window's
rows: the step is the one a single batch of those rows takes with a mean loss.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from mltrain.components.losses import Loss
from mltrain.components.metrics import MetricSet
from mltrain.interrupts import held_interrupts
from mltrain.status import COMPLETED, DIVERGED, FAILED, INTERRUPTED, RUNNING
from mltrain.training.callbacks.base import Callback

PRECISIONS = ("32", "bf16", "16-mixed")  # trainer.precision: float32, bfloat16 autocast, float16 + scaler
AUTOCAST = {"bf16": torch.bfloat16, "16-mixed": torch.float16}


@dataclass
class Split:
    """Features and encoded targets of one part of the data, on the training device."""

    x: Tensor
    y: Tensor

    def __len__(self) -> int:
        return len(self.x)


class Trainer:
    """Fits ``model`` with ``optimizer`` on ``loss``, reporting ``metrics`` each epoch.

    Args:
        model: any ``nn.Module`` mapping a batch of rows to outputs.
        optimizer: built on ``model.parameters()``.
        loss: the run's loss (it also says how outputs become predictions).
        metrics: computed on each epoch's training outputs and on the validation rows.
        epochs: number of passes over the training rows.
        batch_size: rows per gradient step.
        eval_batch_size: rows per forward pass when scoring.
        callbacks: notified at fit/epoch begin and end (progress, history files).
        generator: the random source of the per-epoch shuffles.
        limit_train_batches / limit_val_batches: cap the batches per epoch (smoke runs).
        scheduler: stepped after each epoch with its history row (``components.schedulers``).
        grad_clip: clip the gradients' total L2 norm to this before each step; ``None`` = off.
        precision: ``32``, ``bf16`` or ``16-mixed`` (CUDA only: float16 autocast with a gradient scaler).
        accumulate_grad_batches: batches whose gradients make one optimizer step; ``limit_train_batches``
            counts optimizer steps, so an epoch trains on at most ``limit * N`` batches.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: Optimizer,
        loss: Loss,
        metrics: MetricSet,
        epochs: int,
        batch_size: int,
        eval_batch_size: int = 1024,
        callbacks: Sequence[Callback] = (),
        generator: torch.Generator | None = None,
        limit_train_batches: int | None = None,
        limit_val_batches: int | None = None,
        scheduler: Any = None,
        grad_clip: float | None = None,
        precision: str = "32",
        accumulate_grad_batches: int = 1,
    ) -> None:
        self.model, self.optimizer, self.loss, self.metrics = model, optimizer, loss, metrics
        self.epochs, self.batch_size, self.eval_batch_size = epochs, batch_size, eval_batch_size
        self.callbacks = list(callbacks)
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        self.limit_train_batches, self.limit_val_batches = limit_train_batches, limit_val_batches
        self.scheduler, self.grad_clip = scheduler, grad_clip
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.precision, self.accumulate = precision, max(1, int(accumulate_grad_batches))
        device = next(iter(model.parameters()), torch.empty(0)).device
        self.device_type = device.type
        if precision == "16-mixed" and device.type != "cuda":
            raise ValueError(f"precision 16-mixed needs a CUDA device, the model is on {device}")
        # float16's narrow range needs the loss scaled up before backward; its state travels in checkpoints
        self.scaler = torch.amp.GradScaler("cuda") if precision == "16-mixed" else None
        self.history: list[dict[str, float]] = []
        self.status = RUNNING
        self.message = ""
        self.stop_training = False

    def fit(self, train: Split, val: Split | None = None) -> list[dict[str, float]]:
        """Train for ``epochs`` epochs (or until a callback stops it); return the history rows."""
        windows = self._n_batches(len(train), self.batch_size * self.accumulate, None)
        self.steps_per_epoch = min(windows, self.limit_train_batches or windows)  # optimizer steps
        batches = self._n_batches(len(train), self.batch_size, None)
        self.batches_per_epoch = min(batches, self.steps_per_epoch * self.accumulate)
        self._notify("on_fit_begin")
        self._batch_hooks = [
            cb for cb in self.callbacks if type(cb).on_train_batch_end is not Callback.on_train_batch_end
        ]
        try:
            for epoch in range(len(self.history) + 1, self.epochs + 1):
                self._notify("on_epoch_begin", epoch)
                started = time.perf_counter()
                lr = self.optimizer.param_groups[0]["lr"]  # the rate this epoch trains with
                logs = self.train_epoch(train)
                if val is not None and len(val) > 0:
                    logs |= {f"val_{k}": v for k, v in self.evaluate(val).items()}
                row = {"epoch": epoch, **_to_floats(logs), "lr": lr,
                       "time_s": time.perf_counter() - started}  # fmt: skip
                self.history.append(row)
                if not math.isfinite(row["loss"]):
                    self.status = DIVERGED
                    self.message = (
                        f"loss became {row['loss']} at epoch {epoch}, batch {self._first_bad_batch}"
                    )
                elif not math.isfinite(row.get("val_loss", 0.0)):  # weights too large for the val rows
                    self.status = DIVERGED
                    self.message = f"val_loss became {row['val_loss']} at epoch {epoch}"
                elif self.scheduler is not None:
                    self.scheduler.step(row)
                with held_interrupts():  # the epoch's files are written whole, or not at all
                    self._notify("on_epoch_end", epoch, row)
                if self.status == DIVERGED or self.stop_training:
                    break
            if self.status == RUNNING:
                self.status = COMPLETED
        except BaseException as error:
            self.status = INTERRUPTED if isinstance(error, KeyboardInterrupt) else FAILED
            self.message = f"{self.status} during epoch {len(self.history) + 1}; epochs before it are saved"
            raise
        finally:
            self._notify("on_fit_end")
        return self.history

    def train_epoch(self, data: Split) -> dict[str, Tensor]:
        """One pass over shuffled batches; returns the epoch's mean loss and metrics as device tensors."""
        self.model.train()
        n, bs, acc = len(data), self.batch_size, self.accumulate
        n_batches = self.batches_per_epoch
        order = torch.randperm(n, generator=self.generator).to(data.x.device, non_blocking=True)
        n_used = min(n, n_batches * bs)
        outputs, losses = None, torch.empty(n_batches, device=data.x.device)
        for b in range(n_batches):
            idx = order[b * bs : (b + 1) * bs]
            first, last = b % acc == 0, b % acc == acc - 1 or b == n_batches - 1
            if first:
                window = min(n_used, (b + acc) * bs) - b * bs  # rows of this optimizer step's batches
                self.optimizer.zero_grad(set_to_none=True)
            with self.autocast():
                out = self.model(data.x[idx])
            out = out.float()  # the loss, metrics and history in float32 whatever the precision
            loss = self.loss(out, data.y[idx])
            scaled = loss if acc == 1 else loss * (len(idx) / window)
            (scaled if self.scaler is None else self.scaler.scale(scaled)).backward()
            if last:
                self._step()
            out = self.loss.combined(out.detach())  # an ensemble's members: their mean prediction
            if outputs is None:
                outputs = torch.empty((n_used, *out.shape[1:]), dtype=out.dtype, device=out.device)
            outputs[b * bs : b * bs + len(idx)] = out
            losses[b] = loss.detach()
            for cb in self._batch_hooks:
                cb.on_train_batch_end(self, b)
        sizes = torch.full((n_batches,), float(bs), device=losses.device)
        sizes[-1] = n_used - bs * (n_batches - 1)
        self._batch_losses = losses
        logs = {"loss": (losses * (sizes / n_used)).sum()}  # weights <= 1: no float32 overflow
        logs |= self.metrics(outputs, data.y[order[:n_used]])
        return logs

    def _step(self) -> None:
        """One optimizer step on the accumulated gradients (unscaled first under ``16-mixed``)."""
        if self.scaler is not None:
            if self.grad_clip is not None:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            self.scaler.step(self.optimizer)  # skipped when the gradients hold inf/NaN; the scale drops
            self.scaler.update()
            return
        if self.grad_clip is not None:  # returns the norm as a tensor: no host synchronisation
            nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """``torch.autocast`` at the run's precision; a ``nullcontext`` at ``32`` (cheap: every batch)."""
        if self.precision == "32":
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=AUTOCAST[self.precision])

    @torch.inference_mode()  # no autograd bookkeeping at all: cheaper than no_grad
    def evaluate(self, data: Split) -> dict[str, Tensor]:
        """Mean loss and metrics over ``data`` (in eval mode, batches of ``eval_batch_size``)."""
        self.model.eval()
        n_batches = self._n_batches(len(data), self.eval_batch_size, self.limit_val_batches)
        n = min(len(data), n_batches * self.eval_batch_size)
        ebs = self.eval_batch_size
        with self.autocast():
            outputs = torch.cat([self.model(data.x[i : i + ebs]) for i in range(0, n, ebs)]).float()
        y = data.y[:n]
        return {"loss": self.loss(outputs, y), **self.metrics(outputs, y)}

    def predict(self, x: Tensor) -> Tensor:
        """Raw model outputs for ``x`` in eval mode, in batches of ``eval_batch_size``."""
        self.model.eval()
        with torch.inference_mode(), self.autocast():  # as evaluate: a compiled model reuses the same graph
            return torch.cat(
                [self.model(x[i : i + self.eval_batch_size]) for i in range(0, len(x), self.eval_batch_size)]
            ).float()

    @property
    def _first_bad_batch(self) -> int:
        bad = (~torch.isfinite(self._batch_losses)).nonzero()
        return int(bad[0]) + 1 if len(bad) else 0

    @staticmethod
    def _n_batches(n: int, batch_size: int, limit: int | None) -> int:
        batches = max(1, math.ceil(n / batch_size))
        return min(batches, limit) if limit else batches

    def _notify(self, hook: str, *args: object) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(self, *args)


def _to_floats(logs: dict[str, Tensor]) -> dict[str, float]:
    """One host synchronisation for all of an epoch's numbers."""
    values = torch.stack([v.detach().double().reshape(()) for v in logs.values()]).cpu().tolist()
    return dict(zip(logs, values, strict=True))
