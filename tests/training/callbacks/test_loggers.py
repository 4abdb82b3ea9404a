"""``logger=[tensorboard,mlflow]``: what the trackers hold, read back with their own readers.

    python -m pytest tests/artifacts/test_loggers.py -q            # one logged fit, shared by the checks
    python -m pytest tests/artifacts/test_loggers.py -q -m slow    # the command as a user runs it

TensorBoard's event files are read with TensorBoard's ``EventAccumulator``, the MLflow store with
``MlflowClient``; the numbers must equal ``history.csv``, which mltrain writes by another path.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from mltrain.commands import fit
from mltrain.config.checks import validate_config
from mltrain.config.schemas import register_schemas
from mltrain.rundir import install_resolvers as _install_resolvers
from mltrain.training.callbacks import loggers

SMALL = ["dataset=iris", "model.hidden=[8]", "trainer.batch_size=16", "trainer.device=cpu",
         "trainer.epochs=3", "dataset.test_fraction=0.2", "seed=3"]  # fmt: skip


def compose_fit(overrides: list[str]) -> DictConfig:
    register_schemas()
    _install_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_module("mltrain.conf", version_base="1.3"):
        return compose("fit", overrides=overrides)


@pytest.fixture(autouse=True)
def _loggers_start_enabled() -> Iterator[None]:
    loggers._disabled.clear()  # a failure turns a logger off for the process; each test starts afresh
    yield
    loggers._disabled.clear()


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run logged to both trackers (MLflow in a SQLite store of its own), shared by this module."""
    tmp = tmp_path_factory.mktemp("logged")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    cfg = compose_fit([*SMALL, "logger=[tensorboard,mlflow]", f"logger.mlflow.tracking_uri={uri}",
                       "+logger.mlflow.tags.team=vision"])  # fmt: skip
    summary = fit.run(cfg, tmp / "run")
    history = pd.read_csv(tmp / "run" / "history.csv")
    return {"dir": tmp / "run", "uri": uri, "summary": summary, "history": history}


def tensorboard_events(run_dir: Path) -> Any:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    return events.Reload()


def scalars(events: Any, tag: str) -> tuple[list[int], list[float]]:
    found = events.Scalars(tag)
    return [e.step for e in found], [e.value for e in found]


def test_tensorboard_has_every_history_column_per_epoch(logged: dict[str, Any]) -> None:
    events, history = tensorboard_events(logged["dir"]), logged["history"]

    for column in history.columns.drop("epoch"):
        steps, values = scalars(events, column)
        assert steps == list(history.epoch), column
        assert values == list(history[column].astype("float32")), column  # TensorBoard keeps float32


def test_tensorboard_hparams_hold_the_choices_and_the_status(logged: dict[str, Any]) -> None:
    from tensorboard.plugins.hparams import api_pb2, metadata

    events = tensorboard_events(logged["dir"])
    content = events.PluginTagToContent(metadata.PLUGIN_NAME)

    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    hparams = {k: v.string_value or v.number_value for k, v in start.hparams.items()}
    assert hparams["optimizer"] == "adam" and hparams["dataset"] == "iris" and hparams["seed"] == 3
    assert hparams["optimizer.lr"] == pytest.approx(1e-3) and hparams["metric"] == "accuracy"
    end = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG])
    assert end.status == api_pb2.STATUS_SUCCESS
    assert metadata.EXPERIMENT_TAG not in content  # TensorBoard merges every run's hparams itself


def test_tensorboard_images_are_the_run_plots(logged: dict[str, Any]) -> None:
    from PIL import Image

    events = tensorboard_events(logged["dir"])

    assert sorted(events.Tags()["images"]) == ["plots/confusion_matrix", "plots/learning_curves"]
    for tag in events.Tags()["images"]:
        (image,) = events.Images(tag)
        with Image.open(logged["dir"] / f"{tag}.png") as png:
            assert (image.width, image.height) == png.size and image.step == 3


def mlflow_run(logged: dict[str, Any]) -> Any:
    from mlflow import MlflowClient

    client = MlflowClient(logged["uri"])
    (run,) = client.search_runs([client.get_experiment_by_name("mltrain").experiment_id])
    return client, run


