"""``output=`` never destroys an input of the command or a run's files (predict and export)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from mltrain.cli import main
from tests.conftest import fit_run, write_penguins


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("outputs")
    data = write_penguins(root / "x.csv")
    run = fit_run(root / "run", ["dataset=csv", f"dataset.path={data}", "dataset.target=species",
                                 "trainer.epochs=1"])  # fmt: skip
    return data, run


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def _refused(args: list[str], capsys: pytest.CaptureFixture) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and err.count("\n") == 0 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("spelling", ["same", "relative", "symlink", "hard link"])
def test_predict_refuses_to_write_over_its_input(
    spelling: str, trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Before: the input was replaced by the predictions, exit 0."""
    data, run = trained
    monkeypatch.chdir(tmp_path)
    own = tmp_path / "x.csv"
    own.write_bytes(data.read_bytes())
    output = {"same": str(own), "relative": "sub/../x.csv", "symlink": "link.csv", "hard link": "hard.csv"}
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.csv").symlink_to(own)
    os.link(own, tmp_path / "hard.csv")
    before = own.read_bytes()

    err = _refused(["predict", f"run={run}", f"input={own}", f"output={output[spelling]}"], capsys)
    assert f"output={output[spelling]} is the input file {own}" in err
    assert own.read_bytes() == before


@pytest.mark.parametrize(
    ("command", "name"),
    [("predict", "model.pt"), ("predict", "summary.json"), ("predict", "plots/new.csv"),
     ("export", "model.pt"), ("export", "config.yaml"), ("export", "new.onnx")],
)  # fmt: skip
def test_an_output_inside_the_run_directory_is_refused(
    command: str, name: str, trained: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    """Before: ``output=<run>/model.pt`` destroyed the run."""
    data, run = trained
    before = _digest(run)
    extra = [f"input={data}"] if command == "predict" else ["format=torchscript"]
    err = _refused([command, f"run={run}", *extra, f"output={run / name}"], capsys)
    assert f"output={run / name} is inside the run directory {run}" in err
    assert _digest(run) == before


def test_an_output_inside_another_run_directory_is_refused(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data, run = trained
    other = tmp_path / "other"
    other.mkdir()
    (other / "summary.json").write_text("{}")
    err = _refused(["predict", f"run={run}", f"input={data}", f"output={other / 'p.csv'}"], capsys)
    assert f"is inside the run directory {other}" in err
    assert not (other / "p.csv").exists()
