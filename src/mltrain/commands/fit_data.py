"""The data of a fit: load and validate it, pick the rows of each part, encode them for the model.

Shared by a single fit (``commands/single_run.py``) and k-fold (``commands/kfold.py``):

    table = drop_missing(setup_data(cfg))      # one ConfigError listing every problem, before training
    spec = RunSpec.resolve(cfg)                # the checked config, resolved once (config/spec.py)
    rows = split_rows(spec.splitting, table, spec.loss)   # train / val / test row indices
    data = prepare(table, spec.loss, rows, device)  # preprocessing fitted on the training rows, tensors
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from mltrain.components.losses import Loss
from mltrain.components.registry import options
from mltrain.config.data_problems import validate
from mltrain.config.spec import Splitting
from mltrain.data.columns import UnseenCategories
from mltrain.data.datasets import DATASETS, Table
from mltrain.data.memory import budget
from mltrain.data.preprocessing import Preprocessor, class_codes, split_indices
from mltrain.errors import ConfigError, DataError
from mltrain.training.trainer import Split


@dataclass
class Rows:
    """Row indices (into the table after dropping missing rows) of each part of the data."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


@dataclass
class Prepared:
    """Encoded data on the device, and what the model and metrics need to know about it."""

    train: Split
    val: Split | None
    test: Split | None
    preprocessor: Preprocessor
    n_classes: int
    input_shape: tuple[int, ...] | None


def setup_data(cfg: DictConfig) -> Table:
    """Load the raw table and validate the whole config against it (one error listing every problem)."""
    table, problems = None, []
    loadable = not OmegaConf.missing_keys(cfg.dataset) and not DATASETS.check(
        cfg.dataset.name, options(cfg.dataset)
    )
    if loadable:
        try:
            table = DATASETS.get(cfg.dataset.name)(**options(cfg.dataset))
            table = dataclasses.replace(table, numeric=cfg.dataset.get("numeric") or "standard")
        except DataError as e:
            problems.append(str(e))
    try:
        validate(cfg, table, problems)
    except MemoryError:  # the data checks hold a column or two more than the table: past a tight limit
        raise DataError(
            f"{table.name}: ran out of memory while checking the data ({budget()[1]}); use a sample of the "
            "rows, fewer columns (dataset.features), or raise the limit"
        ) from None
    return table


def class_labels(table: Table, loss: Loss) -> np.ndarray | None:
    """The target as class numbers for stratifying (classifiers), ``None`` for regression."""
    return class_codes(table.frame[table.target]) if loss.is_classifier else None


def holdout_rows(split: Splitting, table: Table, loss: Loss) -> tuple[np.ndarray, np.ndarray]:
    """``(rest, test)``: the ``dataset.test_fraction`` test rows, held out (stratified) before validation."""
    n, fraction = len(table.frame), split.test_fraction or 0
    if not fraction:
        return np.arange(n), np.arange(0)
    rest, test = split_indices(n, fraction, split.seed, class_labels(table, loss))
    if len(rest) == 0:
        raise ConfigError(f"dataset.test_fraction={fraction} leaves no rows to train on of {n}")
    return rest, test


def split_rows(split: Splitting, table: Table, loss: Loss) -> Rows:
    """Training, validation and test rows of a ``validation=split`` or ``validation=none`` run."""
    rest, test = holdout_rows(split, table, loss)
    fraction = split.validation.fraction
    if split.validation.kind != "split":
        return Rows(rest, np.arange(0), test)
    labels = class_labels(table, loss)
    train, val = split_indices(len(rest), fraction, split.seed, None if labels is None else labels[rest])
    if len(train) == 0:
        raise ConfigError(f"validation.fraction={fraction} leaves no training rows of {len(rest)}")
    return Rows(rest[train], rest[val], test)


def prepare(table: Table, loss: Loss, rows: Rows, device: torch.device) -> Prepared:
    """Fit the preprocessing on the training rows, encode every part, move tensors to the device."""
    pre = Preprocessor.fit(table, rows.train, loss.is_classifier)
    for name, idx in (("validation", rows.val), ("test", rows.test)) if pre.categories else ():
        unseen = UnseenCategories(f"{table.name}: the {name} rows")  # all zeros, as predict encodes them
        unseen.add(table.frame[list(pre.categories)].iloc[idx], [pre.categories])
        unseen.warn()
    x = torch.from_numpy(pre.transform(table.frame)).to(device)
    y = loss.encode_targets(torch.from_numpy(pre.encode_target(table.frame[table.target]))).to(device)

    def part(idx: np.ndarray) -> Split | None:
        return Split(x[idx], y[idx]) if len(idx) else None

    n_classes = len(pre.classes) if pre.classes is not None else 0
    return Prepared(Split(x[rows.train], y[rows.train]), part(rows.val), part(rows.test), pre, n_classes,
                    table.input_shape)  # fmt: skip


def target_scale(pre: Preprocessor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Regression targets are standardised for training; metrics undo it to report real units."""
    if pre.target_mean is None:
        return None
    return torch.tensor(pre.target_mean), torch.tensor(pre.target_scale)
