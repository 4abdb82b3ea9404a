"""The ``mltrain`` command: the only place that touches argv, the process's signals and its exit.

``mltrain <command> [hydra overrides and flags]``: the dispatcher takes the subcommand off argv. A single
run goes the way ``mltrain.fit`` goes (``launch/hydra_job.py``: the config composed once, a Hydra job);
a sweep (``-m``) and Hydra's own flags (``--cfg job``, ``--help``, ``--info``, ``-cd``, tab completion) go
through a ``@hydra.main`` function whose primary config is that command's (``conf/fit.yaml``), as in any
Hydra app. What a command does lives below: ``launch/runner.py`` (config to finished command),
``rundir.py`` (run directories), ``config/messages.py`` (error wording), ``completion.py``.

Exit status (``outcomes.py``, the one table): 0 success, 1 a bug (with a traceback), a failed rank or
sweep job, 2 a user error (one message, no traceback), 3 a run that diverged, an evaluation whose metric
dropped by more than ``max_drop`` or a monitor past ``max_drift``, 74 a file that could not be written,
130 / 143 interrupted by Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from mltrain.outcomes import EXIT_IO, EXIT_USER_ERROR, Outcome, of_error, of_summary, of_sweep

__all__ = ["EXIT_IO", "main"]  # EXIT_IO: what a failed write exits with (tests read it here)

COMMANDS = {
    "fit": "train a model: mltrain fit [group=choice] [key=value] ... (see mltrain fit --help)",
    "report": "one table of runs, sweep jobs and folds, best first: mltrain report [dir ...] (see --help)",
    "evaluate": "score a finished run: mltrain evaluate run=<run dir> [input=<csv|parquet>] [max_drop=<x>]",
    "predict": "predict with a run: mltrain predict run=<run dir> input=<csv|parquet> output=<csv> "
    "[id=<col>]",
    "export": "a run as one ONNX / TorchScript file: mltrain export run=<run dir> [format=onnx|torchscript]",
    "monitor": "drift of new rows from the training rows: mltrain monitor run=<run dir> input=<csv|parquet>",
    "lr_find": "learning-rate range test: mltrain lr_find [fit's overrides]; prints the optimizer.lr= to use",
    "diff": "what differs between two runs (config, data, code, versions, metrics): mltrain diff <run> <run>",
}
USAGE = "usage: mltrain <command> [overrides] [hydra flags]\n\ncommands:\n" + "\n".join(
    f"  {name:<10}{text}" for name, text in COMMANDS.items()
)
_command = "fit"  # the subcommand being run, for messages about its keys
_signal = signal.SIGINT  # the signal that stops the command: SIGTERM's handler records itself


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script and of ``python -m mltrain``."""
    from mltrain.startup import defer_gc, end_of_startup

    defer_gc()  # no cyclic GC while Hydra, torch and pandas load (startup.py): about 1.5 s a run
    args = sys.argv[1:] if argv is None else list(argv)
    # the command as typed, for summary.json's provenance (rundir/provenance.py: COMMAND_ENV); in the
    # environment, so sweep jobs and torchrun ranks in other processes record it too
    os.environ["MLTRAIN_COMMAND_LINE"] = json.dumps(["mltrain", *args])
    try:
        _dispatch(args)
    except KeyboardInterrupt as e:  # before a command's own handling began, e.g. while importing torch
        _fail_with(of_error(e, signum=_signal))
    finally:
        end_of_startup()  # a command that never reached its work


def _dispatch(args: list[str]) -> None:
    parsed = _command_and_rest(args)
    if parsed is None:  # answered already: usage, version, completion, a command's own --help
        return
    command, rest = parsed
    signal.signal(signal.SIGTERM, _raise_interrupt)
    if command in ("report", "diff"):  # plain argparse: nothing to compose
        from mltrain.startup import end_of_startup

        end_of_startup()  # reading many runs: the collector on (startup.py)
        with _report_errors():
            _report(command, rest)
        return
    from mltrain import completion

    completion.strip_command(command)
    from mltrain.launch import join_torchrun

    follower = join_torchrun(command)  # under torchrun, ranks > 0 run the jobs rank 0 composes and shares
    if follower is not None:
        sys.exit(follower)
    _run_command(command, rest)


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