def test_mlflow_metrics_per_epoch_equal_history_csv(logged: dict[str, Any]) -> None:
    client, run = mlflow_run(logged)
    history = logged["history"]

    for column in history.columns.drop("epoch"):
        logged_history = client.get_metric_history(run.info.run_id, column)
        assert [m.step for m in logged_history] == list(history.epoch), column
        assert [m.value for m in logged_history] == list(history[column]), column
    best, test = logged["summary"]["best"], logged["summary"]["test"]
    assert run.data.metrics["best_val_loss"] == best["val_loss"] == history.val_loss.min()
    assert run.data.metrics["test_accuracy"] == test["test_accuracy"]


def test_mlflow_run_has_params_tags_and_artifacts(logged: dict[str, Any]) -> None:
    client, run = mlflow_run(logged)
    summary = json.loads((logged["dir"] / "summary.json").read_text())

    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    assert run.data.params["optimizer.lr"] == "0.001" and run.data.params["model.hidden"] == "[8]"
    assert run.data.params["dataset.name"] == "iris" and run.data.params["seed"] == "3"
    assert run.data.tags["status"] == summary["status"] == "completed"
    assert run.data.tags["diagnosis"] == summary["diagnosis"]["verdict"]
    assert run.data.tags["team"] == "vision"
    assert not [k for k in run.data.params if k.startswith("logger.")]  # where it logs is no hyperparameter
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"model.pt", "summary.json", "preprocessing.json", "history.csv", "config.yaml", "plots"} <= names
    assert {a.path for a in client.list_artifacts(run.info.run_id, "plots")} == {
        "plots/learning_curves.png", "plots/confusion_matrix.png"}  # fmt: skip
    local = Path(client.download_artifacts(run.info.run_id, "model.pt", str(logged["dir"].parent)))
    assert local.read_bytes() == (logged["dir"] / "model.pt").read_bytes()
    assert json.loads((logged["dir"] / "mlflow.json").read_text())["run_id"] == run.info.run_id


