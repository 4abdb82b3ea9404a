"""Config composition: every shipped YAML composes and builds, names match registries, validation collects.

    python -m pytest tests/test_config.py -q

Walks ``conf/`` (the package ``mltrain.conf``), so a new choice file is tested the day it is added.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

import pytest
import torch
from hydra.errors import ConfigCompositionException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ValidationError
from torch import nn

from mltrain.components.losses import LOSSES, Loss
from mltrain.components.metrics import KIND, METRICS, MetricSet
from mltrain.components.models import MODELS, SUPPLIED
from mltrain.components.optimizers import OPTIMIZERS
from mltrain.components.registry import Registry
from mltrain.components.schedulers import SCHEDULERS
from mltrain.config.checks import VALIDATIONS, TrainerConfig, options, validate_config
from mltrain.config.data_problems import validate
from mltrain.data.datasets import DATASETS
from mltrain.errors import ConfigError
from mltrain.training.callbacks.loggers import LOGGERS

Compose = Callable[..., DictConfig]

CONF = Path(str(files("mltrain.conf")))  # conf/ in a checkout, the package when installed
GROUPS = sorted(d.name for d in CONF.iterdir() if d.is_dir() and not d.name.startswith(("_", ".")))
CHOICES = [(group, f.stem) for group in GROUPS for f in sorted((CONF / group).glob("*.yaml"))]
REGISTRIES: dict[str, Registry] = {
    "optimizer": OPTIMIZERS, "loss": LOSSES, "model": MODELS, "dataset": DATASETS, "metric": METRICS,
    "scheduler": SCHEDULERS, "logger": LOGGERS,
}  # fmt: skip
SUPPLIED_BY_CODE = {
    "optimizer": ("params",), "loss": (), "model": SUPPLIED, "dataset": (),
    "scheduler": ("optimizer", "epochs"),
}  # fmt: skip
LIST_GROUPS = ("metric", "logger")  # a list of choices, each file's content under its own name
NAMED_GROUPS = ("optimizer", "loss", "model", "dataset", "validation", "scheduler")  # files with `name:`
REQUIRED = {  # values for the `???` keys of a choice, as a user must give them
    "dataset=csv": ["dataset.path=data.csv", "dataset.target=label"],  # the test writes data.csv
    "model=custom": ["model.factory=torch.nn:Linear"],
}


def stems(group: str) -> list[str]:
    return [stem for g, stem in CHOICES if g == group]


def choose(group: str, stem: str) -> str:
    """The override that picks a file: ``optimizer=nadam``, or ``metric=[f1]`` for the list groups."""
    return f"{group}=[{stem}]" if group in LIST_GROUPS else f"{group}={stem}"


def load_yaml(group: str, stem: str) -> DictConfig:
    return OmegaConf.load(CONF / group / f"{stem}.yaml")


def choices_of(*groups: str) -> list[tuple[str, str]]:
    return [(g, s) for g, s in CHOICES if g in groups]


def test_every_group_folder_is_covered() -> None:
    assert set(GROUPS) == set(REGISTRIES) | {"validation", "trainer", "debug", "preset"}, (
        "a new config group: add its registry to REGISTRIES (or its check) in this file"
    )


@pytest.mark.parametrize(("group", "stem"), CHOICES, ids=[f"{g}={s}" for g, s in CHOICES])
def test_every_shipped_yaml_composes_validates_and_builds(
    compose_fit: Compose, group: str, stem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # dataset=csv reads data.csv from where the user types the command
    (tmp_path / "data.csv").write_text("a,b,label\n1,2,x\n3,4,y\n", encoding="utf-8")

    cfg = compose_fit([choose(group, stem), *REQUIRED.get(f"{group}={stem}", [])])

    if group in LIST_GROUPS:
        assert list(cfg[group]) == [stem]
    elif group in NAMED_GROUPS:
        assert cfg[group].name == stem
    assert validate_config(cfg) == []
    BUILDS.get(group, lambda cfg: None)(cfg)


def builds_optimizer(cfg: DictConfig) -> None:
    """The optimizer gets the YAML's values and takes a step."""
    model = nn.Linear(3, 2)
    before = model.weight.detach().clone()

    optimizer = OPTIMIZERS.get(cfg.optimizer.name)(model.parameters(), **options(cfg.optimizer))
    model(torch.randn(4, 3)).pow(2).mean().backward()
    optimizer.step()

    group = optimizer.param_groups[0]
    for key, value in options(cfg.optimizer).items():
        assert group[key] == (tuple(value) if isinstance(value, list) else value), key
    assert not torch.equal(model.weight, before)


