"""A single run composes its config once, through the same path from the command line and from Python;
``@hydra.main`` runs only what needs it (``-m``, a ``hydra.mode`` override, user config folders, flags).

python -m pytest tests/launch/test_hydra_job.py -q
"""

from __future__ import annotations

import json
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

import hydra
import pytest
from hydra._internal.hydra import Hydra
from omegaconf import OmegaConf

from mltrain import cli
from mltrain.config.schemas import register_schemas
from mltrain.launch.hydra_job import needs_hydra_main
from mltrain.rundir import install_resolvers as _install_resolvers
from tests.conftest import write_penguins

QUIET = ["hydra/job_logging=disabled", "hydra/hydra_logging=disabled"]  # leave pytest's logging alone


def yaml_files() -> list[Path]:
    root = Path(str(files("mltrain.conf")))
    return sorted(root.rglob("*.yaml"))


def test_no_shipped_config_sets_hydra_mode() -> None:
    """A single run is composed as a run: a shipped file setting hydra.mode would need @hydra.main."""
    assert len(yaml_files()) > 40
    for path in yaml_files():
        node = OmegaConf.load(path)
        assert "mode" not in (node.get("hydra") or {}), path


@pytest.mark.parametrize(
    ("args", "single"),
    [
        ([], True),
        (["optimizer=sgd", "trainer.epochs=2"], True),
        (["hydra.mode=MULTIRUN"], False),
        (["-cd", "my_conf"], False),
        (["--config-dir=my_conf"], False),
        (["-cn", "mine"], False),
        (["--experimental-rerun", "x.pickle"], False),
    ],
)
def test_a_run_skips_hydra_main_unless_a_mode_override_or_own_configs(args: list[str], single: bool) -> None:
    assert needs_hydra_main(args) is not single


@pytest.mark.parametrize("flag", ["-m", "--multirun", "--cfg", "--help", "--info", "-sc", "-cp"])
def test_hydra_flags_go_through_hydra_main(flag: str) -> None:
    assert needs_hydra_main([flag, "optimizer=sgd"])


def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every composition of a whole config from here on (the probe of ``hydra.mode`` included)."""
    compositions: list[int] = []
    compose = Hydra.compose_config

    def counting(self: Hydra, *a: Any, **k: Any) -> Any:
        compositions.append(1)
        return compose(self, *a, **k)

    monkeypatch.setattr(Hydra, "compose_config", counting)
    return compositions


def test_a_run_composes_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    compositions = counted(monkeypatch)
    monkeypatch.setattr(sys, "argv", ["mltrain"])
    cli.main(
        ["fit", "dataset=iris", "trainer.epochs=1", "model.hidden=[4]", f"hydra.run.dir={tmp_path}", *QUIET]
    )
    assert len(compositions) == 1
    assert json.loads((tmp_path / "summary.json").read_text())["epochs"] == 1
    assert OmegaConf.load(tmp_path / ".hydra" / "hydra.yaml").hydra.mode == "RUN"  # what the loggers read
    assert OmegaConf.load(tmp_path / ".hydra" / "overrides.yaml")[0] == "dataset=iris"


def test_searchpath_overrides_reach_the_composition(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data = write_penguins(tmp_path / "penguins.csv")
    (tmp_path / "extra" / "dataset").mkdir(parents=True)
    preset = f"name: csv\npath: {data}\ntarget: species\nfeatures: null\nmissing: error\nsep: ','\n"
    (tmp_path / "extra" / "dataset" / "penguins.yaml").write_text(preset)
    monkeypatch.setattr(sys, "argv", ["mltrain"])
    run = tmp_path / "run"
    cli.main(["fit", f"hydra.searchpath=[file://{tmp_path / 'extra'}]", "dataset=penguins", "debug=smoke",
              f"hydra.run.dir={run}", *QUIET])  # fmt: skip
    assert json.loads((run / "summary.json").read_text())["data"]["classes"] == [
        "Adelie",
        "Chinstrap",
        "Gentoo",
    ]


def run_app(monkeypatch: pytest.MonkeyPatch, args: list[str]) -> tuple[int, list[Any]]:
    """Run a ``@hydra.main`` app on mltrain's fit config as ``cli.main`` does; compositions, epochs seen."""
    register_schemas()
    _install_resolvers()
    compositions, seen = counted(monkeypatch), []
    monkeypatch.setattr(sys, "argv", ["mltrain", *args, *QUIET])

    @hydra.main(version_base="1.3", config_path="pkg://mltrain.conf", config_name="fit")
    def app(cfg: Any) -> None:
        seen.append(cfg.trainer.epochs)

    app()
    return len(compositions), seen


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
    assert compositions == 2  # Hydra's probe of hydra.mode, then the sweep's: a sweep pays one more
