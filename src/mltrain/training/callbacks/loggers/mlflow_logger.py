"""``logger=[mlflow]``: one MLflow run per mltrain run, in a local store under ``runs/`` or on a server.

    mltrain fit logger=[mlflow] && mlflow ui --backend-store-uri sqlite:///runs/mlflow.db

Params are the command-line overrides (``overrides``) and the flattened resolved config (``optimizer.lr``);
metrics are every history column per epoch with ``step=epoch``, then ``best_<column>`` and ``test_<metric>``
at the end; tags say the ``status`` and the ``diagnosis``; artifacts are the run's files (summary, history,
config, preprocessing, plots, ``model.pt``). A sweep gets a parent run with a child per job, a k-fold run a
parent with a child per fold (and the cross-validation means). Each directory's MLflow run id is kept in
its ``mlflow.json``, so sweep jobs in other processes find their parent and ``resume=`` continues the run.
MLflow is imported when a run starts.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mltrain.rundir import RunDir
from mltrain.status import COMPLETED, EARLY_STOPPED, INTERRUPTED, PRUNED
from mltrain.training.callbacks.loggers import ENDED_EARLY, LOGGERS, RunInfo, RunLogger, flat_config

log = logging.getLogger(__name__)

DEFAULT_URI = "sqlite:///runs/mlflow.db"  # tracking_uri: null and no MLFLOW_TRACKING_URI: a local store
ID_FILE = "mlflow.json"  # in each directory that has an MLflow run: tracking URI, experiment and run id
FILES = (RunDir.config, RunDir.summary, RunDir.history_csv, RunDir.preprocessing, RunDir.model)
CV_FILES = (RunDir.cv_summary, RunDir.cv_summary_csv, RunDir.fold_indices, RunDir.config)
# a pruned trial was stopped on purpose: KILLED, as MLflow says of a run ended from outside; else FAILED
END_STATUS = {COMPLETED: "FINISHED", EARLY_STOPPED: "FINISHED", INTERRUPTED: "KILLED", PRUNED: "KILLED"}
SKIP = ("epoch", "lr", "time_s", "fold")  # history columns that get no best_ metric


@LOGGERS.register("mlflow")
def mlflow(
    run: RunInfo,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    run_name: str | None = None,
    artifacts: bool = True,
    tags: dict[str, str] | None = None,
    http_retries: int = 2,
    http_timeout: int = 10,
) -> MlflowLogger:
    """An MLflow logger for ``run``.

    Args:
        run: the run's directory and config.
        tracking_uri: where runs go, any URI MLflow takes (``sqlite:///<file>``, ``http(s)://<server>``);
            ``None``: ``$MLFLOW_TRACKING_URI``, else :data:`DEFAULT_URI`. Read at run time, so a URI with a
            password in the environment never reaches ``config.yaml``.
        experiment: the MLflow experiment's name (made when missing); ``None``: ``$MLFLOW_EXPERIMENT_NAME``,
            else ``mltrain``.
        run_name: the MLflow run's name; ``None``: the run directory's name (a job's, a fold's).
        artifacts: upload the run's files at the end.
        tags: extra tags on the run.
        http_retries / http_timeout: retries and seconds per request to a server, so that one that is
            gone costs seconds, not MLflow's default of minutes, before the logger gives up.
    """
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI
    experiment = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or "mltrain"
    return MlflowLogger(run, uri, experiment, run_name, artifacts, dict(tags or {}),
                        http_retries, http_timeout)  # fmt: skip


class MlflowLogger(RunLogger):
    """Logs one mltrain run (a job, a fold) as an MLflow run, nested under its sweep or k-fold parent."""

    kind = "mlflow"

    def __init__(self, run: RunInfo, uri: str, experiment: str, run_name: str | None, artifacts: bool,
                 tags: dict[str, str], retries: int, timeout: int) -> None:  # fmt: skip
        self.run, self.uri, self.experiment, self.run_name = run, uri, experiment, run_name
        self.artifacts, self.tags, self.retries, self.timeout = artifacts, tags, retries, timeout
        self.client: Any = None
        self.experiment_id = self.run_id = ""

    @property
    def target(self) -> str:
        return f"mlflow {redacted(self.uri)}"

    def start(self, trainer: Any) -> None:
        self._connect()
        kind = "fold" if self.run.fold is not None else "job" if self.run.sweep_dir else "run"
        self.run_id, created = self._run_of(self.run.out_dir, self.run_name, self._tags(self._parent(), kind))
        if not created:  # resume=: the same MLflow run goes on
            self.client.update_run(self.run_id, status="RUNNING")
        self._log_params(self.run_id)
        log.info("mlflow: run %s in experiment %s at %s", self.run_id, self.experiment, redacted(self.uri))

    def log_epoch(self, epoch: int, row: dict[str, float]) -> None:
        self._log_metrics({k: v for k, v in row.items() if k != "epoch"}, epoch)

    def finish(self, summary: dict[str, Any]) -> None:
        from mlflow.entities import RunTag

        numbers = {f"best_{k}": v for k, v in (summary.get("best") or {}).items() if k not in SKIP}
        self._log_metrics(numbers | (summary.get("test") or {}), summary.get("best_epoch") or 0)
        diagnosis = summary.get("diagnosis") or {}
        tags = {"diagnosis": diagnosis.get("verdict", ""), "diagnosis_message": diagnosis.get("message", ""),
                "message": summary.get("message") or "",
                "best_epoch": str(summary.get("best_epoch"))}  # fmt: skip
        self.client.log_batch(self.run_id, tags=[RunTag(k, v) for k, v in tags.items() if v])
        if self.artifacts:
            self._upload([*FILES, *(summary.get("artifacts") or [])])
        self.end(summary["status"])

    def end(self, status: str) -> None:
        self.client.set_tag(self.run_id, "status", status)
        self.client.set_terminated(self.run_id, END_STATUS.get(status, "FAILED"))
        if self.run.fold is not None and status in ENDED_EARLY:  # the k-fold run stops with its fold
            self.client.set_terminated(read_run_id(self.run.run_dir), END_STATUS.get(status, "FAILED"))
        if self.run.sweep_dir is not None:  # the sweep's run ends when its last job does
            self.client.set_terminated(read_run_id(self.run.sweep_dir), "FINISHED")

    def finish_cv(self, cv: dict[str, Any]) -> None:
        """The k-fold parent run: mean and std of each fold metric, its status, the summary files."""
        self._connect()
        self.run_id, _ = self._run_of(self.run.out_dir, None, self._tags(self._parent(), "kfold"))
        stats = {f"{key}_{stat}": value for key, values in cv["metrics"].items()
                 for stat, value in values.items() if stat in ("mean", "std")}  # fmt: skip
        self._log_metrics(stats, 0)
        if self.artifacts:
            self._upload(CV_FILES)
        self.end(cv["status"])

    def _connect(self) -> None:
        """The client, and the experiment (made on first use, its artifacts beside a local store)."""
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(self.retries)
        os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(self.timeout)
        _quiet_retries()
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        database = sqlite_path(self.uri)
        with _creating(database):  # parallel sweep jobs: one makes the tables, the others wait for it
            self.client = MlflowClient(tracking_uri=self.uri)
            found = self.client.get_experiment_by_name(self.experiment)
            if found is None:
                location = str(database.parent.resolve() / "mlartifacts") if database is not None else None
                try:
                    self.experiment_id = self.client.create_experiment(self.experiment, location)
                    return
                except MlflowException:  # made by a job that logs to a server
                    found = self.client.get_experiment_by_name(self.experiment)
            self.experiment_id = found.experiment_id

    def _parent(self) -> str | None:
        """The parent run's id: the k-fold run's for a fold, the sweep's for a job (made on first use)."""
        parent, sweep = None, self.run.sweep_dir
        if sweep is not None:
            tags = {"mltrain.kind": "sweep", "mltrain.run_dir": str(sweep.resolve()),
                    "mlflow.note.content": " ".join(["mltrain fit -m", *sweep_overrides(sweep)])}  # fmt: skip
            parent, _ = self._run_of(sweep, None, tags | self.tags)
        if self.run.fold is not None:
            tags = self._tags(parent, "kfold") | {"mltrain.run_dir": str(self.run.run_dir.resolve())}
            parent, created = self._run_of(self.run.run_dir, None, tags)
            if created:
                self._log_params(parent)
        return parent

    def _run_of(self, directory: Path, name: str | None, tags: dict[str, str]) -> tuple[str, bool]:
        return run_for_dir(self.client, self.uri, self.experiment_id, directory, name or directory.name, tags)

    def _tags(self, parent: str | None, kind: str) -> dict[str, str]:
        command = " ".join(["mltrain fit", *self.run.overrides])
        tags = {"mltrain.kind": kind, "mltrain.run_dir": str(self.run.out_dir.resolve()),
                "mlflow.source.name": "mltrain fit", "mlflow.note.content": command, **self.tags}  # fmt: skip
        return tags | ({"mlflow.parentRunId": parent} if parent else {})

    def _log_params(self, run_id: str) -> None:
        """Overrides and the flattened config; a resumed run keeps the values it has (MLflow's rule)."""
        from mlflow.entities import Param

        have = self.client.get_run(run_id).data.params
        flat = {k: v for k, v in flat_config(self.run.cfg).items() if not k.startswith("logger.")}
        params = {"overrides": " ".join(self.run.overrides)} | flat
        new = [Param(k, _text(v)[:6000]) for k, v in params.items() if k not in have]
        for i in range(0, len(new), 100):  # MLflow takes at most 100 params per call
            self.client.log_batch(run_id, params=new[i : i + 100])

    def _log_metrics(self, numbers: dict[str, float | None], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, step) for k, v in numbers.items() if v is not None]
        self.client.log_batch(self.run_id, metrics=metrics)

    def _upload(self, names: Any) -> None:
        """The run directory's files among ``names`` (``plots/x.png`` goes to the artifact folder plots)."""
        for name in dict.fromkeys(names):
            path = self.run.out_dir / name
            if path.is_file():
                folder = str(Path(name).parent)
                self.client.log_artifact(self.run_id, str(path), None if folder == "." else folder)

    def safely_close(self) -> None:
        try:
            if self.client is not None and self.run_id:
                self.client.set_terminated(self.run_id, "FAILED")
        except Exception:  # noqa: BLE001, S110 - already failing; the warning has been given
            pass


