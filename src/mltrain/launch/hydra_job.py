"""One run of a command (no ``-m``) as a Hydra job: the one path of ``mltrain <command>`` and ``mltrain.fit``.

    finished = run("fit", ["optimizer=nadam", "trainer.epochs=3"])   # the overrides as typed
    finished.summary, finished.error, finished.run_dir

The overrides are prepared (path values quoted, ``resume=<dir>`` continued in that directory), then
``conf/<command>.yaml`` is composed once, with Hydra's own config (``hydra.run.dir``, ``hydra.job.*``,
``hydra.output_subdir``, ``hydra.searchpath``, ``hydra.verbose``), and Hydra's ``run_job`` (what every
Hydra launcher calls) makes the job: the run directory (``rundir``'s ``mltrain_run_dir`` resolver names
it), ``.hydra/`` (``config.yaml``, ``hydra.yaml``, ``overrides.yaml``), the job's log (the terminal and
``<run>/<command>.log``) and the call of :func:`run_task`. ``@hydra.main`` (``cli.py``) stays for what only
it does: ``-m``, ``--cfg``, ``--help``, ``-sc``, ``--info``, a ``hydra.mode`` override and the user's own
config directories (``-cd``, ``-cp``, ``-cn``); its task calls :func:`run_task` too.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hydra import initialize_config_module
from hydra._internal.callbacks import Callbacks  # what Hydra.run hands run_job: hydra.callbacks of the config
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import run_job
from hydra.types import HydraContext, RunMode
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from mltrain.config.messages import user_message
from mltrain.config.schemas import register_schemas
from mltrain.errors import ConfigError, UserError
from mltrain.files import WriteError, atomic_write_text, make_dir
from mltrain.launch.optuna_config import register_sweeper
from mltrain.launch.runner import run_command
from mltrain.outcomes import write_failure
from mltrain.rundir import (
    RunDir,
    check_unlocked,
    hydra_quoted,
    install_resolvers,
    remove_if_unused,
    resume_dir,
    resumed_overrides,
    run_lock,
    unique_run_dir,
    unquote,
)

PATH_KEYS = ("run", "resume", "input", "output", "hydra.run.dir", "hydra.sweep.dir")  # never swept
LOG_FORMAT = "hydra.job_logging.formatters.simple.format"  # the job log's lines (conf/<command>.yaml)


@dataclass(frozen=True)
class Finished:
    """How a run ended: the command's result (``summary.json``'s content) or the error that stopped it."""

    out_dir: Path  # the job's output directory (absolute): where the command ran
    summary: dict[str, Any] = field(default_factory=dict)
    error: BaseException | None = None  # a user error, an interruption, a failed write, a bug
    run_dir: Path | None = None  # the directory as named (``runs/fit/<timestamp>_...``, or as given)


def needs_hydra_main(args: list[str]) -> bool:
    """Whether only ``@hydra.main`` can run ``args``: a flag (``-m``, ``--cfg``, ``-cd``, ...) or a
    ``hydra.mode`` override (which a config file of the user's own may also set)."""
    return any(arg.startswith("-") or "hydra.mode" in arg.partition("=")[0] for arg in args)


def prepared(args: list[str]) -> list[str]:
    """Path values quoted for Hydra's grammar, and ``resume=<dir>`` run in that directory.

    A run directory holds ``=`` and ``,`` (``..._dataset-iris``, or a user's own ``hydra.run.dir``), and
    paths may hold spaces or brackets: quoted, Hydra reads each exactly as typed. ``resume=<dir>`` makes
    ``<dir>`` Hydra's run directory, checked (and its lock) before Hydra writes anything there, and puts
    the run's own overrides before the given ones (``mltrain fit resume=<dir>`` alone continues it).

    Raises:
        ConfigError: ``resume=`` with ``-m``, a run directory a live run holds, one that cannot be made.
    """
    multirun = "-m" in args or "--multirun" in args
    values, out = {}, []
    for arg in args:
        key, eq, value = arg.partition("=")
        if eq and key in PATH_KEYS:
            values[key] = value = unquote(value)
            arg = f"{key}={hydra_quoted(value)}" if value not in ("", "null") else arg
        out.append(arg)
    resume = values.get("resume")
    if resume and resume != "null":
        if multirun:
            raise ConfigError("resume= continues one run; it cannot be combined with -m/--multirun")
        out = resumed_overrides(resume_dir(resume), out)  # the run's own overrides, then the given ones
        out += [] if "hydra.run.dir" in values else [f"hydra.run.dir={hydra_quoted(resume)}"]
        out.append("hydra.output_subdir=null")  # the run's .hydra/ keeps the overrides it was started with
    elif "hydra.run.dir" in values and not multirun:
        check_unlocked(Path(values["hydra.run.dir"]))
    for key in ("hydra.run.dir", "hydra.sweep.dir"):
        if values.get(key):
            make_dir(Path(values[key]), key)
    return out


def run(command: str, args: list[str], from_shell: bool = True, console_log: bool = True) -> Finished:
    """Run ``mltrain <command> <args>`` as one Hydra job, composing its config once.

    Args:
        from_shell: the overrides were typed in a shell (Hydra's messages quote for one).
        console_log: Hydra's job logging (the terminal and the job's log file, as the command does);
            ``False`` (``mltrain.fit``): only the job's log file, and the caller's logging left as it was.

    Returns:
        The finished run; the command's own errors are in ``error``, not raised.

    Raises:
        UserError: a bad override, found while composing (nothing is written).
        WriteError: the run directory could not be made.
    """
    overrides = prepared(args)
    with _fresh_hydra():
        cfg = compose(command, overrides, from_shell, console_log)
        with read_write(cfg.hydra):
            cfg.hydra.mode = RunMode.RUN
        run_dir = Path(_run_dir_name(cfg))
        finished: list[Finished] = []
        callbacks = Callbacks(cfg)
        callbacks.on_run_start(config=cfg, config_name=command)
        context = HydraContext(config_loader=GlobalHydra.instance().config_loader(), callbacks=callbacks)
        with run_lock(run_dir), _log_errors_dropped():  # nothing is written in run_dir before the lock
            _save_hydra_files(cfg, run_dir)
            with contextlib.nullcontext() if console_log else _file_log(cfg, run_dir):
                ret = run_job(
                    task_function=lambda task_cfg: finished.append(run_task(command, task_cfg)),
                    config=cfg, job_dir_key="hydra.run.dir", job_subdir_key=None, hydra_context=context,
                    configure_logging=console_log,
                )  # fmt: skip
        callbacks.on_run_end(config=cfg, config_name=command, job_return=ret)
    return replace(finished[0], run_dir=run_dir)


def _save_hydra_files(cfg: DictConfig, run_dir: Path) -> None:
    """Hydra's record of the job (``.hydra/``: the config, Hydra's own, the overrides), written as Hydra's
    ``run_job`` would but atomically and by the lock's holder; ``run_job`` is then told not to.

    Raises:
        WriteError: naming the file that could not be written (a full or read-only disk).
    """
    subdir = cfg.hydra.output_subdir
    if subdir is None:  # resume=: the run's .hydra/ keeps the overrides it was started with
        return
    out, run = make_dir(run_dir / subdir), RunDir(run_dir)
    hydra_cfg = OmegaConf.masked_copy(cfg, "hydra")
    with read_write(hydra_cfg), open_dict(hydra_cfg):
        hydra_cfg.hydra.runtime.output_dir = str(run_dir.absolute())
    task_cfg = copy.deepcopy(cfg)
    with read_write(task_cfg), open_dict(task_cfg):
        del task_cfg["hydra"]
    overrides = cfg.hydra.overrides.task
    for name, node in (
        (run.hydra_config, task_cfg),
        (run.hydra_yaml, hydra_cfg),
        (run.hydra_overrides, overrides),
    ):
        atomic_write_text(out / name.name, OmegaConf.to_yaml(node))
    with read_write(cfg.hydra):
        cfg.hydra.output_subdir = None


@contextlib.contextmanager
def _log_errors_dropped() -> Iterator[None]:
    """A log line that cannot be written (a full disk under ``<run>/<command>.log``) is dropped, not
    reported with a traceback on stderr: the write that matters fails too and says so in one line."""
    raising, logging.raiseExceptions = logging.raiseExceptions, False
    try:
        yield
    finally:
        logging.raiseExceptions = raising


def compose(command: str, overrides: list[str], from_shell: bool = False, log: bool = False) -> DictConfig:
    """``conf/<command>.yaml`` composed with ``overrides``, Hydra's config included, checked by the schema.

    Call it where Hydra is initialised (:func:`run` does). ``log``: set up Hydra's own logging as
    ``@hydra.main`` does (with ``hydra.verbose``, its debug report of the search path and plugins).

    Raises:
        UserError: an unknown choice or key, a mistyped value, an override Hydra cannot parse.
    """
    hydra = GlobalHydra.instance().hydra
    assert hydra is not None, "compose() runs inside _fresh_hydra()"
    register_schemas(command)  # fit_schema is lr_find's own for `mltrain lr_find` (config/schemas.py)
    try:
        return hydra.compose_config(
            config_name=command, overrides=overrides, run_mode=RunMode.RUN, from_shell=from_shell,
            with_log_configuration=log,
        )  # fmt: skip
    except Exception as error:
        message = user_message(error, command)
        if message is None:
            raise  # a bug, not the user's input
        raise UserError(message) from error


def run_task(command: str, cfg: DictConfig) -> Finished:
    """Hydra's task function of a single run (either path): the command in the job's output directory.

    Never raises for the command's own errors: they are returned. OmegaConf's errors met while building
    (a ``???`` key, say) become the ``UserError`` the message names, and the unused directory is removed.
    """
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        return Finished(out_dir, run_command(command, cfg, out_dir))
    except (Exception, KeyboardInterrupt) as error:
        return Finished(out_dir, error=_as_user_error(error, command, out_dir))


def _as_user_error(error: BaseException, command: str, out_dir: Path) -> BaseException:
    if isinstance(error, UserError | KeyboardInterrupt) or write_failure(error) is not None:
        return error
    message = user_message(error, command)
    if message is None:
        return error  # a bug
    remove_if_unused(out_dir)
    user_error = UserError(message)
    user_error.__cause__ = error
    return user_error


@contextlib.contextmanager
def _fresh_hydra() -> Iterator[None]:
    """Hydra initialised on ``mltrain.conf`` for a run; a Hydra app calling ``mltrain.fit`` keeps its own."""
    install_resolvers()
    register_schemas()
    register_sweeper()
    outer = GlobalHydra.instance().hydra
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module("mltrain.conf", version_base="1.3"):
            yield
    finally:
        GlobalHydra.instance().hydra = outer


def _run_dir_name(cfg: DictConfig) -> str:
    """``hydra.run.dir``, resolved now: a new directory for each run, also several in one process.

    Raises:
        WriteError: the directory could not be made (a file in the way, a read-only disk).
    """
    unique_run_dir.cache_clear()  # the resolver's cache serves one composition, not the next run
    try:
        return str(OmegaConf.select(cfg, "hydra.run.dir"))
    except Exception as error:
        cause: BaseException | None = error
        while cause is not None and not isinstance(cause, WriteError):
            cause = cause.__cause__ or cause.__context__
        if cause is None:
            raise
        raise cause from None


@contextlib.contextmanager
def _file_log(cfg: DictConfig, run_dir: Path) -> Iterator[None]:
    """The run's log lines (and per-epoch lines) into ``<run_dir>/<command>.log`` while it runs, in the
    format of the job's log, as Hydra's file handler writes them.

    The handler sits on the root logger only for the run (``ProgressCallback`` writes each epoch's line to
    the root's file handlers); ``mltrain``'s loggers log INFO meanwhile unless a level was set for them.
    """
    handler = logging.FileHandler(run_dir / f"{cfg.hydra.job.name}.log", encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter(OmegaConf.select(cfg, LOG_FORMAT)))
    handler.setLevel(logging.INFO)
    package = logging.getLogger("mltrain")
    unset = package.level == logging.NOTSET
    root = logging.getLogger()
    root.addHandler(handler)
    if unset:
        package.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        if unset:
            package.setLevel(logging.NOTSET)