def builds_loss(cfg: DictConfig) -> None:
    """The loss scores a batch shaped by its own head width and target encoding."""
    loss = LOSSES.get(cfg.loss.name)(**options(cfg.loss))
    labels = torch.tensor([0, 1, 1, 0, 1, 0]) if loss.task == "binary" else torch.arange(6) % 3
    value = loss(torch.randn(6, loss.out_features(n_classes=3)), loss.encode_targets(labels))

    assert isinstance(loss, Loss)
    assert LOSSES.get(loss.name) is LOSSES.get(cfg.loss.name)  # an alias builds its canonical loss
    assert value.shape == () and torch.isfinite(value)


def builds_model(cfg: DictConfig) -> None:
    """The model maps digits-shaped rows to a 3-wide head."""
    build = MODELS.get(cfg.model.name)
    model = build(in_features=64, out_features=3, input_shape=(1, 8, 8), **options(cfg.model))

    assert model.eval()(torch.randn(2, 64)).shape == (2, 3)  # tabm in training: (2, k, 3), one per member


def builds_dataset(cfg: DictConfig) -> None:
    """The dataset loads a table whose target and features are columns of it."""
    table = DATASETS.get(cfg.dataset.name)(**options(cfg.dataset))

    assert len(table.frame) > 0 and table.target in table.frame.columns
    assert table.features and table.target not in table.features
    assert set(table.features) <= set(table.frame.columns)


def builds_metric(cfg: DictConfig) -> None:
    """The metric computes a finite number on outputs of a task it fits."""
    (name,) = cfg.metric
    loss_name = {"regression": "mse", "binary": "bce"}.get(KIND[name], "ce")
    n_classes = {"mse": 0, "bce": 2, "ce": 6}[loss_name]  # 6 classes: top_k_accuracy's k=5 fits
    loss = LOSSES.get(loss_name)()
    labels = torch.tensor([0, 1, 1, 0, 1, 0, 1, 0])

    metrics = MetricSet(options(cfg.metric), loss, n_classes)
    scores = metrics(torch.randn(8, loss.out_features(max(n_classes, 1))), loss.encode_targets(labels))

    assert list(scores) == [name]
    assert scores[name].shape == () and torch.isfinite(scores[name])


def builds_scheduler(cfg: DictConfig) -> None:
    """The schedule steps through the run's epochs with a positive learning rate."""
    optimizer = torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=0.1)
    schedule = SCHEDULERS.get(cfg.scheduler.name)(optimizer, epochs=5, **options(cfg.scheduler))
    for _ in range(5):
        optimizer.step()
        schedule.step({"loss": 1.0, "val_loss": 1.0})
        assert optimizer.param_groups[0]["lr"] >= 0


BUILDS: dict[str, Callable[[DictConfig], None]] = {
    "optimizer": builds_optimizer, "loss": builds_loss, "model": builds_model, "dataset": builds_dataset,
    "metric": builds_metric, "scheduler": builds_scheduler,
}  # fmt: skip


@pytest.mark.parametrize(("group", "stem"), choices_of(*NAMED_GROUPS))
def test_name_key_equals_file_stem(group: str, stem: str) -> None:
    assert load_yaml(group, stem).name == stem


@pytest.mark.parametrize("stem", stems("metric"))
def test_metric_file_has_one_top_level_key_equal_to_its_stem(stem: str) -> None:
    assert list(load_yaml("metric", stem)) == [stem]


@pytest.mark.parametrize("group", list(REGISTRIES))
def test_registry_names_equal_file_stems(group: str) -> None:
    assert REGISTRIES[group].names() == sorted(stems(group))


