"""The run lock (one live process per run directory) and what ``resume=`` takes back from a directory.

with run_lock(out_dir): ...                 # .lock with this process's pid, flock-held while it runs
resumed_overrides(run_dir, given)           # the run's own overrides, vetted (mltrain.trust), then given
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mltrain.errors import ConfigError
from mltrain.rundir.layout import KFOLD_RESUME, RunDir
from mltrain.trust import TRUST_KEY, check_code, named_code, replayable


@contextlib.contextmanager
def run_lock(out_dir: Path) -> Iterator[None]:
    """Hold ``<out_dir>/.lock`` (``flock``, with this process's pid in it) while the run lives.

    The file is removed when the run ends; a killed process's lock is released by the OS.

    Raises:
        ConfigError: another live process holds the directory.
    """
    lock = RunDir(out_dir).lock
    with open(lock, "a+", encoding="utf-8") as f:
        _lock_or_refuse(f, out_dir)
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.unlink(lock)


def check_unlocked(out_dir: Path) -> None:
    """Refuse early, before anything is written there, when a live run holds ``out_dir``.

    Raises:
        ConfigError: naming the holder's pid.
    """
    lock = RunDir(out_dir).lock
    if not lock.is_file():
        return
    with contextlib.suppress(OSError), open(lock, "a+", encoding="utf-8") as f:
        _lock_or_refuse(f, Path(out_dir))
        fcntl.flock(f, fcntl.LOCK_UN)


def _lock_or_refuse(f: Any, out_dir: Path) -> None:
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "unknown"
        raise ConfigError(
            f"run directory {out_dir} is in use by a running mltrain process (pid {holder}); "
            "wait for it to finish or stop it first"
        ) from None


def resume_dir(value: str) -> Path:
    """The run directory ``resume=<value>`` names, checked before Hydra writes anything.

    Raises:
        ConfigError: no such directory, a k-fold run, nothing to continue in it, or a live run holds it.
    """
    run_dir = Path(value)
    if not run_dir.is_dir():
        raise ConfigError(f"resume={value}: no such run directory")
    if RunDir(run_dir).is_kfold_parent or RunDir(run_dir).folds():  # finished, or folds begun
        raise ConfigError(f"resume={value} is a k-fold run: {KFOLD_RESUME}")
    if not RunDir(run_dir).last_checkpoint.is_file():
        raise ConfigError(
            f"resume={value}: no {RunDir.last_checkpoint} in that directory; nothing to continue"
        )
    check_unlocked(run_dir)
    return run_dir


def read_overrides(run_dir: Path) -> list[str]:
    """The command-line overrides of a run, from Hydra's ``.hydra/overrides.yaml`` (``[]`` if absent)."""
    return RunDir(run_dir).read_overrides()


def override_key(override: str) -> str:
    """The key an override sets: ``+trainer.x=1`` -> ``trainer.x``, ``dataset=csv`` -> ``dataset``."""
    return override.lstrip("+~").partition("=")[0]


def resumed_overrides(run_dir: Path, given: list[str]) -> list[str]:
    """``resume=<run_dir>``'s overrides: the run's own (``.hydra/overrides.yaml``), then ``given``.

    So ``mltrain fit resume=<dir>`` continues the run as it was started, and ``trainer.epochs=20`` added
    to it trains further; an override given again replaces the saved one with the same key. The run
    directory is data (``trust.py``): a saved override may only set a key the run's own config holds
    (never ``hydra.*``), and a run that names code is continued only with ``trust_code=true`` given.

    Raises:
        ConfigError: a saved override outside the run's config, or code named without trust_code=true.
    """
    run = RunDir(run_dir)
    saved = run.read_config()
    replayed = run.read_overrides()
    foreign = [o for o in replayed if not replayable(o, set(saved))]
    if foreign:
        raise ConfigError(
            f"resume={run_dir}: {run.hydra_overrides} holds {foreign[0]!r}, which sets no key of the run's "
            f"{RunDir.config}; a run directory cannot set Hydra's settings or new keys when it is resumed: "
            "remove that line, or start a new run"
        )
    trusted = any(override_key(o) == TRUST_KEY and o.partition("=")[2].lower() == "true" for o in given)
    check_code(named_code(saved), f"resume={run_dir}", trusted)
    keys = {override_key(o) for o in given}
    return [o for o in replayed if override_key(o) not in keys] + given
