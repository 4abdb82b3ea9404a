"""A run directory from someone else is data: crafted files in every place a command reads (``trust.py``).

Each case is one a colleague's, a downloaded or a CI artifact's run directory can hold; on the code before
the trust model each ran code, read the environment or created directories, exit 0.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mltrain import cli
from tests.conftest import fit_run, mltrain

HUBCONF = """import pathlib
pathlib.Path({marker!r}).write_text("imported")  # what a crafted run directory's code would do


def evil(**kwargs):
    import torch
    return torch.nn.Linear(kwargs["in_features"], kwargs["out_features"])
"""


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small finished run (iris, one epoch) to copy and tamper with."""
    return fit_run(tmp_path_factory.mktemp("finished") / "run", ["dataset=iris", "trainer.epochs=1"])


def tampered(finished: Path, where: Path, **config: object) -> Path:
    """A copy of the finished run whose ``config.yaml`` has ``config``'s keys replaced."""
    run = where / "shared-run"
    shutil.copytree(finished, run)
    saved = yaml.safe_load((run / "config.yaml").read_text()) | config
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    return run


def exit_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as ended:
        cli.main(argv)
    return int(ended.value.code), capsys.readouterr().err


def hub_run(finished: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The issue's case: ``model.factory=torch.hub:load`` pointed at a ``hubconf.py`` inside the run."""
    marker = tmp_path / "code-ran"
    run = tampered(finished, tmp_path, model={
        "name": "custom", "factory": "torch.hub:load",
        "kwargs": {"repo_or_dir": str(tmp_path / "shared-run"), "model": "evil", "source": "local",
                   "trust_repo": True},
    })  # fmt: skip
    (run / "hubconf.py").write_text(HUBCONF.format(marker=str(marker)))
    return run, marker


@pytest.mark.parametrize("command", ["evaluate", "predict", "export", "monitor"])
def test_code_a_run_names_is_not_imported_without_trust_code(
    command: str, finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, marker = hub_run(finished, tmp_path)
    extra = {"predict": ["input=x.csv", "output=p.csv"], "monitor": ["input=x.csv"]}.get(command, [])
    status, err = exit_of([command, f"run={run}", *extra, f"hydra.run.dir={tmp_path / 'out'}"], capsys)
    assert status == 2 and "Traceback" not in err
    assert "names code to import: model.factory=torch.hub:load" in err and "trust_code=true" in err
    assert not marker.exists()


def test_trust_code_true_is_the_users_word(
    finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, marker = hub_run(finished, tmp_path)
    exit_of(["evaluate", f"run={run}", "trust_code=true", f"hydra.run.dir={tmp_path / 'out'}"], capsys)
    assert marker.read_text() == "imported"  # asked for: the code ran


def test_an_interpolation_in_a_saved_config_is_refused_not_resolved(
    finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLTRAIN_TEST_SECRET", "hunter2")
    made = tmp_path / "made-by-a-resolver"
    run = tampered(finished, tmp_path, seed="${oc.env:MLTRAIN_TEST_SECRET}",
                   objective=f"${{mltrain_run_dir:{made}}}")  # fmt: skip
    status, err = exit_of(["evaluate", f"run={run}", f"hydra.run.dir={tmp_path / 'out'}"], capsys)
    assert status == 2 and "Traceback" not in err
    assert "config.yaml" in err and "interpolation" in err
    assert "hunter2" not in err and not made.exists()


def test_resume_replays_no_hydra_setting_from_the_run_directory(finished: Path, tmp_path: Path) -> None:
    made = tmp_path / "made-by-a-callback"
    run = tampered(finished, tmp_path)
    (run / ".hydra").mkdir(exist_ok=True)
    lines = ["dataset=iris", "trainer.epochs=1", "+hydra.callbacks.x._target_=os.mkdir"]
    lines.append(f"+hydra.callbacks.x.path={made}")
    (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(lines))

    result = mltrain("fit", f"resume={run}", "trainer.epochs=2", cwd=tmp_path)

    assert result.returncode == 2, result.stderr
    assert "+hydra.callbacks.x._target_=os.mkdir" in result.stderr and "Traceback" not in result.stderr
    assert not made.exists()
    assert yaml.safe_load((run / "config.yaml").read_text())["trainer"]["epochs"] == 1  # the run untouched


def test_resume_of_a_run_naming_code_needs_trust_code(finished: Path, tmp_path: Path) -> None:
    run, marker = hub_run(finished, tmp_path)

    result = mltrain("fit", f"resume={run}", "trainer.epochs=2", cwd=tmp_path)

    assert result.returncode == 2, result.stderr
    assert "resume=" in result.stderr and "model.factory=torch.hub:load" in result.stderr
    assert "trust_code=true" in result.stderr and not marker.exists()


def test_the_python_api_needs_trust_code_too(finished: Path, tmp_path: Path) -> None:
    import mltrain

    run, marker = hub_run(finished, tmp_path)
    with pytest.raises(mltrain.UserError, match="names code to import: model.factory=torch.hub:load"):
        mltrain.load(run).predict(pd.DataFrame({"sepal length (cm)": [5.0]}))
    assert not marker.exists()
    with pytest.raises(mltrain.UserError, match="interpolation"):
        _ = mltrain.load(tampered(finished, tmp_path / "other", seed="${oc.env:HOME}")).config