def test_a_tracker_failing_mid_run_warns_once_and_the_run_completes(
    logged: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from mlflow import MlflowClient

    calls = []

    def flaky(self: Any, run_id: str, metrics: Any = (), **kwargs: Any) -> None:
        calls.append(len(metrics))
        if len(calls) >= 2:  # the second epoch: the store has gone away
            raise ConnectionError("tracking server went away")

    cfg = compose_fit([*SMALL, "logger=[mlflow,tensorboard]", f"logger.mlflow.tracking_uri={logged['uri']}"])
    monkeypatch.setattr(MlflowClient, "log_batch", flaky)

    with caplog.at_level(logging.WARNING, logger="mltrain"):
        summary = fit.run(cfg, tmp_path / "run")

    warnings = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert warnings == ["logger mlflow failed to log epoch (ConnectionError: tracking server went away); "
                        "the run goes on without it"]  # fmt: skip
    assert summary["status"] == "completed" and summary["epochs_completed"] == 3
    assert len(pd.read_csv(tmp_path / "run" / "history.csv")) == 3
    assert len(scalars(tensorboard_events(tmp_path / "run"), "loss")[0]) == 3  # the other logger goes on


def test_a_server_that_does_not_answer_costs_one_warning_and_no_more_calls(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # tracking_uri: null reads it
    cfg = compose_fit([*SMALL, "logger=[mlflow]", "logger.mlflow.http_retries=0"])
    (logger,) = loggers.build_loggers(cfg, tmp_path)
    trainer = SimpleNamespace(history=[], status="completed")

    with caplog.at_level(logging.WARNING, logger="mltrain"):
        logger.on_fit_begin(trainer)  # the whole run, as the trainer and fit_rows call it
        for epoch in (1, 2):
            logger.on_epoch_end(trainer, epoch, {"epoch": epoch, "loss": 0.5})
        logger.on_fit_end(trainer)
        loggers.finish_loggers([logger], {"status": "completed", "best_epoch": 2, "artifacts": []})

    (warning,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warning.startswith(
        "logger mlflow failed to start (MlflowException: API request to http://127.0.0.1:9"
    )
    assert "Connection refused" in warning and warning.endswith("the run goes on without it")
    assert loggers._disabled == {"mlflow http://127.0.0.1:9"}  # the end-to-end run: tests/test_loggers_cli.py


def test_missing_package_and_mistyped_key_are_config_problems(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if not installed: find_spec answers None
    cfg = compose_fit(["logger=[mlflow,tensorboard]", "+logger.tensorboard.image=false"])

    problems = validate_config(cfg)

    assert problems == [
        'logger=mlflow needs the mlflow package: pip install -e ".[mlflow]" (or pip install mlflow)',
        "logger.tensorboard.image is not an option of logger=tensorboard; valid: hparams, images; "
        "did you mean images?",
    ]


def test_default_is_no_logger_and_history_files_still_written(tmp_path: Path) -> None:
    cfg = compose_fit([])

    assert list(cfg.logger) == [] and loggers.build_loggers(cfg, tmp_path) == []


def test_hyperparameters_are_the_choices_and_the_overridden_keys(tmp_path: Path) -> None:
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "overrides.yaml").write_text(
        "- model.hidden=[32,16]\n- +model.kwargs.width=4\n- debug=smoke\n- logger=[mlflow]\n"
        "- logger.mlflow.run_name=x\n"
    )
    cfg = compose_fit(["model.hidden=[32,16]", "debug=smoke"])

    found = loggers.hyperparameters(loggers.RunInfo(cfg, tmp_path))

    assert found == {"optimizer": "adam", "loss": "sparse_categorical_crossentropy", "dataset": "digits",
                     "model": "mlp", "validation": "split", "scheduler": "none", "metric": "accuracy",
                     "seed": 0, "optimizer.lr": 0.001, "trainer.epochs": 1, "trainer.batch_size": 64,
                     "model.hidden": "32,16", "model.kwargs.width": "4", "debug": "smoke"}  # fmt: skip


@pytest.mark.parametrize("stem", ["tensorboard", "mlflow"])
def test_yaml_holds_exactly_the_builders_arguments_with_its_defaults(stem: str) -> None:
    import inspect
    from importlib.resources import files

    from omegaconf import OmegaConf

    node = OmegaConf.to_container(OmegaConf.load(str(files("mltrain.conf") / "logger" / f"{stem}.yaml")),
                                  resolve=True)  # fmt: skip
    params = inspect.signature(loggers.LOGGERS.get(stem)).parameters

    assert list(node) == [stem]
    assert {k: v for k, v in node[stem].items()} == {
        k: ({} if p.default is None and k == "tags" else p.default) for k, p in params.items() if k != "run"
    }


def test_a_password_in_the_tracking_uri_is_never_shown_or_kept() -> None:
    from mltrain.training.callbacks.loggers.mlflow_logger import redacted

    assert redacted("https://bob:s3cret@mlflow.example:5000/x") == "https://bob@mlflow.example:5000/x"
    assert redacted("postgresql://u:pw@db/mlflow") == "postgresql://u@db/mlflow"
    assert redacted("sqlite:///runs/mlflow.db") == "sqlite:///runs/mlflow.db"


def test_logger_overrides_do_not_name_the_run_directory() -> None:
    from mltrain.rundir import slug

    overrides = ("logger=[tensorboard,mlflow]", "logger.mlflow.tracking_uri=http://127.0.0.1:5000",
                 "optimizer=nadam")  # fmt: skip

    assert slug(overrides) == "optimizer-nadam"


def test_an_interrupted_run_is_killed_in_mlflow_and_a_failure_in_tensorboard(
    logged: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient
    from tensorboard.plugins.hparams import api_pb2, metadata

    from mltrain.training.trainer import Trainer

    train_epoch, epochs = Trainer.train_epoch, []

    def ctrl_c_in_epoch_2(self: Trainer, data: Any) -> Any:
        epochs.append(1)
        if len(epochs) == 2:
            raise KeyboardInterrupt
        return train_epoch(self, data)

    monkeypatch.setattr(Trainer, "train_epoch", ctrl_c_in_epoch_2)
    cfg = compose_fit([*SMALL, "logger=[mlflow,tensorboard]", f"logger.mlflow.tracking_uri={logged['uri']}"])

    with pytest.raises(KeyboardInterrupt):
        fit.run(cfg, tmp_path / "run")

    client = MlflowClient(logged["uri"])
    run = client.get_run(json.loads((tmp_path / "run" / "mlflow.json").read_text())["run_id"])
    assert run.info.status == "KILLED" and run.data.tags["status"] == "interrupted"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")] == [1]  # the epoch before
    content = tensorboard_events(tmp_path / "run").PluginTagToContent(metadata.PLUGIN_NAME)
    end = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG])
    assert end.status == api_pb2.STATUS_FAILURE
