"""Hydra composes a run's config once: the ``hydra.mode`` probe is skipped only where it cannot matter.

python -m pytest tests/test_hydra_once.py -q
"""

from __future__ import annotations

import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

import hydra
import pytest
from hydra._internal.hydra import Hydra
from omegaconf import OmegaConf

from mltrain.config.hydra_once import mode_is_unset, one_composition
from mltrain.config.schemas import register_schemas
from mltrain.rundir import install_resolvers as _install_resolvers

QUIET = ["hydra/job_logging=disabled", "hydra/hydra_logging=disabled"]  # leave pytest's logging alone


def yaml_files() -> list[Path]:
    root = Path(str(files("mltrain.conf")))
    return sorted(root.rglob("*.yaml"))


def test_no_shipped_config_sets_hydra_mode() -> None:
    """The skip assumes it: a file setting hydra.mode would need the probe back."""
    assert len(yaml_files()) > 40
    for path in yaml_files():
        node = OmegaConf.load(path)
        assert "mode" not in (node.get("hydra") or {}), path


@pytest.mark.parametrize(
    ("args", "unset"),
    [
        ([], True),
        (["optimizer=sgd", "trainer.epochs=2"], True),
        (["-m", "optimizer=adam,sgd"], True),
        (["hydra.mode=MULTIRUN"], False),
        (["-cd", "my_conf"], False),
        (["--config-dir=my_conf"], False),
        (["-cn", "mine"], False),
        (["--experimental-rerun", "x.pickle"], False),
    ],
)
def test_mode_is_unset_only_without_mode_overrides_or_own_configs(args: list[str], unset: bool) -> None:
    assert mode_is_unset(args) is unset


def run_app(monkeypatch: pytest.MonkeyPatch, args: list[str]) -> tuple[int, list[Any]]:
    """Run a ``@hydra.main`` app on mltrain's fit config as ``cli.main`` does; compositions, epochs seen."""
    register_schemas()
    _install_resolvers()
    compositions, seen = [], []
    compose = Hydra.compose_config

    def counted(self: Hydra, *a: Any, **k: Any) -> Any:
        compositions.append(1)
        return compose(self, *a, **k)

    monkeypatch.setattr(Hydra, "compose_config", counted)
    monkeypatch.setattr(sys, "argv", ["mltrain", *args, *QUIET])

    @hydra.main(version_base="1.3", config_path="pkg://mltrain.conf", config_name="fit")
    def app(cfg: Any) -> None:
        seen.append(cfg.trainer.epochs)

    with one_composition(sys.argv[1:]):
        app()
    return len(compositions), seen


def test_a_run_composes_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert run_app(monkeypatch, ["trainer.epochs=3", f"hydra.run.dir={tmp_path}"]) == (1, [3])
    assert Hydra.get_mode.__name__ == "get_mode"  # Hydra's own again after the run


def test_a_mode_override_keeps_the_probe_and_is_honoured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    args = ["hydra.mode=MULTIRUN", "trainer.epochs=1,2", f"hydra.sweep.dir={tmp_path}"]
    compositions, seen = run_app(monkeypatch, args)
    assert sorted(seen) == [1, 2]  # a sweep although -m was not given
    assert compositions == 2  # the probe, then the sweep's (its jobs compose through the config loader)


def test_multirun_flag_still_sweeps(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    compositions, seen = run_app(monkeypatch, ["-m", "trainer.epochs=1,2", f"hydra.sweep.dir={tmp_path}"])
    assert sorted(seen) == [1, 2]
    assert compositions == 1  # the sweep's, no probe
