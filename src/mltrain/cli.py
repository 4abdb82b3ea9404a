"""The ``mltrain`` command: the only place that touches argv, Hydra's runtime and exit codes.

``mltrain <command> [hydra overrides and flags]``: the dispatcher takes the subcommand off argv and hands
the rest to a ``@hydra.main`` function whose primary config is that command's (``conf/fit.yaml``), so
``-m``, ``--cfg job``, ``--help``, ``--info``, ``-cd`` and tab completion all work as in any Hydra app.
What a command does lives below: ``launch/runner.py`` (config to finished command), ``rundir.py`` (run
directories), ``config/messages.py`` (error wording), ``completion.py``.

Exit status: 0 success, 1 a bug (with a traceback) or a failed sweep job, 2 a user error (one message, no
traceback), 3 a run that diverged, an evaluation whose metric dropped by more than ``max_drop`` or a
monitor past ``max_drift``, 74 a file that could not be written, 130 / 143 interrupted by Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

EXIT_USER_ERROR, EXIT_DIVERGED, EXIT_METRIC_DROP, EXIT_SIGINT, EXIT_SIGTERM = 2, 3, 3, 130, 143
EXIT_IO = 74  # sysexits' EX_IOERR: a file could not be written
COMMANDS = {
    "fit": "train a model: mltrain fit [group=choice] [key=value] ... (see mltrain fit --help)",
    "report": "one table of runs, sweep jobs and folds, best first: mltrain report [dir ...] (see --help)",
    "evaluate": "score a finished run: mltrain evaluate run=<run dir> [input=<csv|parquet>] [max_drop=<x>]",
    "predict": "predict with a run: mltrain predict run=<run dir> input=<csv|parquet> output=<csv> "
    "[id=<col>]",
    "export": "a run as one ONNX / TorchScript file: mltrain export run=<run dir> [format=onnx|torchscript]",
    "monitor": "drift of new rows from the training rows: mltrain monitor run=<run dir> input=<csv|parquet>",
}
USAGE = "usage: mltrain <command> [overrides] [hydra flags]\n\ncommands:\n" + "\n".join(
    f"  {name:<10}{text}" for name, text in COMMANDS.items()
)
PATH_KEYS = ("run", "resume", "input", "output", "hydra.run.dir", "hydra.sweep.dir")  # never swept
_command = "fit"  # the subcommand being run, for messages about its keys
_interrupt_status = EXIT_SIGINT


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script and of ``python -m mltrain``."""
    from mltrain.startup import defer_gc, end_of_startup

    defer_gc()  # no cyclic GC while Hydra, torch and pandas load (startup.py): about 1.5 s a run
    try:
        _dispatch(sys.argv[1:] if argv is None else list(argv))
    except KeyboardInterrupt:  # before a command's own handling began, e.g. while importing torch
        _fail("interrupted", status=_interrupt_status)
    finally:
        end_of_startup()  # a command that never reached its work


def _dispatch(args: list[str]) -> None:
    parsed = _command_and_rest(args)
    if parsed is None:  # answered already: usage, version, completion, a command's own --help
        return
    command, rest = parsed
    signal.signal(signal.SIGTERM, _raise_interrupt)
    if command == "report":  # plain argparse: nothing to compose
        from mltrain.startup import end_of_startup

        end_of_startup()  # reading many runs: the collector on (startup.py)
        with _report_errors():
            _report(rest)
        return
    from mltrain import completion

    completion.strip_command(command)
    if command == "fit" and int(os.environ.get("WORLD_SIZE", "1")) > 1:  # under torchrun
        from mltrain.launch import ranks as launch

        if launch.torchrun_rank():
            sys.exit(launch.follow())  # ranks > 0 run the jobs rank 0 composes and shares
        launch.lead()
    _run_hydra(command, rest)


