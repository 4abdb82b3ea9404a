"""mltrain from Python (notebooks, scripts): the ``mltrain fit`` command as a function, runs as objects.

    import mltrain
    run = mltrain.fit(optimizer="nadam", loss="bce", dataset="breast_cancer", trainer={"epochs": 30})
    run.history                      # pandas DataFrame: the rows of history.csv
    run.summary["best"]              # summary.json
    run.predict(frame)               # like `mltrain predict`: prediction and prob_<class> columns
    run.evaluate(frame)              # like `mltrain evaluate input=`: metrics, confusion matrix
    mltrain.load("runs/fit/<run>")   # the same object for a finished run
    mltrain.fit("optimizer=nadam", "loss=bce")   # the command's override strings work too

The same path as the command (``launch/hydra_job.py``): ``conf/fit.yaml`` composed once with the
overrides, the directory the command would give the run (``runs/fit/<timestamp>_<overrides>``, with
``.hydra/``, ``fit.log`` and every run file), and ``runner.run_command`` in it; only the terminal is left
alone (the log goes to ``fit.log``). A user error raises ``mltrain.UserError`` with the one-line
message the command prints.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from mltrain.config.overrides import keyword_overrides, override_string
from mltrain.errors import ConfigError, DataError
from mltrain.files import make_dir
from mltrain.launch import hydra_job
from mltrain.outcomes import of_summary
from mltrain.rundir import check_unlocked, hydra_quoted, unquote

log = logging.getLogger(__name__)

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
    args = [*map(override_string, overrides), *keyword_overrides(options)]
    if run_dir is not None:
        args.append(_run_dir_override(args, Path(run_dir)))
    finished = hydra_job.run("fit", [a for a in args if a], from_shell=False, console_log=False)
    if finished.error is not None:
        raise finished.error
    outcome = of_summary(finished.summary, finished.run_dir)
    if outcome is not None:  # a run that diverged: returned, with the command's message as a warning
        log.warning("%s", outcome.message)
    return load(finished.run_dir, trust_code=True)  # the code it names is the code this fit just ran


def load(path: str | os.PathLike, trust_code: bool = False) -> Run:
    """A run directory ``mltrain fit`` (or ``fit``) wrote: a single run, a k-fold parent or a fold.

    Args:
        trust_code: import the code the run names (a custom model factory) when its model is loaded; a
            run directory is data, so without it such a run's ``predict``/``evaluate`` are refused.

    Raises:
        UserError: no such directory, or one without ``summary.json`` / ``cv_summary.json``.
    """
    return Run(Path(path), trust_code)


def _run_dir_override(args: list[str], run_dir: Path) -> str:
    """``hydra.run.dir=<run_dir>`` for ``fit(run_dir=...)``, checked first as the command checks its own;
    ``""`` for a resumed run, which continues in the directory ``resume=`` names.

    Raises:
        ConfigError: ``resume=`` names another directory; a live run holds ``run_dir``.
    """
    resume = next((unquote(a.partition("=")[2]) for a in reversed(args) if a.startswith("resume=")), None)
    if resume not in (None, "", "null"):
        if run_dir.resolve() != Path(resume).resolve():
            raise ConfigError(f"resume={resume} continues in its own directory; leave out run_dir={run_dir}")
        return ""
    check_unlocked(make_dir(run_dir, "run_dir"))
    return f"hydra.run.dir={hydra_quoted(str(run_dir))}"


class Run:
    """A run directory: its summary, history and config, and its model for new rows.

    A k-fold parent directory is a run too: ``summary`` is ``cv_summary.json``, ``history`` every fold's
    rows (with a ``fold`` column), ``folds`` the fold runs, and ``predict``/``evaluate`` use the mean
    prediction of the fold models, as the commands do.
    """

    def __init__(self, path: Path, trust_code: bool = False) -> None:
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
        self.folds: list[Run] = [Run(self.path / f.path.name, trust_code) for f in folds]
        self._trust_code = trust_code
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
        """The run's resolved config (``config.yaml``; the first fold's for a k-fold parent), read as plain
        data: an interpolation in it is refused, never resolved (``mltrain.trust``)."""
        from mltrain.config.spec import saved_config

        return self.folds[0].config if self.folds else saved_config(self._files.config)

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
        """The trained model(s) with their preprocessing (``serving.saved_model.SavedRun``), loaded once."""
        if self._models is None:
            from mltrain.serving.saved_model import load_run

            self._models = load_run(self._files.path, self._trust_code)
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
