"""The trust model's rules on their own; the commands that apply them are walked in tests/test_security.py."""

from __future__ import annotations

import pytest

from mltrain.errors import ConfigError, DataError
from mltrain.trust import check_code, check_plain, named_code, replayable


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"seed": "${oc.env:SECRET}"}, "seed"),
        ({"dataset": {"path": "x", "na_values": ["a", "${mltrain_run_dir:/tmp/x}"]}}, "dataset.na_values[1]"),
        ({"model": {"${oc.env:HOME}": 1}}, "model"),
    ],
)
def test_an_interpolation_anywhere_in_a_saved_config_is_refused_unresolved(data: dict, where: str) -> None:
    with pytest.raises(DataError) as caught:
        check_plain(data, "run/config.yaml")
    message = str(caught.value)
    assert message.startswith("run/config.yaml: ") and where in message and "${" in message


def test_a_plain_config_passes() -> None:
    check_plain({"seed": 0, "dataset": {"path": "a$b.csv", "na_values": ["{x}"]}, "metric": {}}, "c.yaml")


def test_code_a_run_names_needs_the_users_word() -> None:
    config = {"model": {"name": "custom", "factory": "torch.hub:load"}}
    assert named_code(config) == ["model.factory=torch.hub:load"]
    with pytest.raises(
        ConfigError, match=r"run=r names code to import: model.factory=torch.hub:load; .*trust_code=true"
    ):
        check_code(named_code(config), "run=r", trusted=False)
    check_code(named_code(config), "run=r", trusted=True)
    check_code(named_code({"model": {"name": "mlp"}}), "run=r", trusted=False)


@pytest.mark.parametrize(
    ("override", "ok"),
    [
        ("optimizer=nadam", True),
        ("optimizer.lr=0.1", True),
        ("+model.kwargs.width=4", True),
        ("+hydra.callbacks.x._target_=os.system", False),
        ("hydra/launcher=joblib", False),
        ("+nothing_the_run_has=1", False),
    ],
)
def test_resume_replays_only_the_runs_own_keys(override: str, ok: bool) -> None:
    assert replayable(override, {"optimizer", "model", "seed"}) is ok
