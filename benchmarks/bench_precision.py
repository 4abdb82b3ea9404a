"""``trainer.precision=32`` against ``bf16`` (and ``16-mixed`` on CUDA): epoch time and the final metric.

    python benchmarks/bench_precision.py                         # bench_trainer's MLP 32-128-128-10, 5 epochs
    python benchmarks/bench_precision.py --hidden 1024 --epochs 3 --threads 1   # a wider MLP
    python benchmarks/bench_precision.py --threads 1 --cpu        # CPU seconds: steadier on a busy machine
    python benchmarks/bench_precision.py --quick                  # a sanity run in a few seconds

Workload: bench_trainer.py's (100,000 x 32 training rows, 20,000 validation rows, 10 classes from a random
linear teacher), an MLP of ``--hidden`` units in two hidden layers, Adam at 1e-3, ``Trainer.fit`` as
``mltrain fit`` runs it. Each precision trains from the same weights and the same shuffles for ``--epochs``
epochs; the table gives the median epoch time (the first epoch left out: warm-up), the ratio to float32's,
and the validation loss and accuracy after the last epoch. Each precision is its own run, so runs are
repeated ``--repeats`` times, interleaved (32, bf16, 32, bf16, ...), and the median of the repeats is shown.
Run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from bench_trainer import CLASSES, EVAL_BATCH, FEATURES, LR, Workload, make_workload
from torch import nn

from mltrain.components.losses import LOSSES
from mltrain.components.metrics import MetricSet
from mltrain.components.optimizers import OPTIMIZERS
from mltrain.training.callbacks.base import Callback
from mltrain.training.trainer import Trainer

CLOCK = {"cpu": False}  # --cpu: the process's CPU seconds, steadier than wall-clock on a busy machine


def now() -> float:
    return time.process_time() if CLOCK["cpu"] else time.perf_counter()


class EpochClock(Callback):
    """Each epoch's wall-clock seconds (the history's ``time_s`` includes scoring the validation rows)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        self.started = now()

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: dict[str, float]) -> None:
        self.seconds.append(now() - self.started)


def run(precision: str, args: argparse.Namespace, data: Workload, device: torch.device) -> tuple[float, dict]:
    torch.manual_seed(0)
    h = args.hidden
    model = nn.Sequential(
        nn.Linear(FEATURES, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, CLASSES)
    )
    model = model.to(device)
    loss = LOSSES.get("sparse_categorical_crossentropy")()
    clock = EpochClock()
    trainer = Trainer(
        model, OPTIMIZERS.get("adam")(model.parameters(), lr=LR), loss,
        MetricSet({"accuracy": {}}, loss, n_classes=CLASSES), epochs=args.epochs, batch_size=args.batch_size,
        eval_batch_size=EVAL_BATCH, callbacks=[clock], generator=torch.Generator().manual_seed(1),
        precision=precision,
    )  # fmt: skip
    history = trainer.fit(data.train, data.val)
    timed = clock.seconds[1:] or clock.seconds
    return statistics.median(timed), history[-1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--cuda", action="store_true", help="on the GPU, with 16-mixed too")
    parser.add_argument("--cpu", action="store_true", help="CPU seconds (use with --threads 1)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.epochs = 5_000, 2
    CLOCK["cpu"] = args.cpu
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.cuda else "cpu")
    data = make_workload(args.rows, args.rows // 5, 0, device)
    precisions = ["32", "bf16", *(["16-mixed"] if args.cuda else [])]
    times: dict[str, list[float]] = {p: [] for p in precisions}
    last: dict[str, dict] = {}
    for _ in range(args.repeats):
        for precision in precisions:
            seconds, last[precision] = run(precision, args, data, device)
            times[precision].append(seconds)
    base = statistics.median(times["32"])
    clock = "CPU seconds" if CLOCK["cpu"] else "wall-clock seconds"
    width = f"{FEATURES}-{args.hidden}-{args.hidden}-{CLASSES}"
    print(f"{args.rows:,} rows, MLP {width}, batch {args.batch_size}, "
          f"{args.epochs} epochs, {torch.get_num_threads()} threads, {device}, {clock}, "
          f"torch {torch.__version__}")  # fmt: skip
    print(f"{'precision':<10} {'epoch s':>8} {'x fp32':>7} {'val_loss':>9} {'val_acc':>8}")
    for precision in precisions:
        median = statistics.median(times[precision])
        row = last[precision]
        print(f"{precision:<10} {median:>8.3f} {median / base:>7.2f} {row['val_loss']:>9.4f} "
              f"{row['val_accuracy']:>8.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
