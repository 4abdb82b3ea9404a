"""Races and unwritable places: a second run racing a live one for its directory, a read-only directory, a
disk that fills while Hydra's ``.hydra/`` is written, a run directory deleted mid-run, a SIGTERM held while
the last files are written. Each is injected in-process through ``mltrain.cli.main``.

    python -m pytest tests/test_races.py -q
"""

from __future__ import annotations

import builtins
import errno
import fcntl
import json
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig

from mltrain.cli import main
from mltrain.commands import fit
from mltrain.launch import hydra_job
from tests.test_faults import RUN, assert_same_run, finish, write_order

QUICK = ["dataset=iris", "trainer.epochs=3", "model.hidden=[16]", "trainer.batch_size=32"]


def exit_status(args: list[str]) -> int:
    """``mltrain <args>`` in this process; its exit status."""
    try:
        main(args)
    except SystemExit as ended:
        return int(ended.code or 0)
    return 0


def contents(run: Path) -> dict[str, bytes]:
    """Every file under ``run`` (the lock aside), by relative path."""
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()
            and p.name != ".lock"}  # fmt: skip


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


@pytest.fixture
def finished_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    assert exit_status(["fit", *QUICK, f"hydra.run.dir={run}"]) == 0
    return run


def test_a_run_taking_the_lock_between_the_check_and_hydras_writes_keeps_its_hydra_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"  # a live run's directory: its own .hydra/, and it takes the lock just now
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("- dataset=iris\n")
    real, held = hydra_job.compose, []

    def live_run_locks_meanwhile(*args: Any, **kwargs: Any) -> DictConfig:
        cfg = real(*args, **kwargs)  # after the early check, before anything is written
        lock = open(run / ".lock", "a+")  # noqa: SIM115 - held to the end of the test
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write("4242\n")
        lock.flush()
        held.append(lock)
        return cfg

    monkeypatch.setattr(hydra_job, "compose", live_run_locks_meanwhile)
    try:
        status = exit_status(["fit", "debug=smoke", "optimizer=sgd", f"hydra.run.dir={run}"])
    finally:
        for lock in held:
            lock.close()
    assert held and status == 2
    assert error_lines(capsys.readouterr().err) == [
        f"error: run directory {run} is in use by a running mltrain process (pid 4242); "
        "wait for it to finish or stop it first"
    ]
    assert sorted(p.name for p in (run / ".hydra").iterdir()) == ["overrides.yaml"]
    assert (run / ".hydra" / "overrides.yaml").read_text() == "- dataset=iris\n"


def writes_failing(under: Path, error: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening a file under ``under`` for writing fails with ``error`` (no file name, as a failed write
    reports it); reading goes through."""
    real_open, real_os_open = builtins.open, os.open

    def guarded_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if str(file).startswith(str(under)) and any(c in mode for c in "wax+"):
            raise OSError(error, os.strerror(error))
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if str(path).startswith(str(under)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(error, os.strerror(error))
        return real_os_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)


def test_resume_into_a_read_only_directory_is_one_line_and_exit_74(
    finished_run: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = contents(finished_run)
    capsys.readouterr()
    writes_failing(finished_run, errno.EACCES, monkeypatch)
    status = exit_status(["fit", f"resume={finished_run}", "trainer.epochs=5"])
    monkeypatch.undo()
    lines = error_lines(capsys.readouterr().err)
    assert status == 74
    assert lines == [f"error: cannot write {finished_run / '.lock'}: Permission denied; "
                     "the files written before it are intact"]  # fmt: skip
    assert contents(finished_run) == before


@pytest.mark.parametrize("name", ["config.yaml", "hydra.yaml", "overrides.yaml"])
def test_a_full_disk_at_hydras_writes_is_one_line_and_exit_74(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    real_open = os.open

    def full_at(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if Path(path).parent == run / ".hydra" and Path(path).name.startswith(f".{name}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", full_at)
    monkeypatch.setattr(builtins, "open", guard_hydra_save(run, name, builtins.open))
    status = exit_status(["fit", "debug=smoke", f"hydra.run.dir={run}"])
    monkeypatch.undo()
    out, err = capsys.readouterr()
    assert status == 74
    assert error_lines(err) == [f"error: cannot write {run / '.hydra' / name}: No space left on device; "
                                "the files written before it are intact"]  # fmt: skip
    assert "Traceback" not in out + err and "Logging error" not in out + err


def guard_hydra_save(run: Path, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    """Hydra's own writer of ``.hydra/`` (``open(path, "w")``) fails on ``name`` as on a full disk."""

    def guarded(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if str(file) == str(run / ".hydra" / name) and "w" in mode:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(file, mode, *args, **kwargs)

    return guarded


def test_a_run_directory_deleted_mid_run_fails_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run, real, summaries = tmp_path / "run", os.replace, []

    def delete_after_the_first_epoch(src: str, dst: str) -> None:
        real(src, dst)
        if Path(dst) == run / "summary.json":
            summaries.append(dst)
            if len(summaries) == 2:  # the start's summary, then epoch 1's
                shutil.rmtree(run)

    monkeypatch.setattr(os, "replace", delete_after_the_first_epoch)
    status = exit_status(["fit", *QUICK, f"hydra.run.dir={run}"])
    monkeypatch.undo()
    out, err = capsys.readouterr()
    assert status == 74
    assert error_lines(err) == [
        f"error: cannot write {run}: the directory no longer exists (deleted while mltrain was writing in it)"
    ]
    assert not run.exists() and "Traceback" not in out + err


@pytest.fixture
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises ``KeyboardInterrupt``, as ``mltrain``'s own handler makes it do."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    yield
    signal.signal(signal.SIGTERM, previous)


def test_a_sigterm_held_during_the_model_write_leaves_a_summary_saying_interrupted(
    compose_fit: Callable[..., DictConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    sigterm_interrupts: None,
) -> None:  # fmt: skip
    reference = tmp_path / "reference"
    write_order(compose_fit, reference, monkeypatch)
    run, real = tmp_path / "run", os.replace

    def sigterm_at_the_model(src: str, dst: str) -> None:
        if Path(dst).name == "model.pt":
            signal.raise_signal(signal.SIGTERM)  # held until the last files are written
        real(src, dst)

    monkeypatch.setattr(os, "replace", sigterm_at_the_model)
    with pytest.raises(KeyboardInterrupt):  # the command line exits 143 on it
        fit.run(compose_fit(RUN), run)
    monkeypatch.undo()
    summary = json.loads((run / "summary.json").read_text())
    assert (summary["status"], summary["message"]) == ("interrupted", "interrupted")  # as the exit says
    assert summary["epochs_completed"] == 3 and (run / "model.pt").is_file()
    finish(compose_fit, run)  # resume= ends it as a run that was never stopped
    assert_same_run(run, reference)
