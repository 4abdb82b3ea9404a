"""Run directories: the files a run leaves (:class:`RunDir`), how directories are named, made unique,
locked, and found again from what a user pastes.

    run = RunDir("runs/fit/2026-11-23_23-57-14_dataset-iris_epochs-3")  # <timestamp>_<overrides>
    run.summary, run.history_csv, run.last_checkpoint    # paths: no other module spells a run file's name
    run.read_summary(), run.read_config(), run.folds()   # reads: plain data, folds in numeric order

A name holds only letters, digits and ``. _ - +``, so it pastes as it is into ``run=``, ``resume=`` and
``mltrain report``, into a shell and into Hydra's override grammar. Hydra resolves ``hydra.run.dir`` through
the ``mltrain_run_dir`` resolver registered here; ``cli.py`` quotes path values before Hydra parses them.
Nothing here imports torch: ``mltrain report`` reads runs through this module.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import functools
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mltrain.errors import ConfigError
from mltrain.files import WriteError, make_dir, read_json
from mltrain.trust import TRUST_KEY, check_code, named_code, replayable

NAME_LIMIT = 60  # characters of overrides in a run directory's name (the timestamp comes on top)
KFOLD_RESUME = "resume= does not support validation=kfold yet; start the k-fold run again"
FOLD = re.compile(r"fold_(\d+)")  # a k-fold parent's fold directories: fold_1 ... fold_<k>
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's when built: a report reads many runs
_created: list[Path] = []  # run directories unique_run_dir made in this process


class RunFile:
    """A file's place in a run directory: ``RunDir(p).summary`` is ``p/summary.json``; on the class,
    ``RunDir.summary`` is the relative ``summary.json`` (what artifact lists and messages name)."""

    def __init__(self, *parts: str) -> None:
        self.relative = Path(*parts)

    def __get__(self, run: RunDir | None, owner: type | None = None) -> Path:
        return self.relative if run is None else run.path / self.relative


@dataclass(frozen=True)
class RunDir:
    """A run directory and every file a run (or a command, or a sweep) leaves in it.

    The layout is data for whoever reads it back: :meth:`read_config` parses YAML as plain data and never
    resolves an interpolation; :meth:`read_summary` gives ``None`` for a missing or damaged file.
    """

    path: Path

    config = RunFile("config.yaml")  # the resolved config
    preprocessing = RunFile("preprocessing.json")  # encoders and scaling fitted on the training rows
    history_csv = RunFile("history.csv")  # one row per epoch, rewritten after each
    history_json = RunFile("history.json")  # the same numbers shaped like Keras' History
    summary = RunFile("summary.json")  # status, best epoch and its metrics, versions, diagnosis
    profile = RunFile("profile.json")  # the training rows' distributions, for `mltrain monitor`
    model = RunFile("model.pt")  # the best epoch's weights
    checkpoints = RunFile("checkpoints")
    last_checkpoint = RunFile("checkpoints", "last.pt")  # every epoch: what resume= continues from
    best_checkpoint = RunFile("checkpoints", "best.pt")
    plots = RunFile("plots")  # PNG: learning curves, confusion matrix, drift
    classification_report_json = RunFile("classification_report.json")
    classification_report_csv = RunFile("classification_report.csv")
    cv_summary = RunFile("cv_summary.json")  # a k-fold parent: statistics over its folds
    cv_summary_csv = RunFile("cv_summary.csv")
    fold_indices = RunFile("fold_indices.json")  # the validation rows of each fold
    hydra_dir = RunFile(".hydra")  # Hydra's record of the job
    hydra_config = RunFile(".hydra", "config.yaml")  # the composed config, unresolved
    hydra_overrides = RunFile(".hydra", "overrides.yaml")  # the command line's overrides
    hydra_yaml = RunFile(".hydra", "hydra.yaml")  # Hydra's own settings (its mode: RUN or MULTIRUN)
    fit_log = RunFile("fit.log")  # the run's log lines
    error = RunFile("error.txt")  # a failed sweep job: message and traceback
    lock = RunFile(".lock")  # held while a process runs in the directory
    evaluation = RunFile("evaluation.json")  # `mltrain evaluate`'s output directory
    monitor = RunFile("monitor.json")  # `mltrain monitor`'s output directory
    sweep_table = RunFile("sweep.csv")  # a multirun's directory: one row per job
    sweep_config = RunFile("multirun.yaml")  # a multirun's directory: Hydra's settings and overrides

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def is_run(self) -> bool:
        """Whether the directory holds a run: its ``summary.json`` or ``cv_summary.json``, or the
        ``config.yaml`` of a fit with its ``.hydra/``, ``model.pt`` or ``preprocessing.json``."""
        if self.summary.is_file() or self.cv_summary.is_file():
            return True
        return self.config.is_file() and any(
            p.exists() for p in (self.hydra_dir, self.model, self.preprocessing)
        )

    @classmethod
    def containing(cls, path: Path) -> RunDir | None:
        """The run directory ``path`` (a file, written or not) is in, after resolving links; else ``None``."""
        for parent in Path(path).resolve().parents:
            if cls(parent).is_run:
                return cls(parent)
        return None

    @property
    def resume_files(self) -> tuple[Path, ...]:
        """What ``resume=`` continues from: the config and the checkpoints."""
        return (self.config, self.last_checkpoint, self.best_checkpoint)

    def rank_log(self, rank: int) -> Path:
        """The log (and traceback) of one rank of a ``trainer.nproc`` or torchrun run."""
        return self.path / f"rank_{rank}.log"

    def fold(self, number: int) -> RunDir:
        """Fold ``number`` (from 1) of a k-fold parent."""
        return RunDir(self.path / f"fold_{number}")

    def folds(self) -> list[RunDir]:
        """The fold directories of a k-fold parent, in numeric order (``fold_2`` before ``fold_10``)."""
        found = [
            (int(m[1]), p) for p in self.path.glob("fold_*") if (m := FOLD.fullmatch(p.name)) and p.is_dir()
        ]
        return [RunDir(p) for _, p in sorted(found)]

    @property
    def fold_number(self) -> int | None:
        """The fold this directory is, for a fold of a k-fold run; else ``None``."""
        match = FOLD.fullmatch(self.path.name)
        return int(match[1]) if match else None

    @property
    def is_kfold_parent(self) -> bool:
        """Whether the directory holds a finished k-fold run's ``cv_summary.json``."""
        return self.cv_summary.is_file()

    def read_summary(self) -> dict[str, Any] | None:
        """``summary.json``'s content; ``None`` when missing or damaged."""
        return _mapping(read_json(self.summary))

    def read_cv_summary(self) -> dict[str, Any] | None:
        """``cv_summary.json``'s content; ``None`` when missing or damaged."""
        return _mapping(read_json(self.cv_summary))

    def read_config(self) -> dict[str, Any]:
        """``config.yaml`` (resolved), else ``.hydra/config.yaml``, as plain data; ``{}`` if neither."""
        for path in (self.config, self.hydra_config):
            data = _read_yaml(path)
            if isinstance(data, dict):
                return data
        return {}

    def read_overrides(self) -> list[str]:
        """The command-line overrides of the run (``.hydra/overrides.yaml``); ``[]`` if absent or damaged."""
        items = _read_yaml(self.hydra_overrides)
        return [str(item) for item in items] if isinstance(items, list) else []

    def hydra_mode(self) -> str | None:
        """``RUN`` or ``MULTIRUN`` from ``.hydra/hydra.yaml``; ``None`` for a run not started by Hydra."""
        settings = _read_yaml(self.hydra_yaml)
        hydra = settings.get("hydra") if isinstance(settings, dict) else None
        mode = hydra.get("mode") if isinstance(hydra, dict) else None
        return str(mode) if mode is not None else None


