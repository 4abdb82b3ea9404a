"""Config checks of the registries and components: ``pytest tests/components/test_registry.py``.

Each check returns a list of messages; the tests assert that each message names the key, the bad value
and what to use instead.
"""

from __future__ import annotations

import pytest

from mltrain.components.losses import BINARY, MULTICLASS, REGRESSION
from mltrain.components.metrics import check_metrics
from mltrain.components.models import MODELS, SUPPLIED, check_model
from mltrain.components.optimizers import OPTIMIZERS, check_optimizer
from mltrain.components.registry import Registry
from mltrain.data.datasets import DATASETS

# --- Registry ------------------------------------------------------------------------------------


def _toy() -> Registry:
    toy: Registry = Registry("toy")

    @toy.register("widget", "wid")
    def widget(size: int, ratio: float = 0.5, tags: list[str] | None = None, on: bool = False) -> dict:
        return {"size": size, "ratio": ratio, "tags": tags, "on": on}

    return toy


def test_register_names_and_aliases() -> None:
    toy = _toy()
    assert toy.names() == ["wid", "widget"]
    assert "wid" in toy and "gadget" not in toy
    assert toy.get("wid") is toy.get("widget")
    assert toy.get("widget")(size=3) == {"size": 3, "ratio": 0.5, "tags": None, "on": False}


def test_registering_a_name_twice_fails() -> None:
    toy = _toy()
    with pytest.raises(ValueError, match="'widget' is registered twice"):
        toy.register("widget")(lambda: None)


def test_get_unknown_lists_the_choices() -> None:
    with pytest.raises(
        KeyError, match="toy=widgte is not valid; choose from wid, widget; did you mean widget"
    ):
        _toy().get("widgte")


def test_check_accepts_a_valid_node() -> None:
    toy = _toy()
    assert toy.check("widget", {"size": 2, "ratio": 1, "tags": ["a", "b"], "on": True}) == []
    assert toy.check("widget", {"size": 2, "tags": None}) == []


def test_check_unknown_name() -> None:
    problems = OPTIMIZERS.check("adm", {}, ("params",))
    assert problems == [
        "optimizer=adm is not valid; choose from adagrad, adam, adamax, adamw, nadam, rmsprop, sgd; "
        "did you mean adam?"
    ]


def test_check_unknown_key_says_did_you_mean() -> None:
    problems = OPTIMIZERS.check("adam", {"lrr": 0.1}, ("params",))
    assert len(problems) == 1
    assert problems[0].startswith("optimizer.lrr is not an option of optimizer=adam")
    assert "valid: amsgrad, betas, eps, lr, weight_decay" in problems[0]  # params is supplied, not listed
    assert problems[0].endswith("did you mean lr?")


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("lr", "abc", "optimizer.lr='abc' must be a number for optimizer=adam"),
        ("lr", True, "optimizer.lr=True must be a number for optimizer=adam"),
        ("amsgrad", "yes", "optimizer.amsgrad='yes' must be true or false for optimizer=adam"),
        ("betas", [0.9, "x"], "optimizer.betas=[0.9, 'x'] must be a list of numbers for optimizer=adam"),
    ],
)
def test_check_wrong_types(key: str, value: object, expected: str) -> None:
    assert OPTIMIZERS.check("adam", {key: value}, ("params",)) == [expected]


def test_check_accepts_an_int_where_a_float_is_wanted() -> None:
    assert OPTIMIZERS.check("sgd", {"lr": 1, "momentum": 0}, ("params",)) == []


def test_check_wrong_types_of_lists_and_optionals() -> None:
    assert MODELS.check("mlp", {"hidden": [64, 1.5]}, SUPPLIED) == [
        "model.hidden=[64, 1.5] must be a list of integers for model=mlp"
    ]
    assert DATASETS.check("synthetic", {"informative": "x"}) == [
        "dataset.informative='x' must be an integer or null for dataset=synthetic"
    ]
    assert DATASETS.check("synthetic", {"informative": None}) == []


def test_check_missing_required_keys() -> None:
    assert MODELS.check("custom", {}, SUPPLIED) == ["model.factory is required for model=custom"]
    assert DATASETS.check("csv", {}) == [
        "dataset.path is required for dataset=csv",
        "dataset.target is required for dataset=csv",
    ]


def test_check_collects_every_problem() -> None:
    problems = OPTIMIZERS.check("adam", {"lrr": 0.1, "eps": "tiny", "amsgrad": 1}, ("params",))
    assert [p.split("=")[0].split(" ")[0] for p in problems] == [
        "optimizer.lrr",
        "optimizer.eps",
        "optimizer.amsgrad",
    ]


# --- check_optimizer -----------------------------------------------------------------------------


def test_check_optimizer_accepts_the_defaults() -> None:
    for name in OPTIMIZERS.names():
        assert check_optimizer(name, {}) == [], name


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"lr": 0}, "optimizer.lr must be > 0, got 0"),
        ({"lr": -1e-3}, "optimizer.lr must be > 0, got -0.001"),
        ({"weight_decay": -0.1}, "optimizer.weight_decay must be >= 0, got -0.1"),
        ({"momentum": 1.0}, "optimizer.momentum must be in [0, 1), got 1.0"),
        ({"momentum": -0.5}, "optimizer.momentum must be in [0, 1), got -0.5"),
        ({"betas": [0.9]}, "optimizer.betas must be two numbers in [0, 1), got [0.9]"),
        ({"betas": [0.9, 1.0]}, "optimizer.betas must be two numbers in [0, 1), got [0.9, 1.0]"),
    ],
)
def test_check_optimizer_ranges(kwargs: dict, expected: str) -> None:
    assert check_optimizer("adam", kwargs) == [expected]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"lr": float("nan")}, "optimizer.lr must be > 0, got nan"),
        ({"lr": float("inf")}, "optimizer.lr must be a finite number > 0, got inf"),
        ({"weight_decay": float("nan")}, "optimizer.weight_decay must be >= 0, got nan"),
        ({"weight_decay": float("inf")}, "optimizer.weight_decay must be a finite number >= 0, got inf"),
        ({"eps": float("nan")}, "optimizer.eps must be >= 0, got nan"),
        ({"betas": [0.9, float("nan")]}, "optimizer.betas must be two numbers in [0, 1), got [0.9, nan]"),
        ({"dampening": float("-inf")}, "optimizer.dampening must be a finite number, got -inf"),
    ],
)
def test_check_optimizer_refuses_nan_and_infinity(kwargs: dict, expected: str) -> None:
    assert check_optimizer("sgd" if "dampening" in kwargs else "adam", kwargs) == [expected]


