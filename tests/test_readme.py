"""The README and the pages under docs/ are the user's manual: their commands must work as written.

* every ``mltrain fit ...`` line of its bash blocks composes and validates against its data (no training);
* every ``$ mltrain ...`` example in a text block prints exactly the lines shown under it;
* ``.ci/run`` runs the README's test command verbatim.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser

from mltrain.commands.fit_data import setup_data
from tests.conftest import mltrain, write_penguins
from tests.manual import MANUAL

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", MANUAL, flags=re.S)


def fit_lines() -> list[str]:
    lines = []
    for block in blocks("bash"):
        for line in block.splitlines():
            command = line.split("  #")[0].strip()
            if command.startswith("mltrain fit") and "--cfg" not in command:
                lines.append(command)
    return list(dict.fromkeys(lines))  # a command shown on two pages (README and docs/) is run once


def expand(args: list[str]) -> list[list[str]]:
    """One override list per job: the sweep (``-m a=1,2``) expanded as Hydra's basic sweeper does.

    Hydra's own keys and groups (``hydra/sweeper=optuna``) are left out, and so are Optuna's search spaces
    (``interval(...)``), which only the Optuna sweeper samples.
    """
    overrides = [
        a for a in args if a != "-m" and not a.startswith(("hydra.", "hydra/")) and "interval(" not in a
    ]
    if "-m" not in args:
        return [overrides]
    parsed = OverridesParser.create().parse_overrides(overrides)
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


@pytest.fixture
def readme_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The files the manual's examples name, in a fresh directory (``mymodels.py``: the model page's
    ``wide`` factory, the one ``model.factory=mymodels:wide`` imports)."""
    monkeypatch.chdir(tmp_path)
    frame = pd.read_csv(write_penguins(tmp_path / "p.csv"))
    frame.rename(columns={"bill_length": "bill_length_mm"}).to_csv(tmp_path / "penguins.csv", index=False)
    rng = np.random.default_rng(0)
    data = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    data["label"] = rng.choice(["yes", "no"], 60)
    data["y"] = rng.normal(size=60)
    data.to_csv(tmp_path / "data.csv", index=False)
    data.to_csv(tmp_path / "data.csv.gz", index=False)
    data.to_parquet(tmp_path / "data.parquet")
    frame.to_parquet(tmp_path / "train.parquet")  # penguins, for the Parquet walk of evaluate and predict
    (tmp_path / "mymodels.py").write_text(next(b for b in blocks("python") if "\ndef wide(" in b))
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("line", fit_lines())
def test_every_fit_command_composes_and_validates(line: str, readme_files: Path, compose_fit) -> None:
    for overrides in expand(shlex.split(line)[2:]):
        setup_data(compose_fit(overrides))  # loads the data; raises ConfigError on any problem


def test_readme_shows_some_commands() -> None:
    assert len(fit_lines()) >= 10  # the parser finds the examples (a guard against a silent no-op)


def error_examples() -> list[str]:
    """Each ``$ mltrain ...`` command of the text blocks with the lines under it; one shown on two pages
    (the README and a page of docs/) is run once."""
    chunks = [
        c.strip()
        for b in blocks("text")
        if b.startswith("$ mltrain")
        for c in re.split(r"^\$ ", b, flags=re.M)[1:]
    ]
    return list(dict.fromkeys(chunks))


@pytest.mark.parametrize("example", error_examples())
def test_error_examples_print_what_the_manual_shows(
    example: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_process
) -> None:
    """Each example through ``cli.main`` in this process (the script's own entry point: its stderr and exit
    status); ``test_one_error_example_as_the_installed_command`` runs one through the console script."""
    command, *expected = example.splitlines()
    monkeypatch.chdir(tmp_path)
    status, stderr = in_process(shlex.split(command)[1:], tmp_path)
    assert status == 2
    assert stderr.strip().splitlines() == expected


def test_one_error_example_as_the_installed_command(tmp_path: Path) -> None:
    command, *expected = error_examples()[0].splitlines()
    result = mltrain(*shlex.split(command)[1:], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == expected


def test_ci_runs_the_readme_test_command() -> None:
    readme_bash = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    test_command = next(b for b in readme_bash if "pytest" in b).strip()
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()