def test_metric_kinds_and_validations_equal_file_stems() -> None:
    assert sorted(KIND) == sorted(stems("metric"))
    assert sorted(VALIDATIONS) == sorted(stems("validation"))


@pytest.mark.parametrize(("group", "stem"), choices_of(*SUPPLIED_BY_CODE))
def test_yaml_holds_exactly_the_builders_arguments_with_its_defaults(group: str, stem: str) -> None:
    registry, skip = REGISTRIES[group], SUPPLIED_BY_CODE[group]
    node = options(load_yaml(group, stem))
    params = {
        p.name: p
        for p in inspect.signature(registry.get(stem)).parameters.values()
        if p.name not in skip and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }

    assert registry.check(stem, node, skip) == []
    assert sorted(node) == sorted(params)
    for key, value in node.items():  # the command line and Python callers get the same defaults
        default = params[key].default
        if default is inspect.Parameter.empty or value == "???":
            continue
        if default is None and value == {}:  # custom's kwargs: {} in YAML, None in Python, both "none"
            continue
        assert value == (list(default) if isinstance(default, tuple) else default), key


@pytest.mark.parametrize("stem", stems("metric"))
def test_metric_yaml_options_are_the_metrics_keyword_defaults(stem: str) -> None:
    params = inspect.signature(METRICS.get(stem)).parameters
    for key, value in (load_yaml("metric", stem)[stem] or {}).items():
        assert params[key].default == value, key


def test_trainer_yaml_equals_the_schema_defaults() -> None:
    assert OmegaConf.to_container(load_yaml("trainer", "default")) == dataclasses.asdict(TrainerConfig())


def test_debug_smoke_shrinks_the_run(compose_fit: Compose) -> None:
    trainer = compose_fit(["debug=smoke"]).trainer
    assert (trainer.epochs, trainer.limit_train_batches, trainer.limit_val_batches) == (1, 4, 2)


def test_optimizer_lr_override_reaches_the_optimizer(compose_fit: Compose) -> None:
    cfg = compose_fit(["optimizer=sgd", "optimizer.lr=0.3", "optimizer.momentum=0.9"])
    optimizer = OPTIMIZERS.get(cfg.optimizer.name)(nn.Linear(2, 1).parameters(), **options(cfg.optimizer))
    assert (optimizer.param_groups[0]["lr"], optimizer.param_groups[0]["momentum"]) == (0.3, 0.9)


def test_default_config_is_valid(compose_fit: Compose) -> None:
    cfg = compose_fit()

    assert validate_config(cfg) == []
    validate(cfg, DATASETS.get(cfg.dataset.name)())  # the embedded default must run as shipped


def test_validate_collects_every_problem_at_once(compose_fit: Compose) -> None:
    cfg = compose_fit(["trainer.batch_size=0", "trainer.epochs=-1", "model.hidden=[0]", "loss=bce"])

    with pytest.raises(ConfigError) as caught:
        validate(cfg, DATASETS.get("digits")())

    problems = caught.value.problems
    assert "trainer.batch_size must be >= 1, got 0" in problems
    assert "trainer.epochs must be >= 1, got -1" in problems
    assert "model.hidden=[0] must hold sizes >= 1" in problems
    assert any(p.startswith("loss=bce needs a binary target") and "loss=sparse_categorical_crossentropy" in p
               for p in problems), problems  # fmt: skip
    assert str(caught.value).startswith(f"{len(problems)} problems in the config:")


def test_validate_names_the_loss_that_fits_the_data(compose_fit: Compose) -> None:
    cfg = compose_fit(["loss=bce"])

    with pytest.raises(ConfigError) as caught:
        validate(cfg, DATASETS.get("digits")())

    assert caught.value.problems == [
        "loss=bce needs a binary target, dataset 'digits' has 10 classes; "
        "use loss=sparse_categorical_crossentropy"
    ]


