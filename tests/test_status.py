"""Run statuses: the names the spec promises in ``summary.json``, and the worst fold deciding a k-fold run."""

from __future__ import annotations

import pytest

from mltrain import status


def test_the_spec_statuses_have_one_name_each() -> None:
    names = [status.COMPLETED, status.EARLY_STOPPED, status.PRUNED, status.INTERRUPTED, status.DIVERGED,
             status.FAILED, status.RUNNING]  # fmt: skip
    assert names == ["completed", "early_stopped", "pruned", "interrupted", "diverged", "failed", "running"]


@pytest.mark.parametrize(
    ("folds", "expected"),
    [
        (["completed", "completed"], "completed"),
        (["completed", "early_stopped"], "early_stopped"),
        (["early_stopped", "interrupted", "completed"], "interrupted"),
        (["interrupted", "diverged"], "diverged"),
    ],
)
def test_the_worst_fold_decides(folds: list[str], expected: str) -> None:
    assert status.worst(folds) == expected