def _run_command(command: str, rest: list[str]) -> None:
    """Run the command: a single run through ``launch/hydra_job.py``, which composes its config once; a
    sweep and Hydra's own flags (``-m``, ``--cfg``, ``--help``, ``-sc``, ``-cd`` ...) through ``@hydra.main``.
    """
    global _command
    _command = command
    if command == "lr_find" and ("-m" in rest or "--multirun" in rest):  # a sweep's jobs are fits
        _fail("lr_find runs one range test; it cannot be combined with -m/--multirun")
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises; _report_errors turns user errors into one line
    with _report_errors():
        from mltrain.launch import hydra_job  # Hydra, torch and the command: after usage and --version

        if not hydra_job.needs_hydra_main(rest):
            _finish(hydra_job.run(command, rest))
            return
        sys.argv = [sys.argv[0], *hydra_job.prepared(rest)]
        _hydra_app(command)()
    sweep = sys.modules.get("mltrain.launch.sweep")  # imported by a multirun's callback
    _fail_with(of_sweep(sweep.failed_jobs if sweep is not None else []))


def _hydra_app(command: str) -> Any:
    import hydra

    from mltrain.config.schemas import register_schemas
    from mltrain.launch.optuna_config import register_sweeper
    from mltrain.rundir import install_resolvers

    install_resolvers()
    register_schemas(command)
    register_sweeper()  # hydra/sweeper=optuna, also from an editable install

    @hydra.main(version_base="1.3", config_path="pkg://mltrain.conf", config_name=command)
    def app(cfg: Any) -> Any:
        return _run_task(command, cfg)

    return app


def _run_task(command: str, cfg: Any) -> Any:
    """``@hydra.main``'s task function: a sweep job, or a single run as ``hydra_job.run`` runs one.

    Returns the run's objective, the number a sweeper (Optuna) optimises.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from mltrain.launch.hydra_job import run_task
    from mltrain.launch.runner import run_sweep_job

    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return _finish(run_task(command, cfg))
    out_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        return run_sweep_job(cfg, out_dir, _parallel_jobs(hydra_cfg.launcher))
    except KeyboardInterrupt as e:
        _fail_with(of_error(e, out_dir, _signal, sweep=True))


def _finish(finished: Any) -> Any:
    """The exit of a finished single run (``hydra_job.Finished``): its objective when all went well."""
    if finished.error is not None:
        outcome = of_error(finished.error, finished.out_dir, _signal)
        if outcome is None:
            raise finished.error  # a bug: Python prints the traceback, exit 1
        _fail_with(outcome)
    _fail_with(of_summary(finished.summary, finished.out_dir))
    return finished.summary.get("objective")


def _parallel_jobs(launcher: Any) -> int | None:
    """``n_jobs`` of the joblib launcher (jobs share this machine's cores), else ``None``."""
    return (launcher.get("n_jobs") or 1) if "joblib" in str(launcher.get("_target_", "")) else None


def _report(command: str, args: list[str]) -> None:
    """``mltrain report``: print each section's table (100 columns in a pipe), and the files written;
    ``mltrain diff``: print what differs between two runs."""
    import importlib

    run_from_args = importlib.import_module(f"mltrain.commands.{command}").run_from_args
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else 100
    lines = run_from_args(args, width)
    try:
        _say("\n".join(lines))
        sys.stdout.flush()
    except BrokenPipeError:  # `mltrain report | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _raise_interrupt(signum: int, frame: Any) -> None:
    global _signal
    _signal = signum
    raise KeyboardInterrupt


@contextlib.contextmanager
def _report_errors() -> Iterator[None]:
    """User errors (Hydra's composition errors included) -> one line, status 2; a failed write -> 74."""
    from mltrain.config.messages import user_message

    try:
        yield
    except Exception as error:
        outcome = of_error(error)
        if outcome is None:
            message = user_message(error, _command)
            if message is None:
                raise  # a bug: Python prints the traceback, exit 1
            outcome = Outcome(message, EXIT_USER_ERROR)
        _fail_with(outcome)


def _fail_with(outcome: Outcome | None) -> None:
    if outcome is not None:
        _fail(outcome.message, outcome.status)


def _fail(message: str, status: int = EXIT_USER_ERROR) -> NoReturn:
    from rich.console import Console
    from rich.markup import escape

    console = Console(file=sys.stderr, highlight=False, soft_wrap=True, emoji=False)
    console.print(f"[bold red]error:[/bold red] {escape(message)}")
    sys.exit(status)


def _say(text: str) -> None:
    print(text)
