"""Checks that refuse bad data and bad values before training, called directly (milliseconds each).

    python -m pytest tests/components/test_data_checks.py -q

``tests/test_bad_input.py`` runs the same faults through the command line.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from mltrain.commands.fit_data import split_rows
from mltrain.components.losses import LOSSES, check_loss
from mltrain.components.models import MODELS
from mltrain.components.schedulers import check_scheduler
from mltrain.config.data_problems import row_problems
from mltrain.config.spec import Splitting
from mltrain.data.checks import column_problems
from mltrain.data.datasets import DATASETS, Table
from mltrain.errors import ConfigError, DataError


def table(frame: pd.DataFrame, features: list[str] | None = None, missing: str = "error") -> Table:
    chosen = features if features is not None else [c for c in frame.columns if c != "y"]
    return Table("data.csv", frame, "y", chosen, None, None, missing, features is not None)


def frame(rows: int = 60, **columns: object) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    base = pd.DataFrame({"a": rng.normal(size=rows), "y": np.tile(["p", "q"], rows // 2)})
    return base.assign(**columns)


def test_a_clean_table_with_a_small_categorical_column_passes() -> None:
    assert column_problems(table(frame(island=np.tile(["Biscoe", "Dream", "Torgersen"], 20)))) == []


def test_infinite_values_are_refused_naming_column_and_row() -> None:
    values = np.ones(60)
    values[[4, 9]] = [np.inf, -np.inf]
    (problem,) = column_problems(table(frame(b=values)))
    assert "column 'b'" in problem and "2 infinite value(s)" in problem and "data row 5" in problem


@pytest.mark.parametrize(("missing", "said"), [("impute", "nothing to fill"), ("drop", "drop every row")])
def test_an_empty_column_is_refused_when_missing_values_are_handled(missing: str, said: str) -> None:
    (problem,) = column_problems(table(frame(b=np.nan), missing=missing))
    assert "column 'b'" in problem and said in problem and "dataset.features=[a]" in problem


def test_no_feature_column_is_refused() -> None:
    assert "has no feature columns" in column_problems(table(frame()[["y"]]))[0]
    assert "dataset.features=[] selects no" in column_problems(table(frame(), features=[]))[0]


def mixed() -> pd.DataFrame:
    values = pd.Series(np.round(np.linspace(0, 5, 60), 2), dtype=object)
    values[::6] = "unknown"
    return frame(m=values)


def test_numbers_with_some_text_are_refused_with_na_values_hint() -> None:
    (problem,) = column_problems(table(mixed()))
    assert "column 'm'" in problem and "'unknown' (10x)" in problem
    assert "dataset.na_values=[unknown]" in problem and "dataset.features=[a]" in problem


def test_an_id_column_is_refused_but_text_categories_are_not() -> None:
    ids = [f"user{i}" for i in range(60)]
    (problem,) = column_problems(table(frame(id=ids)))
    assert "column 'id'" in problem and "60 distinct text values in 60 rows" in problem
    few = np.tile([f"city{i}" for i in range(25)], 4)[:60]  # 25 distinct in 60 rows: not an id
    assert column_problems(table(frame(city=few))) == []


@pytest.mark.parametrize("odd", [[], ["first name", "2019", "it's"], ["price $", "back\\slash"]])
def test_the_hint_for_an_id_column_can_be_pasted_as_it_is(
    compose_fit: Callable[..., DictConfig], odd: list[str]
) -> None:
    """Twelve other columns (the hint used to stop at eight and end in ``...``); with names such as
    ``first name`` and ``2019`` the list is quoted for Hydra and for the shell."""
    names = [f"c{i}" for i in range(12)] + odd
    data = frame(**{n: np.arange(60.0) for n in names}, id=[f"user{i}" for i in range(60)])
    (problem,) = column_problems(table(data))

    override = problem.split("leave it out with ")[1]
    cfg = compose_fit(["dataset=csv", "dataset.path=d.csv", "dataset.target=y", *shlex.split(override)])
    assert list(cfg.dataset.features) == ["a", *names]


def test_a_suspicious_column_the_user_named_is_used_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    data = mixed().assign(id=[f"user{i}" for i in range(60)])
    with caplog.at_level(logging.WARNING):
        assert column_problems(table(data, features=["a", "m", "id"])) == []
    assert (
        "column 'm'" in caplog.text
        and "column 'id'" in caplog.text
        and "dataset.features names it" in caplog.text
    )


def test_csv_loader_refuses_an_empty_separator_and_duplicate_names_and_reads_na_values(
    tmp_path: Path,
) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,b,a,y\n1,2,3,p\n4,5,6,q\n")
    with pytest.raises(DataError, match="more than one column named 'a'"):
        DATASETS.get("csv")(path=str(path), target="y")
    with pytest.raises(DataError, match="dataset.sep='' is empty"):
        DATASETS.get("csv")(path=str(path), target="y", sep="")
    path.write_text("a,y\n1.5,p\nunknown,q\n2.5,p\n")
    loaded = DATASETS.get("csv")(path=str(path), target="y", na_values=["unknown"])
    assert (
        loaded.frame.a.isna().tolist() == [False, True, False] and loaded.frame.a.dtype.kind == "f"
    )  # float32 since large-file reading


@pytest.mark.parametrize(
    ("name", "key", "bad", "good"),
    [("cosine", "T_max", 0, None), ("cosine", "T_max", -3, 5), ("step", "step_size", 0, 1),
     ("step", "gamma", -1, 0.5), ("plateau", "factor", 2, 0.5), ("plateau", "factor", 1, 0.1),
     ("none", "warmup_epochs", -1, 0), ("cosine", "eta_min", -1e-3, 0.0), ("plateau", "patience", -1, 0),
     ("step", "gamma", float("nan"), 0.5), ("cosine", "eta_min", float("inf"), 0.0),
     ("plateau", "min_lr", float("nan"), 0.0), ("plateau", "patience", float("inf"), 3),
     ("cosine", "T_max", float("inf"), 5)],
)  # fmt: skip
def test_scheduler_ranges(name: str, key: str, bad: object, good: object) -> None:
    (problem,) = check_scheduler(name, {key: bad})
    assert f"scheduler.{key}" in problem and f"got {bad}" in problem
    assert check_scheduler(name, {key: good}) == []


def test_loss_ranges() -> None:
    assert "loss.label_smoothing" in check_loss("ce", {"label_smoothing": 2})[0]
    assert "loss.pos_weight" in check_loss("bce", {"pos_weight": 0})[0]
    assert "loss.delta" in check_loss("huber", {"delta": -1})[0]
    assert check_loss("ce", {"label_smoothing": 1.0}) == [] and check_loss("mse", {}) == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("label_smoothing", "nan"),
        ("pos_weight", "nan"),
        ("pos_weight", "inf"),
        ("delta", "nan"),
        ("delta", "inf"),
    ],  # fmt: skip
)
def test_loss_numbers_must_be_finite(key: str, value: str) -> None:
    (problem,) = check_loss("ce", {key: float(value)})
    assert problem.startswith(f"loss.{key} must be ") and problem.endswith(f"got {value}")


# ---- enough rows to train on: what validate predicts is what the split does ----------------------


def split_cfg(validation: str, fraction: float, test_fraction: float, loss: str) -> object:
    node = (
        {"name": validation, "fraction": fraction} if validation == "split" else {"name": validation, "k": 3}
    )
    return OmegaConf.create({"seed": 0, "loss": {"name": loss}, "validation": node,
                             "dataset": {"test_fraction": test_fraction}})  # fmt: skip


@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize("validation", ["split", "none"])
def test_row_problems_agree_with_the_split_that_fit_makes(validation: str, loss: str) -> None:
    classes = 3 if loss == "ce" else 0
    for n in (3, 4, 5, 6, 8, 11, 15):
        data = table(pd.DataFrame({"a": np.arange(n, dtype=float), "y": np.arange(n) % 3}))
        for test_fraction in (0, 0.3, 0.9):
            for fraction in (0.2, 0.8):
                cfg = split_cfg(validation, fraction, test_fraction, loss)
                problems = row_problems(cfg, data, LOSSES.get(loss)())
                try:
                    train = len(split_rows(Splitting.of(cfg), data, LOSSES.get(loss)()).train)
                except ConfigError:  # the split's own last-resort refusal: no rows at all
                    train = 0
                assert (problems == []) == (train >= max(2, classes)), (n, test_fraction, fraction)


def test_row_problems_blame_the_key_that_took_the_rows() -> None:
    data = table(pd.DataFrame({"a": np.arange(100.0), "y": np.arange(100) % 2}))
    (held,) = row_problems(split_cfg("split", 0.2, 0.99, "ce"), data, LOSSES.get("ce")())
    assert (
        held.startswith("dataset.test_fraction=0.99 holds out 99 of the 100 rows")
        and "validation" not in held
    )
    (val,) = row_problems(split_cfg("split", 0.99, 0, "ce"), data, LOSSES.get("ce")())
    assert val.startswith("validation.fraction=0.99 leaves 1 training row(s) of 100")


# ---- a user's model factory ----------------------------------------------------------------------


def build(factory: str) -> nn.Module:
    return MODELS.get("custom")(in_features=3, out_features=2, factory=factory)


@pytest.mark.parametrize(
    ("factory", "said"),
    [("torch.nn:Identity", "returned a Identity module with no trainable parameters"),
     ("torch.nn:Bilinear", "raised TypeError"),
     ("tests.data.test_checks:_frozen", "returned a Linear module with no trainable parameters"),
     ("tests.data.test_checks:_too_wide", "maps a batch of shape (2, 3) to (2, 7)"),
     ("tests.data.test_checks:_reads_a_file", "raised FileNotFoundError"),
     ("tests.data.test_checks:_wrong_input", "forward raised RuntimeError")],
)  # fmt: skip
def test_a_broken_factory_is_one_config_error_naming_it(factory: str, said: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build(factory)
    assert str(caught.value).startswith(f"model.factory={factory}") and said in str(caught.value)


def _frozen(in_features: int, out_features: int) -> nn.Module:
    return nn.Linear(in_features, out_features).requires_grad_(False)


def _too_wide(in_features: int, out_features: int) -> nn.Module:
    return nn.Linear(in_features, 7)


def _reads_a_file(in_features: int, out_features: int) -> nn.Module:
    return torch.load("/nonexistent/weights.pt")


def _wrong_input(in_features: int, out_features: int) -> nn.Module:
    return nn.Linear(in_features + 1, out_features)


def _with_batch_norm(in_features: int, out_features: int) -> nn.Module:
    return nn.Sequential(nn.Linear(in_features, 4), nn.BatchNorm1d(4), nn.Linear(4, out_features))


def test_the_shape_probe_changes_nothing_in_the_model() -> None:
    torch.manual_seed(0)
    model = build("tests.data.test_checks:_with_batch_norm")
    torch.manual_seed(0)
    fresh = _with_batch_norm(3, 2)
    assert model.training
    for (k, a), (_, b) in zip(model.state_dict().items(), fresh.state_dict().items(), strict=True):
        assert torch.equal(a, b), k  # BatchNorm's running statistics included