@pytest.mark.parametrize("choice", list(REQUIRED))
def test_required_keys_left_unset_are_reported(compose_fit: Compose, choice: str) -> None:
    problems = validate_config(compose_fit([choice]))

    assert problems == [
        f"{key} is required; set it on the command line, e.g. {key}=..."
        for key in sorted(o.split("=")[0] for o in REQUIRED[choice])
    ]


def test_unknown_group_option_is_reported_by_validate_config(compose_fit: Compose) -> None:
    cfg = compose_fit(["+optimizer.lrr=0.1"])

    problems = validate_config(cfg)

    assert len(problems) == 1
    assert problems[0].startswith("optimizer.lrr is not an option of optimizer=adam")
    assert problems[0].endswith("did you mean lr?")


@pytest.mark.parametrize("override", ["+trainer.epocs=3", "+validation.fractoin=0.3", "+sed=1"])
def test_added_key_the_code_never_reads_is_reported(compose_fit: Compose, override: str) -> None:
    """``+key=value`` gets past the schema (Hydra opens the node); the key must not be silently ignored."""
    key = override.lstrip("+").split("=")[0]

    problems = validate_config(compose_fit([override]))

    assert any(key in p for p in problems), problems


@pytest.mark.parametrize(
    ("override", "cause"),
    [
        ("trainer.epocs=3", ConfigAttributeError),
        ("sed=1", ConfigAttributeError),
        ("trainer.epochs=abc", ValidationError),
        ("trainer.batch_size=1.5", ValidationError),
        ("seed=abc", ValidationError),
    ],
)
def test_typo_or_wrong_type_fails_at_compose_time(compose_fit: Compose, override: str, cause: type) -> None:
    with pytest.raises(ConfigCompositionException) as caught:
        compose_fit([override])

    assert isinstance(caught.value.__cause__, cause)
    assert override.split("=")[0] in str(caught.value)


@pytest.mark.parametrize(
    ("objective", "mode", "expected"),
    [("val_loss", "auto", "min"), ("val_accuracy", "auto", "max"), ("f1", "auto", "max"),
     ("val_rmse", "auto", "min"), ("val_r2", "auto", "max"), ("val_accuracy", "min", "min")],
)  # fmt: skip
def test_objective_direction_maximises_accuracy_metrics(objective: str, mode: str, expected: str) -> None:
    from mltrain.components.directions import direction as objective_direction

    assert objective_direction(objective, mode) == expected


def test_objective_must_name_a_history_column(compose_fit: Compose) -> None:
    assert validate_config(compose_fit(["objective=val_f1", "metric=[accuracy,f1]"])) == []
    problems = validate_config(compose_fit(["objective=val_acc", "objective_mode=best"]))
    assert problems[0].startswith("objective_mode=best is not valid; choose from auto, max, min")
    valid = "valid: loss, accuracy, val_loss, val_accuracy"
    assert problems[1].startswith(f"objective=val_acc is not a history column; {valid}")
    assert "did you mean val_accuracy?" in problems[1]


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("seed=-1", "seed must be a whole number from 0 to 4294967295 (2**32 - 1), got -1"),
        ("seed=4294967296", "seed must be a whole number from 0 to 4294967295 (2**32 - 1), got 4294967296"),
        ("trainer.grad_clip=nan", "trainer.grad_clip must be > 0 or null, got nan"),
        ("trainer.grad_clip=inf", "trainer.grad_clip must be a finite number > 0 or null, got inf"),
        ("early_stopping.min_delta=nan", "early_stopping.min_delta must be >= 0, got nan"),
        ("early_stopping.min_delta=inf", "early_stopping.min_delta must be a finite number >= 0, got inf"),
        ("validation.fraction=nan", "validation.fraction must be between 0 and 1 (exclusive), got nan"),
        ("dataset.test_fraction=nan", "dataset.test_fraction must be >= 0 and < 1 (or null), got nan"),
    ],
)
def test_numbers_must_be_finite_and_in_range(compose_fit: Compose, override: str, expected: str) -> None:
    assert validate_config(compose_fit([override])) == [expected]


def test_the_largest_seed_numpy_takes_is_valid(compose_fit: Compose) -> None:
    assert validate_config(compose_fit(["seed=4294967295"])) == []
