"""torch.distributed for the trainer: the process group, how a global batch is split across ranks, the
reductions that make an epoch's numbers equal the one-process figures, and stopping every rank together.

Every rank holds all the rows and draws the same seeded permutation each epoch. A global batch of
``trainer.batch_size`` rows is cut into one contiguous slice per rank (:func:`shard`); rank ``r`` weights its
slice's mean loss by its share of the batch, so DistributedDataParallel's gradient average is the gradient
of the whole batch's mean loss, as in one process. At the end of an epoch the per-batch losses are summed
over ranks and the outputs gathered back into the epoch's order, so loss and metrics are computed over all
ranks' rows exactly as one process computes them.

The process group comes from the environment torch's launchers set (``RANK``, ``WORLD_SIZE``,
``MASTER_ADDR``, ...): gloo for CPU tensors, NCCL for CUDA tensors.
"""

from __future__ import annotations

import datetime
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

TIMEOUT = datetime.timedelta(minutes=10)  # a collective that waits longer than this fails (a rank hung)


def is_distributed() -> bool:
    """Whether this process is one rank of an initialised process group."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's global rank (0 when not distributed)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """Number of processes training together (1 when not distributed)."""
    return dist.get_world_size() if is_distributed() else 1


def backend() -> str:
    """gloo for CPU tensors, plus NCCL for CUDA tensors when this machine has a GPU."""
    return "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"


def init_from_env() -> None:
    """Join the process group described by torchrun's / the elastic agent's environment variables."""
    if not is_distributed():
        dist.init_process_group(backend(), timeout=TIMEOUT)


def teardown() -> None:
    """Leave the process group (a no-op when not in one)."""
    if is_distributed():
        dist.destroy_process_group()


def rank_device(device: torch.device) -> torch.device:
    """The device of this rank: ``cuda`` becomes ``cuda:<LOCAL_RANK>`` (one GPU per process)."""
    if not is_distributed() or device.type != "cuda":
        return device
    local = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    torch.cuda.set_device(local)
    return local


def shard(n: int, rank: int, world: int) -> tuple[int, int]:
    """``(start, stop)`` of rank ``rank``'s contiguous slice of ``n`` rows; sizes differ by at most one."""
    return n * rank // world, n * (rank + 1) // world


def local_positions(n_used: int, batch_size: int, rank: int, world: int) -> Tensor:
    """Where each row rank ``rank`` trains on sits in the epoch's order, in the order it trains on them.

    The epoch's order is cut into batches of ``batch_size`` (the last one shorter) and each batch into
    :func:`shard` slices; the result lists rank ``rank``'s slices one batch after another.
    """
    starts = torch.arange(0, n_used, batch_size)
    sizes = (n_used - starts).clamp(max=batch_size)
    lo, hi = sizes * rank // world, sizes * (rank + 1) // world
    counts = hi - lo
    before = torch.cumsum(counts, 0) - counts  # rows this rank trained on in earlier batches
    return torch.repeat_interleave(starts + lo - before, counts) + torch.arange(int(counts.sum()))


def batch_share(
    loss: Callable[[Tensor, Tensor], Tensor], out: Tensor, target: Tensor, batch_rows: int
) -> Tensor:
    """This rank's part of a global batch's mean loss: the mean over its rows, weighted by their share
    of the batch's ``batch_rows``. Summed over ranks it is the batch's mean loss, so with DDP's average of
    the ranks' gradients of ``share * world_size`` every step follows the whole batch's gradient. A rank
    with no rows of the batch contributes zero, still through the model (DDP expects every gradient)."""
    if len(out) == 0:
        return out.sum() * 0.0
    return loss(out, target) * (len(out) / batch_rows)


def sum_over_ranks(values: Tensor) -> Tensor:
    """The element-wise sum of ``values`` over every rank (a new tensor; ``values`` is left as it was)."""
    total = values.clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total


def gather_epoch_rows(local: Tensor, n_used: int, batch_size: int) -> Tensor:
    """Every rank's rows of an epoch (``local``: this rank's, as :func:`local_positions` orders them)
    put back in the epoch's order, on every rank."""
    world, device = dist.get_world_size(), local.device
    positions = [local_positions(n_used, batch_size, r, world).to(device) for r in range(world)]
    size = max(len(p) for p in positions)  # all_gather needs one size: pad the shorter parts
    padded = local.new_zeros((size, *local.shape[1:]))
    padded[: len(local)] = local
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    rows = local.new_empty((n_used, *local.shape[1:]))
    for where, part in zip(positions, parts, strict=True):
        rows[where] = part[: len(where)]
    return rows


class StopSignals:
    """Ctrl-C and SIGTERM stop every rank at the same batch, so no rank is left waiting in a collective.

    While active, the signals only set a flag. :meth:`poll` shares the flags among the ranks in the
    background (an asynchronous all-reduce, collected at the next poll) and :meth:`check` at once; when any
    rank was signalled, every rank stops there together: the handler that was installed before (the
    command line's, which records the exit status) is called, or ``KeyboardInterrupt`` is raised.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, device: torch.device) -> None:
        self.device, self.received = device, 0
        self.previous: dict[int, Any] = {}
        self.flag: Tensor | None = None
        self.work: Any = None

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():  # Python allows handlers only there
            self.previous = {s: signal.signal(s, self._note) for s in self.SIGNALS}
        return self

    def __exit__(self, kind: type | None, *_: object) -> None:
        try:
            if kind is None:  # a signal that came after the last poll still stops every rank
                self.check()
        finally:
            self._restore()

    def _note(self, signum: int, frame: FrameType | None) -> None:
        self.received = max(self.received, signum)

    def poll(self) -> None:
        """Act on the flags shared by the previous poll, then start sharing the current ones."""
        if self.work is not None:
            self.work.wait()
            self._stop_if(int(self.flag.item()))
        self.flag = torch.tensor([self.received], device=self.device)
        self.work = dist.all_reduce(self.flag, op=dist.ReduceOp.MAX, async_op=True)

    def check(self) -> None:
        """Share the flags now (a synchronous collective) and stop if any rank was signalled."""
        if self.work is not None:
            self.work.wait()
            self.work = None
        flag = torch.tensor([self.received], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        self._stop_if(int(flag.item()))

    def _stop_if(self, signum: int) -> None:
        if not signum:
            return
        handler = self.previous.get(signum)
        self._restore()
        if callable(handler):
            handler(signum, None)  # the command line's handler raises KeyboardInterrupt itself
        raise KeyboardInterrupt

    def _restore(self) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}
