"""The run lock (one live process per run directory) and what ``resume=`` takes back from a directory.

with run_lock(out_dir): ...                 # .lock with this process's pid, flock-held while it runs
with holding_run_lock(out_dir): ...         # the same, unless this process (or its launcher) holds it
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
from mltrain.files import WriteError
from mltrain.rundir.layout import KFOLD_RESUME, RunDir
from mltrain.trust import TRUST_KEY, check_code, named_code, replayable

HOLDER_ENV = "MLTRAIN_RUN_LOCK"  # <pid>:<run dir> of the process that holds a run's lock, for its workers
_held: set[str] = set()  # the run directories this process holds


@contextlib.contextmanager
def run_lock(out_dir: Path) -> Iterator[None]:
    """Hold ``<out_dir>/.lock`` (``flock``, with this process's pid in it) while the run lives.

    Taken atomically (the check is the lock) before anything else is written in ``out_dir``: the single
    run's path takes it before Hydra writes ``.hydra/``. The file is removed when the run ends; a killed
    process's lock is released by the OS.

    Raises:
        ConfigError: another live process holds the directory.
        WriteError: the lock file cannot be made (a read-only directory, a full disk), naming it.
    """
    key = str(Path(out_dir).resolve())
    lock = RunDir(out_dir).lock
    with _locked(lock, out_dir) as f:
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        _held.add(key)
        outer = os.environ.get(HOLDER_ENV)
        os.environ[HOLDER_ENV] = f"{os.getpid()}:{key}"  # for the workers it starts (launch/local.py)
        try:
            yield
        finally:
            _held.discard(key)
            _restore_env(outer)
            with contextlib.suppress(OSError):
                os.unlink(lock)


@contextlib.contextmanager
def holding_run_lock(out_dir: Path) -> Iterator[None]:
    """:func:`run_lock`, unless this process, or the launcher that started this ``trainer.nproc`` worker,
    holds ``out_dir``'s lock already (the single run's path took it before Hydra wrote there).

    Raises:
        ConfigError, WriteError: as :func:`run_lock`.
    """
    key = str(Path(out_dir).resolve())
    if key in _held or os.environ.get(HOLDER_ENV) == f"{os.getppid()}:{key}":
        yield
        return
    with run_lock(out_dir):
        yield


@contextlib.contextmanager
def _locked(lock: Path, out_dir: Path) -> Iterator[Any]:
    """``lock`` open and ``flock``-ed; retried when its holder removed it between our open and our lock."""
    for _ in range(10):
        try:
            f = open(lock, "a+", encoding="utf-8")  # noqa: SIM115 - closed below, or handed to the caller
        except OSError as e:
            raise WriteError(e.errno, e.strerror or str(e), str(lock)) from e
        with f:
            _lock_or_refuse(f, out_dir)
            if _same_file(lock, f):
                yield f
                return
    raise ConfigError(f"run directory {out_dir}: its lock {lock} keeps changing; another process is using it")


def _same_file(path: Path, f: Any) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(f.fileno()).st_ino
    except OSError:
        return False


def _restore_env(value: str | None) -> None:
    if value is None:
        os.environ.pop(HOLDER_ENV, None)
    else:
        os.environ[HOLDER_ENV] = value


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