def test_check_optimizer_nesterov_needs_momentum_without_dampening() -> None:
    assert check_optimizer("sgd", {"nesterov": True, "momentum": 0.9, "dampening": 0.0}) == []
    for kwargs in ({"nesterov": True}, {"nesterov": True, "momentum": 0.9, "dampening": 0.1}):
        (problem,) = check_optimizer("sgd", kwargs)
        assert problem.startswith("optimizer.nesterov=true needs optimizer.momentum > 0")


def test_check_optimizer_collects_every_problem() -> None:
    assert len(check_optimizer("sgd", {"lr": 0, "weight_decay": -1, "momentum": 2.0})) == 3


# --- check_model ---------------------------------------------------------------------------------


def test_check_model_accepts_the_defaults() -> None:
    assert check_model("mlp", {"hidden": [128, 128], "activation": "relu", "dropout": 0.0}, None) == []
    assert check_model("cnn", {"channels": [32, 64], "hidden": 128}, (1, 8, 8)) == []
    assert check_model("linear", {}, None) == []


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"hidden": [64, 0]}, "model.hidden=[64, 0] must hold sizes >= 1"),
        ({"hidden": 0}, "model.hidden=[0] must hold sizes >= 1"),
        ({"channels": [16, -1]}, "model.channels=[16, -1] must hold sizes >= 1"),
        ({"dropout": 1.0}, "model.dropout must be in [0, 1), got 1.0"),
        ({"dropout": -0.1}, "model.dropout must be in [0, 1), got -0.1"),
    ],
)
def test_check_model_ranges(kwargs: dict, expected: str) -> None:
    assert check_model("mlp", kwargs, None) == [expected]


def test_check_model_bad_activation_says_did_you_mean() -> None:
    (problem,) = check_model("mlp", {"activation": "rleu"}, None)
    assert problem.startswith("model.activation=rleu is not valid; choose from elu, gelu, leaky_relu, relu")
    assert problem.endswith("did you mean relu?")


@pytest.mark.parametrize("shape", [None, (64,), (8, 8)])
def test_check_model_cnn_needs_an_image_shape(shape: tuple | None) -> None:
    (problem,) = check_model("cnn", {}, shape)
    assert "model=cnn needs image-shaped data" in problem
    assert "model=mlp" in problem


# --- check_metrics -------------------------------------------------------------------------------


def test_check_metrics_accepts_fitting_metrics() -> None:
    binary = {"accuracy": {}, "f1": {"average": "binary"}, "auroc": {}, "top_k_accuracy": {"k": 1}}
    assert check_metrics(binary, BINARY, 2) == []
    multiclass = {"accuracy": {}, "precision": {"average": "weighted"}, "top_k_accuracy": {"k": 3}}
    assert check_metrics(multiclass, MULTICLASS, 10) == []
    assert check_metrics({"mae": {}, "mse": None, "rmse": {}, "r2": {}}, REGRESSION, 0) == []


def test_check_metrics_regression_metric_on_a_classifier() -> None:
    (problem,) = check_metrics({"mae": {}}, MULTICLASS, 3)
    assert problem.startswith("metric=mae is for regression, but the target has 3 classes; use metric=[")
    assert "accuracy" in problem


def test_check_metrics_classifier_metric_on_regression() -> None:
    (problem,) = check_metrics({"accuracy": {}}, REGRESSION, 0)
    assert problem.startswith("metric=accuracy needs class labels, but the target is continuous")
    assert problem.endswith("use metric=[mae,mse,r2,rmse]")


def test_check_metrics_auroc_needs_two_classes() -> None:
    assert check_metrics({"auroc": {}}, MULTICLASS, 3) == [
        "metric=auroc needs a binary target, but the target has 3 classes"
    ]


@pytest.mark.parametrize(("k", "n_classes"), [(5, 3), (3, 3), (0, 3), (2, 2), ("two", 10)])
def test_check_metrics_top_k_range(k: object, n_classes: int) -> None:
    assert check_metrics({"top_k_accuracy": {"k": k}}, MULTICLASS, n_classes) == [
        f"metric.top_k_accuracy.k={k} must be an integer from 1 to {n_classes - 1} for {n_classes} classes"
    ]


def test_check_metrics_bad_average() -> None:
    problems = check_metrics({"f1": {"average": "macr"}, "precision": {"average": "binary"}}, MULTICLASS, 3)
    assert problems == [
        "metric.f1.average=macr is not valid; choose from macro, micro, weighted, binary",
        "metric.precision.average=binary needs 2 classes, the target has 3",
    ]


def test_check_metrics_unknown_name_lists_the_metrics() -> None:
    (problem,) = check_metrics({"acuracy": {}}, BINARY, 2)
    assert problem.startswith("metric=acuracy is not a metric; choose from accuracy, auroc, f1")
