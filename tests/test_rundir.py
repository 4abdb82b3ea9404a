"""Run directories' saved overrides, as ``resume=`` takes them back.

python -m pytest tests/test_rundirs.py -q
"""

from __future__ import annotations

from pathlib import Path

from mltrain.rundir import override_key, read_overrides, resumed_overrides


def saved_run(tmp_path: Path, lines: str) -> Path:
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "overrides.yaml").write_text(lines)
    return tmp_path


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