def _command_and_rest(args: list[str]) -> tuple[str, list[str]] | None:
    """The subcommand and its arguments; ``None`` when nothing is left to run (the answer is printed).

    Usage and ``--version`` exit here; an unknown command is a user error.
    """
    if not args or args[0] in ("-h", "--help", "help"):
        _say(USAGE)
        sys.exit(0 if args else EXIT_USER_ERROR)
    if args[0] in ("-V", "--version"):
        from mltrain import __version__

        _say(f"mltrain {__version__}")
        sys.exit(0)
    from mltrain import completion

    command, rest = args[0], args[1:]
    if command.startswith("-"):  # Hydra flags with no command, e.g. `mltrain -sc install=bash`
        command, rest = "fit", args
        words = completion.answer(COMMANDS)
        if words is not None:
            _say(words)
            return None
    if command not in COMMANDS:
        from mltrain.errors import choice_problem

        _fail(choice_problem("command", command, COMMANDS))
    if "--help" in rest or "-h" in rest:  # a command without config groups: its own keys, not fit's groups
        from mltrain.config.help import command_help

        text = command_help(command)
        if text is not None:
            _say(text)
            return None
    return command, rest


def _run_hydra(command: str, rest: list[str]) -> None:
    """Compose the command's config from ``rest`` (once) and run it through ``@hydra.main``."""
    global _command
    _command = command
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises; _report_errors turns user errors into one line
    with _report_errors():
        sys.argv = [sys.argv[0], *_prepared(rest)]
        from mltrain.config.hydra_once import one_composition
        from mltrain.config.schemas import register_schemas
        from mltrain.rundir import install_resolvers

        install_resolvers()
        register_schemas()
        with one_composition(sys.argv[1:]):  # Hydra composes once, not twice
            _hydra_app(command)()
    _exit_if_sweep_jobs_failed()


def _prepared(args: list[str]) -> list[str]:
    """Path values quoted for Hydra's grammar, and ``resume=<dir>`` run in that directory.

    A run directory holds ``=`` and ``,`` (``..._dataset-iris``, or a user's own ``hydra.run.dir``), and
    paths may hold spaces or brackets: quoted, Hydra reads each exactly as typed. ``resume=<dir>`` makes
    ``<dir>`` Hydra's run directory, checked (and its lock) before Hydra writes anything there, and puts
    the run's own overrides before the given ones (``mltrain fit resume=<dir>`` alone continues it).
    """
    from mltrain.files import make_dir
    from mltrain.rundir import check_unlocked, hydra_quoted, resume_dir, resumed_overrides, unquote

    multirun = "-m" in args or "--multirun" in args
    values = {}
    out = []
    for arg in args:
        key, eq, value = arg.partition("=")
        if eq and key in PATH_KEYS:
            values[key] = value = unquote(value)
            arg = f"{key}={hydra_quoted(value)}" if value not in ("", "null") else arg
        out.append(arg)
    resume = values.get("resume")
    if resume and resume != "null":
        if multirun:
            _fail("resume= continues one run; it cannot be combined with -m/--multirun")
        out = resumed_overrides(resume_dir(resume), out)  # the run's own overrides, then the given ones
        out += [] if "hydra.run.dir" in values else [f"hydra.run.dir={hydra_quoted(resume)}"]
        out.append("hydra.output_subdir=null")  # the run's .hydra/ keeps the overrides it was started with
    elif "hydra.run.dir" in values and not multirun:
        check_unlocked(Path(values["hydra.run.dir"]))
    for key in ("hydra.run.dir", "hydra.sweep.dir"):
        if values.get(key):
            make_dir(Path(values[key]), key)
    return out


def _hydra_app(command: str) -> Any:
    import hydra

    @hydra.main(version_base="1.3", config_path="pkg://mltrain.conf", config_name=command)
    def app(cfg: Any) -> Any:
        return _run_task(command, cfg)

    return app


