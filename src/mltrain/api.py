"""mltrain from Python (notebooks, scripts): the ``mltrain fit`` command as a function, runs as objects.

    import mltrain
    run = mltrain.fit(optimizer="nadam", loss="bce", dataset="breast_cancer", trainer={"epochs": 30})
    run.history                      # pandas DataFrame: the rows of history.csv
    run.summary["best"]              # summary.json
    run.predict(frame)               # like `mltrain predict`: prediction and prob_<class> columns
    run.evaluate(frame)              # like `mltrain evaluate input=`: metrics, confusion matrix
    mltrain.load("runs/fit/<run>")   # the same object for a finished run
    mltrain.fit("optimizer=nadam", "loss=bce")   # the command's override strings work too

The same path as the command: Hydra's compose API composes ``conf/fit.yaml`` with the overrides, the run
gets the directory the command would give it (``runs/fit/<timestamp>_<overrides>``, with ``.hydra/``,
``fit.log`` and every run file), and ``runner.run_command`` runs it. A user error raises
:class:`mltrain.UserError` with the one-line message the command prints.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from mltrain.errors import ConfigError, DataError, UserError

log = logging.getLogger(__name__)

RUNS_DIR = "runs/fit"  # where `mltrain fit` puts runs (conf/fit.yaml's hydra.run.dir)
LOG_FORMAT = "[%(asctime)s][%(levelname)s] %(message)s"  # fit.log's lines (conf/fit.yaml's job_logging)
FRAME = "the frame"  # what error messages call a DataFrame passed in (the command says input=<csv>)


def fit(*overrides: str, run_dir: str | os.PathLike | None = None, **options: Any) -> Run:
    """Train a model as ``mltrain fit <overrides>`` does; return the finished run.

    Keyword arguments are overrides: ``optimizer="nadam"`` is ``optimizer=nadam``, a dict sets keys
    (``trainer={"epochs": 30}`` is ``trainer.epochs=30``; with ``name`` it also picks the choice:
    ``dataset={"name": "csv", "path": "d.csv", "target": "y"}``), a list is a list
    (``metric=["accuracy", "f1"]``). Strings are the command's overrides as typed in a shell, applied
    before the keyword arguments.

    Args:
        run_dir: the run directory; default ``runs/fit/<timestamp>_<overrides>`` under the working
            directory, named as the command names it.

    Returns:
        The run, read back from its directory. A run that diverged is returned too (``run.status``).

    Raises:
        UserError: a bad override, config or data, found before training; the message is the line the
            command prints. Nothing is left on disk.
        KeyboardInterrupt: the epochs before it are saved; ``resume=<run dir>`` continues.
        OSError: a run file could not be written; the files written before it are intact.
    """
    from mltrain.config.overrides import keyword_overrides, override_string
    from mltrain.files import make_dir
    from mltrain.rundir import check_unlocked, new_run_dir, resume_dir, resumed_overrides

    args = [*map(override_string, overrides), *keyword_overrides(options)]
    cfg = compose_fit(args)
    resume = cfg.get("resume")
    if resume:
        out_dir = resume_dir(str(resume))  # its .hydra/ keeps the overrides the run was started with
        cfg = compose_fit(resumed_overrides(out_dir, args))  # those, then the ones given here
        if run_dir is not None and Path(run_dir).resolve() != out_dir.resolve():
            raise ConfigError(f"resume={resume} continues in its own directory; leave out run_dir={run_dir}")
    else:
        out_dir = Path(run_dir) if run_dir is not None else Path(new_run_dir(RUNS_DIR, tuple(args)))
        if run_dir is not None:
            check_unlocked(make_dir(out_dir, "run_dir"))
        _write_hydra_files(out_dir, cfg, args)
    summary = _run(cfg, out_dir)
    if summary.get("status") == "diverged":
        log.warning("run diverged: %s; history so far is in %s", summary.get("message"), out_dir)
    return load(out_dir)


def load(path: str | os.PathLike) -> Run:
    """A run directory ``mltrain fit`` (or :func:`fit`) wrote: a single run, a k-fold parent or a fold.

    Raises:
        UserError: no such directory, or one without ``summary.json`` / ``cv_summary.json``.
    """
    return Run(Path(path))


def compose_fit(overrides: list[str]) -> Any:
    """``conf/fit.yaml`` composed with ``overrides`` and checked against the schema, as the command does.

    Raises:
        UserError: an unknown choice or key, a mistyped value, an override Hydra cannot parse.
    """
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from mltrain.config.messages import user_message
    from mltrain.config.schemas import register_schemas
    from mltrain.rundir import install_resolvers

    install_resolvers()
    register_schemas()
    outer = GlobalHydra.instance().hydra  # a Hydra app calling mltrain.fit keeps its own Hydra
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module("mltrain.conf", version_base="1.3"):
            return compose("fit", overrides=overrides)
    except Exception as error:
        message = user_message(error, "fit")
        if message is None:
            raise  # a bug, not the user's input
        raise UserError(message) from error
    finally:
        GlobalHydra.instance().hydra = outer


def _write_hydra_files(out_dir: Path, cfg: Any, overrides: list[str]) -> None:
    """``.hydra/config.yaml`` and ``.hydra/overrides.yaml`` as Hydra writes them: ``mltrain report`` reads
    the overrides from there."""
    from omegaconf import OmegaConf

    from mltrain.files import atomic_write_text, make_dir
    from mltrain.rundir import RunDir

    run = RunDir(out_dir)
    make_dir(run.hydra_dir, "run_dir")
    atomic_write_text(run.hydra_config, OmegaConf.to_yaml(cfg))
    atomic_write_text(run.hydra_overrides, OmegaConf.to_yaml(OmegaConf.create(overrides)))


def _run(cfg: Any, out_dir: Path) -> dict[str, Any]:
    """``runner.run_command("fit", ...)`` with ``fit.log`` written, and errors as the command reports them."""
    from mltrain.config.messages import user_message
    from mltrain.launch.runner import run_command
    from mltrain.rundir import RunDir, remove_if_unused

    try:
        with _run_log(RunDir(out_dir).fit_log):
            return run_command("fit", cfg, out_dir)
    except UserError:
        raise
    except Exception as error:
        message = user_message(error, "fit")  # OmegaConf's errors met while building, e.g. a ??? key
        if message is None:
            raise
        remove_if_unused(out_dir)
        raise UserError(message) from error


@contextlib.contextmanager
def _run_log(path: Path) -> Iterator[None]:
    """The run's log lines (and per-epoch lines) into ``path`` while it runs, as Hydra's file handler does.

    The handler sits on the root logger only for the run (``ProgressCallback`` writes each epoch's line to
    the root's file handlers); ``mltrain``'s loggers log INFO meanwhile unless a level was set for them.
    """
    handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.setLevel(logging.INFO)
    package = logging.getLogger("mltrain")
    unset = package.level == logging.NOTSET
    root = logging.getLogger()
    root.addHandler(handler)
    if unset:
        package.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        if unset:
            package.setLevel(logging.NOTSET)


class Run:
    """A run directory: its summary, history and config, and its model for new rows.

    A k-fold parent directory is a run too: ``summary`` is ``cv_summary.json``, ``history`` every fold's
    rows (with a ``fold`` column), ``folds`` the fold runs, and ``predict``/``evaluate`` use the mean
    prediction of the fold models, as the commands do.
    """

    def __init__(self, path: Path) -> None:
        from mltrain.files import load_json
        from mltrain.rundir import RunDir

        self.path = Path(path)  # as given: what the command prints and `run=` takes
        self._files = RunDir(self.path.absolute())  # the files, also after a chdir
        if not self._files.path.is_dir():
            raise ConfigError(f"{self.path}: no such run directory")
        found = next((p for p in (self._files.summary, self._files.cv_summary) if p.is_file()), None)
        if found is None:
            raise ConfigError(
                f"{self.path} has no {RunDir.summary} or {RunDir.cv_summary}; "
                "pass the directory of a `mltrain fit` run"
            )
        self.summary: dict[str, Any] = load_json(found)
        kfold = found == self._files.cv_summary
        folds = [f for f in self._files.folds() if f.summary.is_file()] if kfold else []
        self.folds: list[Run] = [Run(self.path / f.path.name) for f in folds]
        self._models: list[Any] | None = None

    @property
    def status(self) -> str:
        """``completed``, ``early_stopped``, ``diverged``, ``interrupted``, or ``running``."""
        return str(self.summary.get("status"))

    @property
    def history(self) -> pd.DataFrame:
        """The rows of ``history.csv`` (every fold's, one after another, for a k-fold parent)."""
        if self.folds:
            return pd.concat([f.history for f in self.folds], ignore_index=True)
        path = self._files.history_csv
        return pd.read_csv(path) if path.is_file() and path.stat().st_size else pd.DataFrame()

    @property
    def config(self) -> Any:
        """The run's resolved config (``config.yaml``; the first fold's for a k-fold parent)."""
        from omegaconf import OmegaConf

        return self.folds[0].config if self.folds else OmegaConf.load(self._files.config)

    def predict(self, data: pd.DataFrame | str | os.PathLike, id: str | None = None) -> pd.DataFrame:
        """Predictions for raw rows, as ``mltrain predict`` writes them.

        Args:
            data: a DataFrame (or a CSV or Parquet path) with the feature columns, in any order.
            id: a column of ``data`` copied to the output.

        Returns:
            ``[id,] prediction[, prob_<class>...]``, indexed like ``data``.

        Raises:
            UserError: a missing column, a category the model never saw, a run without ``model.pt``.
        """
        from mltrain.commands.predict import predict_frame

        frame, source = _frame(data, self.models[0], (id,) if id else ())
        out = predict_frame(self.models, frame, id, source)
        out.index = frame.index
        return out

    def evaluate(
        self, data: pd.DataFrame | str | os.PathLike | None = None, max_drop: float | None = None
    ) -> dict[str, Any]:
        """Metrics of the model on labelled rows, as ``mltrain evaluate`` computes them; writes nothing.

        Args:
            data: a DataFrame (or CSV or Parquet path) with the target column; ``None``: the run's test rows,
                else its validation rows, rebuilt from its config and seed.
            max_drop: ``failed`` lists the metrics worse than at training time by more than this.

        Returns:
            ``evaluation.json``'s content: ``metrics``, ``training``, ``change``, ``drop``, ``failed``, and
            for classifiers ``classes``, ``confusion_matrix`` (rows: true class) and ``report``.
        """
        from mltrain.commands.evaluate import evaluate_frame, held_out_rows

        if data is not None:
            frame, source = _frame(data, self.models[0])
        elif self.folds:
            raise ConfigError(
                "a k-fold run has no common held-out rows; pass labelled rows, run.evaluate(frame), "
                "or evaluate one fold: run.folds[0].evaluate()"
            )
        else:
            frame, source = held_out_rows(self.models[0])
        return {"run": str(self.path), **evaluate_frame(self.models, frame, source, max_drop)[0]}

    @property
    def models(self) -> list[Any]:
        """The trained model(s) with their preprocessing (``commands.saved.SavedRun``), loaded once."""
        if self._models is None:
            from mltrain.serving.saved_model import load_run

            self._models = load_run(self._files.path)
        return self._models

    def __repr__(self) -> str:
        monitor = self.summary.get("monitor")
        best = self.summary.get("objective")
        shown = f", {monitor}={best:.4g}" if isinstance(best, float) else ""
        return f"Run('{self.path}', status={self.status}{shown})"


def _frame(
    data: pd.DataFrame | str | os.PathLike, saved: Any, extra: tuple[str, ...] = ()
) -> tuple[pd.DataFrame, str]:
    """The rows to score and what messages call them; a path is read as the commands read ``input=``."""
    if isinstance(data, pd.DataFrame):
        return data, FRAME
    if isinstance(data, str | os.PathLike):
        from mltrain.serving.inputs import read_input

        source = f"input={os.fspath(data)}"
        return read_input(Path(data), saved, source, extra), source
    raise DataError(f"pass a pandas DataFrame or a CSV or Parquet path, got {type(data).__name__}")