def _read_yaml(path: Path) -> Any:
    """A YAML file as plain data (no tags, no interpolation); ``None`` when missing or damaged."""
    try:
        return yaml.load(path.read_text(), Loader=_LOADER)
    except (OSError, ValueError, yaml.YAMLError):
        return None


def _mapping(data: Any) -> dict[str, Any] | None:
    return data if isinstance(data, dict) else None


def install_resolvers() -> None:
    """Register ``mltrain_slug`` and ``mltrain_run_dir``, which name run directories in ``conf/*.yaml``."""
    from omegaconf import OmegaConf

    def names(items: Any) -> tuple[str, ...]:  # resolvers get a ListConfig; the cache needs a tuple
        return tuple(str(i) for i in items or ())

    # use_cache: the resolved directory travels with the pickled config to joblib / submitit workers
    OmegaConf.register_new_resolver("mltrain_slug", lambda items: slug(names(items)), replace=True)
    OmegaConf.register_new_resolver(
        "mltrain_run_dir", lambda base, items=(): unique_run_dir(base, names(items)), replace=True,
        use_cache=True,
    )  # fmt: skip


def slug(overrides: tuple[str, ...] | list[str], limit: int = NAME_LIMIT) -> str:
    """A short, path- and override-safe name from overrides: ``optimizer-nadam_lr-0.01_path-data.csv``.

    Keys keep their last part (``optimizer.lr`` -> ``lr``), paths their file name, lists join with ``+``
    (``metric=[accuracy,f1]`` -> ``metric-accuracy+f1``). Overrides that do not fit in ``limit`` characters
    are counted instead of cut mid-word: ``..._epochs-3_+2``.
    """
    parts = []
    for item in overrides:
        key, _, value = item.lstrip("+~").partition("=")
        if key.split(".")[0] == "logger":  # where a run is also logged does not change it
            continue
        value = value.strip("'\"").rstrip("/").rsplit("/", 1)[-1].strip("[]()")
        value = re.sub(r"\s*,\s*", "+", value)
        parts.append(re.sub(r"[^\w.+-]+", "-", f"{key.rsplit('.', 1)[-1]}-{value}").strip("-"))
    kept: list[str] = []
    for i, part in enumerate(parts):
        left = len(parts) - i - 1
        if len("_".join([*kept, part])) + (len(f"_+{left}") if left else 0) > limit:
            return "_".join([*kept, f"+{len(parts) - i}"])
        kept.append(part)
    return "_".join(kept)