def sweep_overrides(sweep_dir: Path) -> list[str]:
    """The overrides a multirun was started with, from Hydra's ``<sweep_dir>/multirun.yaml``."""
    from omegaconf import OmegaConf

    path = RunDir(sweep_dir).sweep_config
    found = OmegaConf.select(OmegaConf.load(path), "hydra.overrides.task") if path.is_file() else None
    return [str(o) for o in found or []]


class _MlflowRetries(logging.Filter):
    """Drops urllib3's warning at each retry of a request to MLflow: the logger reports a failure once."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "/mlflow/" not in record.getMessage()


def _quiet_retries() -> None:
    pool = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _MlflowRetries) for f in pool.filters):
        pool.addFilter(_MlflowRetries())


def _text(value: Any) -> str:
    """A param value as the config spells it: ``null``, ``true``, ``[128, 128]``."""
    return json.dumps(value) if value is None or isinstance(value, (bool, list, dict)) else str(value)


@contextlib.contextmanager
def _creating(database: Path | None) -> Iterator[None]:
    """Hold ``<database>.lock`` while a local SQLite store is opened (MLflow makes its tables then)."""
    if database is None:
        yield
        return
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(database.with_name(database.name + ".lock"), "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def redacted(uri: str) -> str:
    """The URI without a password (``https://user:secret@host`` -> ``https://user@host``), to show or keep."""
    parts = urllib.parse.urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username}@{host}"))


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///<path>`` URI (relative to the working directory), else ``None``."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def read_run_id(directory: Path) -> str:
    """The MLflow run id kept in ``<directory>/mlflow.json``."""
    return json.loads((Path(directory) / ID_FILE).read_text())["run_id"]


def run_for_dir(client: Any, uri: str, experiment_id: str, directory: Path, name: str,
                tags: dict[str, str]) -> tuple[str, bool]:  # fmt: skip
    """The MLflow run of ``directory`` from its ``mlflow.json``, or a new one; ``(run_id, created)``.

    The file is locked while it is read and written, so sweep jobs in parallel processes make one parent.
    """
    from mlflow.exceptions import MlflowException

    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ID_FILE, "a+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        try:
            known = json.loads(f.read() or "{}")
        except ValueError:
            known = {}
        if known.get("tracking_uri") == redacted(uri) and known.get("run_id"):
            try:
                client.get_run(known["run_id"])
                return known["run_id"], False
            except MlflowException:  # deleted from the store: make a new one
                pass
        run = client.create_run(experiment_id, run_name=name, tags=tags)
        f.seek(0)
        f.truncate()
        known = {"tracking_uri": redacted(uri), "experiment_id": experiment_id, "run_id": run.info.run_id}
        json.dump(known, f)
        f.write("\n")
        return run.info.run_id, True
