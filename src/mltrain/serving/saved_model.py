"""A finished ``fit`` run loaded back for ``evaluate`` and ``predict``: config, preprocessing and model.

models = load_run(Path("runs/fit/<run>"))     # one model, or one per fold of a k-fold parent directory
outputs = ensemble_outputs(models, frame)     # raw model outputs on a raw frame (fold models averaged)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import OmegaConf
from torch import Tensor, nn

from mltrain.components.losses import BINARY, MULTICLASS, Loss
from mltrain.components.metrics import METRICS
from mltrain.components.models import MODELS, SUPPLIED
from mltrain.config.spec import RunSpec, build_model, saved_config
from mltrain.data.columns import is_infinite, parse_numbers, require_columns
from mltrain.data.datasets import DATASETS
from mltrain.data.preprocessing import Preprocessor
from mltrain.data.saved_encoding import is_number
from mltrain.errors import ConfigError, DataError, UserError
from mltrain.files import DamagedFile, load_json
from mltrain.rundir import RunDir
from mltrain.training.checkpoints import load_checkpoint
from mltrain.trust import check_code, named_code

MODEL_INPUTS = SUPPLIED  # what build_model passes, not the config


@dataclass
class SavedRun:
    """One trained model with everything needed to apply it to raw rows."""

    path: Path
    spec: RunSpec
    summary: dict[str, Any]
    preprocessor: Preprocessor
    model: nn.Module

    @property
    def loss(self) -> Loss:
        return self.spec.loss

    @property
    def classes(self) -> list[Any] | None:
        return self.preprocessor.classes


def load_run(path: Path, trust_code: bool = False) -> list[SavedRun]:
    """The run's model, or each fold's model for a k-fold parent directory (one with ``fold_<i>/``).

    Args:
        trust_code: import the code the run names (a custom model factory); without it such a run is
            refused (``trust.py``).

    Raises:
        ConfigError: no such directory, a directory without ``model.pt``, code named without trust_code.
    """
    path = Path(path)
    if not path.is_dir():
        raise ConfigError(f"run={path}: no such run directory")
    if RunDir(path).model.is_file():
        return [load_one(path, trust_code)]
    folds = [f.path for f in RunDir(path).folds() if f.model.is_file()]
    if folds:
        return [load_one(f, trust_code) for f in folds]
    raise ConfigError(
        f"run={path} has no {RunDir.model} (an unfinished run, or not a fit run directory); "
        "pass the directory of a finished `mltrain fit` run"
    )


def load_one(path: Path, trust_code: bool = False) -> SavedRun:
    """Rebuild the model of one run directory and load its saved weights.

    Raises:
        ConfigError: a file of the run is missing; the run names code and ``trust_code`` is false.
        DataError: a file of the run cannot be read or parsed, or ``model.pt`` does not fit the model.
    """
    run = RunDir(path)
    for name in (RunDir.config, RunDir.preprocessing, RunDir.summary):
        if not (path / name).is_file():
            raise ConfigError(f"run={path} has no {name}; pass the directory of a finished `mltrain fit` run")
    saved = _read(run.config, saved_config)  # plain data: written resolved, nothing to interpolate
    check_code(named_code(OmegaConf.to_container(saved)), f"run={path}", trust_code)
    spec = _read(run.config, lambda _: _checked_spec(RunSpec.resolve(saved)))
    pre = _read(run.preprocessing, lambda p: Preprocessor.from_dict(load_json(p)))
    summary = _read(run.summary, lambda p: checked_summary(load_json(p)))
    empty = [c for c, m, sd in zip(pre.numeric, pre.mean, pre.scale, strict=False) if m is None or sd is None]
    if empty:  # written by a run before the empty-column check; NaN would spread through every row
        raise DataError(
            f"{run.preprocessing} has no scaling for column {', '.join(map(repr, empty))} "
            "(the column had no values when the run was trained); train the run again without it"
        )
    spec = _with_saved_weights(spec, summary, pre, run.summary)
    shape = summary.get("data", {}).get("input_shape")
    n_classes = len(pre.classes) if pre.classes is not None else 0
    input_shape = tuple(shape) if shape else None
    model = _read(
        run.config, lambda _: build_model(spec, pre.n_features, n_classes, input_shape, len(pre.numeric))
    )
    state = load_checkpoint(run.model)
    try:
        model.load_state_dict(state)
    except (TypeError, RuntimeError, KeyError, AttributeError) as e:
        first = " ".join(str(e).split())[:200]
        raise DataError(
            f"{run.model} does not hold the weights of the model {run.config} describes "
            f"({first}); was it copied from another run?"
        ) from e
    return SavedRun(path, spec, summary, pre, model.eval())


def _with_saved_weights(spec: RunSpec, summary: dict[str, Any], pre: Preprocessor, file: Path) -> RunSpec:
    """The loss weighted as training weighed it: ``loss.class_weight``'s weights as ``summary.json`` recorded
    them (``balanced`` was counted on the training rows, which evaluate does not have).

    Raises:
        DataError: the config asks for class weights and the summary holds no usable ones.
    """
    if spec.loss.class_weight is None:
        return spec
    weights = summary.get("class_weights")
    n_classes = len(pre.classes or [])
    usable = isinstance(weights, list) and len(weights) == n_classes
    if not usable or not all(
        isinstance(w, int | float) and not isinstance(w, bool) and math.isfinite(w) and w > 0 for w in weights
    ):
        raise DataError(
            f"{file} holds no class_weights for the {n_classes} classes (loss.class_weight="
            f"{spec.loss.class_weight} in the config); was the file written by another mltrain or edited?"
        )
    return dataclasses.replace(spec, loss=spec.loss.weighted(weights))


def _read(file: Path, parse: Callable[[Path], Any]) -> Any:
    """``parse(file)``, with a damaged or unreadable file reported as a ``DataError`` naming it.

    A user error (a custom model factory that cannot be imported) passes through as it is.
    """
    try:
        return parse(file)
    except UserError:
        raise
    except OSError as e:
        raise DataError(f"cannot read {file}: {e.strerror or e}") from e
    except DamagedFile as e:
        raise DataError(f"{file} is damaged or not a file mltrain wrote ({e})") from e
    except Exception as e:  # noqa: BLE001 - YAML, JSON and field errors: the file is not what fit wrote
        text = " ".join(str(e).split())[:200]
        raise DataError(f"{file} is damaged or not a file mltrain wrote ({type(e).__name__}: {text})") from e


def _checked_spec(spec: RunSpec) -> RunSpec:
    """A saved config's spec whose metrics, model and dataset keys are what their builders take.

    Raises:
        DamagedFile: naming the first key that is not.
    """
    problems = (
        [] if spec.dataset.name not in DATASETS else DATASETS.check(spec.dataset.name, spec.dataset.options)
    )
    problems += MODELS.check(spec.model.name, spec.model.options, skip=MODEL_INPUTS)
    problems += [
        f"metric {name!r} is not a metric mltrain has" for name in spec.metrics if name not in METRICS
    ]
    options = spec.dataset.options
    if spec.dataset.name == "csv" and not (
        isinstance(options.get("sep", ","), str) and options.get("sep", ",")
    ):
        problems.append(f"dataset.sep={options.get('sep')!r} must be a separator such as ','")
    if problems:
        raise DamagedFile(problems[0])
    return spec


def checked_summary(summary: Any) -> dict[str, Any]:
    """``summary.json``'s content, with the fields ``evaluate`` and the model's shape read checked.

    Raises:
        DamagedFile: naming the first field that is not what ``fit`` writes.
    """
    if not isinstance(summary, dict):
        raise DamagedFile(f"it holds a JSON {type(summary).__name__}, not an object")
    data = summary.get("data", {})
    shape = data.get("input_shape") if isinstance(data, dict) else None
    if not isinstance(data, dict):
        raise DamagedFile(f"data={data!r} must be an object")
    if shape is not None and not (isinstance(shape, list) and all(_count(v) for v in shape)):
        raise DamagedFile(f"data.input_shape={shape!r} must be null or a list of whole numbers >= 1")
    for key in ("best", "test", "final"):
        values = summary.get(key) or {}
        bad = (
            [k for k, v in values.items() if v is not None and not is_number(v)]
            if isinstance(values, dict)
            else [""]
        )
        if bad:
            raise DamagedFile(
                f"{key}{'.' + bad[0] if bad[0] else ''} must hold finite numbers, got {values!r}"[:200]
            )
    if summary.get("fold") is not None and not _count(summary["fold"]):
        raise DamagedFile(f"fold={summary['fold']!r} must be a whole number >= 1")
    return summary


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def csv_options(run: SavedRun) -> dict[str, Any]:
    """How the run read its CSV (``sep``, ``na_values``): predict and evaluate read new rows the same way."""
    dataset = run.spec.dataset
    if dataset.name != "csv":
        return {}
    return {"sep": dataset.options.get("sep", ","), "na_values": dataset.options.get("na_values")}


def check_frame(pre: Preprocessor, frame: pd.DataFrame, source: str) -> None:
    """Every feature column present, finite numbers where the model was trained on numbers, no gap the run
    cannot fill; a category the model never saw is no error (all zeros: ``data.columns.UnseenCategories``).
    Rows are named by ``frame.index`` (a chunk's index continues from the one before it).

    Raises:
        DataError: naming the column and the values.
    """
    require_columns(frame, pre.features, source)
    for column in pre.numeric:
        values = frame[column]
        numbers, text = parse_numbers(values)
        bad = np.flatnonzero(text | is_infinite(numbers))
        if len(bad):
            raise DataError(
                f"{source}: column {column!r} must hold finite numbers (the model was trained on numbers), "
                f"data row {values.index[bad[0]] + 1} holds {_shown(values.iloc[bad[0]])}"
            )
    gaps = [c for c in pre.features if c not in pre.fill and frame[c].isna().any()]
    if gaps:
        raise DataError(
            f"{source} has missing values in {', '.join(map(repr, gaps))} (the run did not impute)"
        )


def _shown(value: Any) -> str:
    """``'oops'`` for text, ``inf`` for a number (not ``np.float64(inf)``)."""
    return repr(value) if isinstance(value, str) else str(value)


@torch.no_grad()
def outputs(run: SavedRun, frame: pd.DataFrame) -> Tensor:
    """Raw model outputs for the rows of a raw frame."""
    x = torch.from_numpy(run.preprocessor.transform(frame))
    return torch.cat([run.model(x[i : i + 4096]) for i in range(0, len(x), 4096)]) if len(x) else run.model(x)


def ensemble_outputs(runs: list[SavedRun], frame: pd.DataFrame) -> Tensor:
    """Outputs of the mean prediction of ``runs``: log of the mean probability (classifiers), mean value.

    The result is shaped like one model's outputs, so losses, metrics and ``loss.labels`` apply as they are.
    """
    loss = runs[0].loss
    raw = [outputs(r, frame) for r in runs]
    if len(raw) == 1:
        return raw[0]
    if loss.task == MULTICLASS:
        return torch.stack([o.softmax(1) for o in raw]).mean(0).clamp_min(1e-12).log()
    if loss.task == BINARY:
        return torch.logit(torch.stack([torch.sigmoid(o) for o in raw]).mean(0), eps=1e-7)
    # regression: each fold standardised the target its own way; average in real units, then use run 0's
    pre = runs[0].preprocessor
    real = torch.stack(
        [o * r.preprocessor.target_scale + r.preprocessor.target_mean for o, r in zip(raw, runs, strict=True)]
    )
    return (real.mean(0) - pre.target_mean) / pre.target_scale


def to_original_units(run: SavedRun, values: Tensor) -> np.ndarray:
    """Regression outputs in the target's own units."""
    pre = run.preprocessor
    return (values.double().numpy() * pre.target_scale + pre.target_mean).reshape(len(values), -1)
