"""Run directories: the layout ``RunDir`` owns, its reads, and saved overrides as ``resume=`` takes them back.

python -m pytest tests/test_rundir.py -q
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mltrain.errors import ConfigError
from mltrain.reporting.records import find_runs, read_run
from mltrain.rundir import RunDir, override_key, read_overrides, resume_dir, resumed_overrides


def saved_run(tmp_path: Path, lines: str) -> Path:
    """A run directory's ``.hydra/overrides.yaml`` and a ``config.yaml`` holding every key they set."""
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "overrides.yaml").write_text(lines)
    (tmp_path / "config.yaml").write_text("dataset: {}\ntrainer: {}\nmodel: {}\nx: {}\n")
    return tmp_path


def kfold_parent(root: Path, folds: range, missing: tuple[int, ...] = ()) -> Path:
    """A k-fold parent with ``cv_summary.json``; each fold's summary says its number as its epochs."""
    parent = root / "cv"
    parent.mkdir()
    (parent / "cv_summary.json").write_text(json.dumps({"status": "completed", "monitor": "val_loss"}))
    for i in folds:
        fold = parent / f"fold_{i}"
        fold.mkdir()
        if i not in missing:
            summary = {"status": "completed", "epochs_completed": i, "data": {"classes": [0, 1]}}
            (fold / "summary.json").write_text(json.dumps(summary))
    return parent


def test_the_run_s_own_overrides_come_first_and_a_given_one_replaces_its_key(tmp_path: Path) -> None:
    run = saved_run(tmp_path, "- dataset=csv\n- dataset.path='my data.csv'\n- trainer.epochs=3\n- +x.y=1\n")

    given = ["resume='runs/fit/a'", "trainer.epochs=10"]

    assert resumed_overrides(run, given) == [
        "dataset=csv", "dataset.path='my data.csv'", "+x.y=1", "resume='runs/fit/a'", "trainer.epochs=10",
    ]  # fmt: skip


def test_overrides_typed_again_are_not_doubled(tmp_path: Path) -> None:
    run = saved_run(tmp_path, "- dataset=iris\n- model.hidden=[8]\n")

    given = ["dataset=iris", "model.hidden=[8]", "resume=r", "trainer.epochs=4"]

    assert resumed_overrides(run, given) == given


def test_a_run_without_saved_overrides_takes_the_given_ones(tmp_path: Path) -> None:
    assert read_overrides(tmp_path) == []
    assert resumed_overrides(tmp_path, ["trainer.epochs=2"]) == ["trainer.epochs=2"]
    assert read_overrides(saved_run(tmp_path, "{not: a list")) == []  # a damaged file


def test_override_keys() -> None:
    assert [override_key(o) for o in ("dataset=csv", "+a.b=1", "++c=2", "~d", "e.f=[1,2]")] == [
        "dataset", "a.b", "c", "d", "e.f",
    ]  # fmt: skip


def test_each_file_has_one_name_relative_on_the_class_and_inside_the_directory_on_an_instance() -> None:
    run = RunDir("runs/fit/a")

    assert RunDir.summary == Path("summary.json") and run.summary == Path("runs/fit/a/summary.json")
    assert run.last_checkpoint == Path("runs/fit/a/checkpoints/last.pt")
    assert run.best_checkpoint.parent == run.checkpoints
    assert run.hydra_overrides == Path("runs/fit/a/.hydra/overrides.yaml")
    assert [p.relative_to(run.path) for p in run.resume_files] == [
        Path("config.yaml"), Path("checkpoints/last.pt"), Path("checkpoints/best.pt"),
    ]  # fmt: skip
    assert run.fold(3) == RunDir(Path("runs/fit/a/fold_3")) and run.fold(3).fold_number == 3
    assert run.fold_number is None and RunDir("x/fold_x").fold_number is None


def test_folds_come_in_numeric_order_and_other_directories_are_not_folds(tmp_path: Path) -> None:
    for name in ("fold_10", "fold_2", "fold_1", "fold_11", "fold_x", "plots"):
        (tmp_path / name).mkdir()
    (tmp_path / "fold_3").write_text("a file, not a fold")

    assert [f.path.name for f in RunDir(tmp_path).folds()] == ["fold_1", "fold_2", "fold_10", "fold_11"]


def test_reads_give_plain_data_and_nothing_for_missing_or_damaged_files(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    assert run.read_summary() is None and run.read_cv_summary() is None and run.read_config() == {}
    assert run.hydra_mode() is None and not run.is_kfold_parent

    run.summary.write_text('{"status": "comp')  # cut off mid-write by an older writer
    run.hydra_dir.mkdir()
    run.hydra_config.write_text("optimizer: {name: adam, lr: '${x}'}\n")  # Hydra's, unresolved
    run.hydra_yaml.write_text("hydra:\n  mode: MULTIRUN\n  run: {dir: '${now:%Y}'}\n")
    run.cv_summary.write_text('{"status": "completed"}')

    assert run.read_summary() is None
    assert run.read_config() == {"optimizer": {"name": "adam", "lr": "${x}"}}  # data, never interpolated
    assert run.hydra_mode() == "MULTIRUN"
    assert run.read_cv_summary() == {"status": "completed"} and run.is_kfold_parent

    run.config.write_text("seed: 3\n")  # the resolved config.yaml comes first
    assert run.read_config() == {"seed": 3}


def test_a_kfold_parent_is_read_from_its_first_fold_in_numeric_order(tmp_path: Path) -> None:
    parent = kfold_parent(tmp_path, range(1, 12), missing=(1,))  # fold_1 copied without its summary

    (found,) = find_runs([tmp_path])  # the folds belong to their parent
    record = read_run(found, tmp_path)

    assert found == parent
    assert record.numbers["epochs"] == 2  # fold_2's, not fold_10's (which sorts first as text)
    assert record.task == "classification"


def test_reading_runs_back_imports_no_torch(tmp_path: Path) -> None:
    kfold_parent(tmp_path, range(1, 3))
    code = (
        "import sys; from pathlib import Path; from mltrain.commands.report import build_sections; "
        f"build_sections([Path({str(tmp_path)!r})]); "
        "print([m for m in ('torch', 'mltrain.training', 'mltrain.serving') if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "[]", result.stderr


@pytest.mark.parametrize("finished", [True, False])
def test_resume_of_a_kfold_parent_says_kfold_is_not_resumable(tmp_path: Path, finished: bool) -> None:
    parent = kfold_parent(tmp_path, range(1, 4))
    (parent / "fold_3" / "checkpoints").mkdir()
    (parent / "fold_3" / "checkpoints" / "last.pt").write_bytes(b"")
    if not finished:  # interrupted in its third fold: no cv_summary.json yet
        (parent / "cv_summary.json").unlink()

    with pytest.raises(ConfigError) as error:
        resume_dir(str(parent))
    assert str(error.value) == (
        f"resume={parent} is a k-fold run: resume= does not support validation=kfold yet; "
        "start the k-fold run again"
    )
