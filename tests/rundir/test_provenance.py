"""``summary.json``'s provenance: the git commit and dirty flag of a checkout, never a way for a crafted
repository to run a command or hang a fit; the command line as typed."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mltrain.rundir import provenance

IDENTITY = ["-c", "user.name=t", "-c", "user.email=t@example.com"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *IDENTITY, *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    provenance.git_state.cache_clear()
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "train.py").write_text("print(1)\n")
    git(repo, "add", "train.py")
    git(repo, "commit", "-qm", "first")
    return repo


def test_commit_and_dirty_flag_of_a_checkout(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    (repo / "untracked.txt").write_text("not part of the code\n")
    state = provenance.git_state(str(repo))
    assert state == {"commit": head, "dirty": False, "root": str(repo.resolve())}
    (repo / "train.py").write_text("print(2)\n")
    provenance.git_state.cache_clear()
    assert provenance.git_state(str(repo))["dirty"] is True


def test_no_checkout_is_no_git_field(tmp_path: Path) -> None:
    provenance.git_state.cache_clear()
    (tmp_path / "plain").mkdir()
    assert provenance.git_state(str(tmp_path / "plain")) is None


def test_a_crafted_repository_runs_none_of_its_commands(repo: Path, tmp_path: Path) -> None:
    """fsmonitor and a clean filter are commands ``git status`` would run; the marker files stay absent."""
    marker = tmp_path / "ran"
    git(repo, "config", "core.fsmonitor", f"touch {marker}-fsmonitor; false")
    git(repo, "config", "filter.evil.clean", f"touch {marker}-filter; cat")
    (repo / ".gitattributes").write_text("*.py filter=evil\n")
    (repo / "train.py").write_text("print(3)\n")  # changed: status would hash it through the filter
    state = provenance.git_state(str(repo))
    assert state is not None and state["dirty"] is True
    assert not list(tmp_path.glob("ran*"))
    # git itself runs them (the test's check that they would have run)
    subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, check=False)
    assert list(tmp_path.glob("ran*"))


def test_a_hanging_git_gives_up_without_stopping_the_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "git").write_text("#!/bin/sh\nsleep 30 &\nsleep 30\n")  # a child holding the pipe open too
    (fake / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(provenance, "GIT_TIMEOUT_S", 0.5)
    provenance.git_state.cache_clear()
    started = time.perf_counter()
    assert provenance.git_state(str(tmp_path)) is None
    assert time.perf_counter() - started < 5
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))  # no git at all: absent, not an error
    provenance.git_state.cache_clear()
    assert provenance.git_state(str(tmp_path)) is None


def test_command_line_as_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(provenance.COMMAND_ENV, '["mltrain", "fit", "optimizer.lr=0.1", "name=a b"]')
    record = provenance.record({"rows": 3})
    assert record["command_line"] == "mltrain fit optimizer.lr=0.1 'name=a b'"
    assert record["data"] == {"rows": 3} and record["python"] and record["platform"]
    monkeypatch.setenv(provenance.COMMAND_ENV, "{not json")  # not mltrain's: the process's own argv
    assert provenance.command_line() == [str(w) for w in sys.orig_argv]


def test_a_fit_records_its_data_and_confusion_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bundled dataset's record: its name, rows and the SHA-256 of its rows (pandas' row hashes, computed
    here from scikit-learn's own copy); the confusion counts agree with the per-class report's support."""
    import json

    import pandas as pd
    from sklearn.datasets import load_iris

    from tests.conftest import fit_run

    monkeypatch.setenv(provenance.COMMAND_ENV, '["mltrain", "fit", "dataset=iris"]')
    monkeypatch.chdir(tmp_path)
    run = fit_run(tmp_path / "run", ["dataset=iris", "trainer.epochs=1"])
    record = json.loads((run / "summary.json").read_text())["provenance"]
    iris = load_iris(as_frame=True)
    frame = iris.frame.assign(target=iris.target_names[iris.target])  # labelled by name, as mltrain does
    rows = pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes()
    assert record["data"]["rows"] == 150 and record["command_line"] == "mltrain fit dataset=iris"
    assert record["data"]["sha256"] == hashlib.sha256(rows).hexdigest()
    matrix = json.loads((run / "confusion_matrix.json").read_text())
    report = json.loads((run / "classification_report.json").read_text())
    assert [sum(r) for r in matrix["counts"]] == [report[c]["support"] for c in matrix["classes"]]
