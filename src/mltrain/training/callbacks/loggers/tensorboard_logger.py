"""``logger=[tensorboard]``: TensorBoard event files in ``<run>/tensorboard/``.

    mltrain fit logger=[tensorboard] && tensorboard --logdir runs

Every history column is a scalar per epoch (``loss``, ``val_accuracy``, ``lr``, ``time_s``), stored as
float32: TensorBoard's default fast loader shows no other kind (double-precision scalars were tried: its
Scalars tab stayed empty). The run's hyperparameters go to the HParams tab, where
each run's metrics are the last values of those scalars; the run's plots go to the Images tab and its
diagnosis to the Text tab. Every run, sweep job and fold has its own ``tensorboard/`` folder, so
``tensorboard --logdir runs`` lists them all. torch's ``SummaryWriter`` is imported when a run starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mltrain.status import PRUNED, SUCCEEDED
from mltrain.training.callbacks.loggers import LOGGERS, RunInfo, RunLogger, hyperparameters

LOG_DIR = "tensorboard"  # the event files' folder inside the run directory


@LOGGERS.register("tensorboard")
def tensorboard(run: RunInfo, hparams: bool = True, images: bool = True) -> TensorBoardLogger:
    """A TensorBoard logger for ``run``.

    Args:
        run: the run's directory and config.
        hparams: record the hyperparameters for the HParams tab.
        images: add the run's PNG plots (learning curves, confusion matrix) to the Images tab.
    """
    return TensorBoardLogger(run, hparams, images)


class TensorBoardLogger(RunLogger):
    """Writes the run's epochs, hyperparameters, plots and diagnosis as TensorBoard events."""

    kind = "tensorboard"

    def __init__(self, run: RunInfo, hparams: bool, images: bool) -> None:
        self.run, self.hparams, self.images = run, hparams, images
        self.writer: Any = None
        self.last_epoch = 0

    def start(self, trainer: Any) -> None:
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams

        self.writer = SummaryWriter(log_dir=str(self.run.out_dir / LOG_DIR))
        self.last_epoch = len(trainer.history)  # a resumed run continues its curves
        if self.hparams:
            _, session_start, _ = hparams(hyperparameters(self.run), {})
            self.writer.file_writer.add_summary(session_start)
        self.writer.flush()

    def log_epoch(self, epoch: int, row: dict[str, float]) -> None:
        for key, value in row.items():
            if key != "epoch":
                self.writer.add_scalar(key, value, epoch)  # float32, the one kind every loader reads
        self.writer.flush()  # TensorBoard shows a running run's epochs as they end
        self.last_epoch = epoch

    def finish(self, summary: dict[str, Any]) -> None:
        if self.images:
            for name in summary.get("artifacts") or []:
                if name.endswith(".png"):
                    self.writer.add_image(name.removesuffix(".png"), _pixels(self.run.out_dir / name),
                                          self.last_epoch, dataformats="HWC")  # fmt: skip
        lines = [f"status: {summary['status']}", summary.get("message"),
                 (summary.get("diagnosis") or {}).get("message")]  # fmt: skip
        self.writer.add_text("run", "\n\n".join(line for line in lines if line), self.last_epoch)
        self.end(summary["status"])

    def end(self, status: str) -> None:
        if self.hparams:
            ended = status in (*SUCCEEDED, PRUNED)  # a pruned trial ended on purpose, without an error
            self.writer.file_writer.add_summary(_session_end(ended))
        self.writer.close()

    def safely_close(self) -> None:
        try:
            if self.writer is not None:
                self.writer.close()
        except Exception:  # noqa: BLE001, S110 - already failing; the warning has been given
            pass


def _pixels(path: Path) -> Any:
    """A PNG as an ``H x W x 3`` uint8 array (Pillow comes with TensorBoard)."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _session_end(succeeded: bool) -> Any:
    """The HParams plugin's end-of-session record: the run's status in the HParams table."""
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    status = api_pb2.Status.Value("STATUS_SUCCESS" if succeeded else "STATUS_FAILURE")
    content = plugin_data_pb2.HParamsPluginData(
        session_end_info=plugin_data_pb2.SessionEndInfo(status=status), version=metadata.PLUGIN_DATA_VERSION
    )
    plugin = SummaryMetadata.PluginData(plugin_name=metadata.PLUGIN_NAME, content=content.SerializeToString())
    return Summary(value=[Summary.Value(tag=metadata.SESSION_END_INFO_TAG,
                                        metadata=SummaryMetadata(plugin_data=plugin))])  # fmt: skip