@functools.cache
def unique_run_dir(base: str, overrides: tuple[str, ...] = ()) -> str:
    """``new_run_dir``, cached: Hydra resolving ``hydra.run.dir`` twice gets the same directory."""
    return new_run_dir(base, overrides)


def new_run_dir(base: str, overrides: tuple[str, ...] | list[str] = ()) -> str:
    """``<base>/<timestamp>[_<overrides>]``, created now so that no other run can take the same name.

    Two runs started in the same second with the same overrides get ``..._2``, ``..._3``: ``os.mkdir``
    fails for all but one of them. Every call makes a new directory (the Python API: two fits in one
    process are two runs).

    Raises:
        WriteError: ``base`` cannot be created or written (a file in the way, a read-only disk).
    """
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    name = "_".join(filter(None, [stamp, slug(overrides)]))
    make_dir(Path(base))
    for n in range(1, 10_000):
        candidate = Path(base) / (name if n == 1 else f"{name}_{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        except OSError as e:
            raise WriteError(e.errno, e.strerror or str(e), str(candidate)) from e
        _created.append(candidate.resolve())
        return str(candidate)
    raise RuntimeError(f"no free run directory under {base}")


def remove_if_unused(out_dir: Path) -> None:
    """Delete a run directory this process made when the run was refused before writing its files."""
    if not out_dir.is_dir():
        return
    kept = (RunDir.hydra_dir.name, RunDir.lock.name)  # what Hydra and the lock leave before a run starts
    unused = all(p.name in kept or p.suffix == ".log" for p in out_dir.iterdir())
    if out_dir.resolve() in _created and unused:
        shutil.rmtree(out_dir, ignore_errors=True)


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


def unquote(value: str) -> str:
    """A value without one pair of surrounding quotes: ``'runs/fit/a'`` -> ``runs/fit/a``."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def hydra_quoted(value: str) -> str:
    """``value`` as a quoted string of Hydra's override grammar, read back by Hydra exactly as it is."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