def _run_task(command: str, cfg: Any) -> Any:
    """Hydra's task function: run the command in the job's output directory, map outcomes to exits.

    Returns the run's objective, the number a sweeper (Optuna) optimises.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from mltrain.errors import DistributedError, UserError
    from mltrain.launch.runner import run_command, run_sweep_job
    from mltrain.rundir import RunDir

    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    if hydra_cfg.mode == RunMode.MULTIRUN:
        try:
            return run_sweep_job(cfg, out_dir, _parallel_jobs(hydra_cfg.launcher))
        except KeyboardInterrupt:
            _fail(
                f"sweep interrupted; finished jobs and epochs are saved in {out_dir.parent}",
                _interrupt_status,
            )
    try:
        summary = run_command(command, cfg, out_dir)
    except KeyboardInterrupt:
        _fail(f"interrupted; the epochs before it are saved in {out_dir}", status=_interrupt_status)
    except UserError as e:  # handled here, before Hydra logs "Error executing job"
        _fail(str(e))
    except DistributedError as e:  # a rank failed or died: the message names it
        _fail(f"{e}; run directory {out_dir}", status=1)
    except OSError as e:
        _fail(_write_failure(e) or _bug(e), EXIT_IO)
    if summary.get("alert"):  # monitor: drift past max_drift (or a metric drop); the message says which
        _fail(summary["alert"], status=EXIT_METRIC_DROP)
    if summary.get("failed"):  # evaluate: a metric dropped by more than max_drop
        _fail(f"{', '.join(summary['failed'])} dropped by more than max_drop={summary['max_drop']}; "
              f"see {RunDir(out_dir).evaluation}", status=EXIT_METRIC_DROP)  # fmt: skip
    if summary.get("status") == "diverged":
        _fail(f"run diverged: {summary['message']}; history so far is in {out_dir}", status=EXIT_DIVERGED)
    return summary.get("objective")


def _parallel_jobs(launcher: Any) -> int | None:
    """``n_jobs`` of the joblib launcher (jobs share this machine's cores), else ``None``."""
    return (launcher.get("n_jobs") or 1) if "joblib" in str(launcher.get("_target_", "")) else None


def _exit_if_sweep_jobs_failed() -> None:
    """After a multirun: status 1 when any job failed (each job's ``error.txt`` says why)."""
    sweep = sys.modules.get("mltrain.launch.sweep")
    if sweep is not None and sweep.failed_jobs:
        jobs = ", ".join(sweep.failed_jobs)
        _fail(f"{len(sweep.failed_jobs)} sweep job(s) failed: {jobs}; see error.txt in each", status=1)


def _report(args: list[str]) -> None:
    """``mltrain report``: print each section's table (100 columns in a pipe), and the files written."""
    from mltrain.commands.report import run_from_args

    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else 100
    lines = run_from_args(args, width)
    try:
        _say("\n".join(lines))
        sys.stdout.flush()
    except BrokenPipeError:  # `mltrain report | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _raise_interrupt(signum: int, frame: Any) -> None:
    global _interrupt_status
    _interrupt_status = EXIT_SIGTERM
    raise KeyboardInterrupt


@contextlib.contextmanager
def _report_errors() -> Iterator[None]:
    """User errors (Hydra's composition errors included) -> one line, status 2; a failed write -> 74."""
    from mltrain.config.messages import user_message

    try:
        yield
    except Exception as error:
        written = _write_failure(error)
        if written is not None:
            _fail(written, EXIT_IO)
        message = user_message(error, _command)
        if message is None:
            raise  # a bug: Python prints the traceback, exit 1
        _fail(message)


def _write_failure(error: BaseException | None) -> str | None:
    """``cannot write <file>: <reason>`` for a failed write (also one raised inside Hydra), else ``None``.

    A write fails with mltrain's ``WriteError`` (naming the file), or inside Hydra with a full or
    read-only disk; any other ``OSError`` (a user's factory reading a missing file, say) is not one.
    """
    from mltrain.files import WriteError

    while error is not None and not isinstance(error, OSError):
        error = error.__cause__ or error.__context__
    full = error is not None and error.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT)
    if not (isinstance(error, WriteError) or full) or not error.filename:
        return None
    return f"cannot write {error.filename}: {error.strerror or error}; the files written before it are intact"


def _bug(error: BaseException) -> NoReturn:
    raise error  # not a failed write: Python prints the traceback, exit 1


def _fail(message: str, status: int = EXIT_USER_ERROR) -> NoReturn:
    from rich.console import Console
    from rich.markup import escape

    console = Console(file=sys.stderr, highlight=False, soft_wrap=True, emoji=False)
    console.print(f"[bold red]error:[/bold red] {escape(message)}")
    sys.exit(status)


def _say(text: str) -> None:
    print(text)
