"""The ``mltrain`` command: the only place that touches argv, Hydra's runtime and exit codes.

``mltrain <command> [hydra overrides and flags]``: the dispatcher takes the subcommand off argv and hands
the rest to a ``@hydra.main`` function whose primary config is that command's (``conf/fit.yaml``), so
``-m``, ``--cfg job``, ``--help``, ``--info``, ``-cd`` and tab completion all work as in any Hydra app.

Exit status: 0 success, 1 a bug (with a traceback), 2 a user error (one message, no traceback),
3 a run that diverged or an evaluation whose metric dropped by more than ``max_drop``,
130 / 143 interrupted by Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import importlib
import logging
import os
import re
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
    "evaluate": "score a finished run: mltrain evaluate run=<run dir> [input=<csv>] [max_drop=<x>]",
    "predict": "predict with a run: mltrain predict run=<run dir> input=<csv> output=<csv> [id=<col>]",
}
USAGE = "usage: mltrain <command> [overrides] [hydra flags]\n\ncommands:\n" + "\n".join(
    f"  {name:<10}{text}" for name, text in COMMANDS.items()
)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script and of ``python -m mltrain``."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help", "help"):
        _say(USAGE)
        sys.exit(0 if args else EXIT_USER_ERROR)
    if args[0] in ("-V", "--version"):
        from mltrain import __version__

        _say(f"mltrain {__version__}")
        sys.exit(0)
    command, rest = args[0], args[1:]
    if command.startswith("-"):  # Hydra flags with no command, e.g. `mltrain -sc install=bash`
        command, rest = "fit", args
        if _complete_command_names():
            return
    if command not in COMMANDS:
        from mltrain.errors import choice_problem

        _fail(choice_problem("command", command, COMMANDS))
    if command == "report":  # plain argparse: nothing to compose
        with _report_errors():
            _report(rest)
        return
    _strip_command_from_completion_line(command)
    global _command
    _command = command
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises; _report_errors turns user errors into one line
    sys.argv = [sys.argv[0], *_resume_in_place(rest)]
    _install_resolvers()
    from mltrain.schemas import register_schemas

    register_schemas()
    with _report_errors():
        _hydra_app(command)()
    _exit_if_sweep_jobs_failed()


def _exit_if_sweep_jobs_failed() -> None:
    """After a multirun: status 1 when any job failed (each job's ``error.txt`` says why)."""
    sweep = sys.modules.get("mltrain.hydra_sweep")
    if sweep is not None and sweep.failed_jobs:
        jobs = ", ".join(sweep.failed_jobs)
        _fail(f"{len(sweep.failed_jobs)} sweep job(s) failed: {jobs}; see error.txt in each", status=1)


def _resume_in_place(args: list[str]) -> list[str]:
    """``resume=<dir>`` continues that run in its own directory: Hydra's run directory becomes ``<dir>``."""
    given = [a.partition("=")[2] for a in args if a.startswith("resume=")]
    if not given or not given[-1] or given[-1] == "null":
        return args
    if "-m" in args or "--multirun" in args:
        _fail("resume= continues one run; it cannot be combined with -m/--multirun")
    run_dir = Path(given[-1])
    if not run_dir.is_dir():
        _fail(f"resume={given[-1]}: no such run directory")
    if not (run_dir / "checkpoints" / "last.pt").is_file():
        _fail(f"resume={given[-1]}: no checkpoints/last.pt in that directory; nothing to continue")
    if any(a.startswith("hydra.run.dir=") for a in args):
        return args
    return [*args, f"hydra.run.dir={run_dir}"]


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

    from mltrain.errors import UserError

    out_dir = Path(HydraConfig.get().runtime.output_dir)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        return _run_sweep_job(cfg, out_dir)
    try:
        # only the command that runs is imported: fit does not pay for evaluate's imports
        summary = importlib.import_module(f"mltrain.commands.{command}").run(cfg, out_dir)
    except UserError as e:  # handled here, before Hydra logs "Error executing job"
        _remove_if_unused(out_dir)
        _fail(str(e))
    except KeyboardInterrupt:
        _fail(f"interrupted; the epochs before it are saved in {out_dir}", status=_interrupt_status)
    except (
        OSError
    ) as e:  # disk full, read-only directory: files are replaced atomically, so earlier ones stand
        where = e.filename or "a run file"
        _fail(f"cannot write {where}: {e.strerror or e}; the files written before it are intact", EXIT_IO)
    if summary.get("failed"):  # evaluate: a metric dropped by more than max_drop
        _fail(f"{', '.join(summary['failed'])} dropped by more than max_drop={summary['max_drop']}; "
              f"see {out_dir / 'evaluation.json'}", status=EXIT_METRIC_DROP)  # fmt: skip
    if summary.get("status") == "diverged":
        _fail(f"run diverged: {summary['message']}; history so far is in {out_dir}", status=EXIT_DIVERGED)
    return summary.get("objective")


def _run_sweep_job(cfg: Any, out_dir: Path) -> float:
    """One job of a multirun: a failure is recorded in its directory and the sweep goes on.

    A job that diverged or failed (user error or crash: ``error.txt``, summary status ``failed``) returns
    the worst objective (inf, or -inf when maximising), so a sweeper ranks it last instead of stopping.
    """
    from mltrain.artifacts.sweep import record_failure, write_sweep_table
    from mltrain.commands import fit
    from mltrain.schemas import objective_direction

    _divide_threads_among_jobs(cfg)
    worst = float("-inf") if objective_direction(cfg.objective, cfg.objective_mode) == "max" else float("inf")
    summary: dict[str, Any] = {}
    try:
        summary = fit.run(cfg, out_dir)
    except KeyboardInterrupt:
        _fail(f"sweep interrupted; finished jobs and epochs are saved in {out_dir.parent}", _interrupt_status)
    except Exception as e:  # noqa: BLE001 - one job's error must not sink the sweep
        message = record_failure(out_dir, e)
        logging.getLogger("mltrain").error("job failed: %s (details in %s)", message, out_dir / "error.txt")
    finally:
        write_sweep_table(out_dir.parent)
    objective = summary.get("objective")
    failed = summary.get("status") in (None, "diverged", "failed", "interrupted")
    return worst if failed or objective is None else float(objective)


def _divide_threads_among_jobs(cfg: Any) -> None:
    """Under ``hydra/launcher=joblib`` with ``trainer.num_threads`` null: ``cpu_count // n_jobs`` each."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    launcher = HydraConfig.get().launcher
    if cfg.trainer.num_threads is not None or "joblib" not in str(launcher.get("_target_", "")):
        return
    cpus = os.cpu_count() or 1
    n_jobs = launcher.get("n_jobs") or 1
    with open_dict(cfg):
        cfg.trainer.num_threads = max(1, cpus // (cpus if n_jobs < 0 else n_jobs))


# ---- mltrain report --------------------------------------------------------------------------------


def _report(args: list[str]) -> None:
    """``mltrain report [dir ...] [--sort M] [--group-by k1,k2] [--top N]``: print the table, save files."""
    import argparse

    parser = argparse.ArgumentParser(prog="mltrain report", description=COMMANDS["report"])
    parser.add_argument("dirs", nargs="*", default=["runs"], help="directories to search (default: runs)")
    parser.add_argument("--sort", help="column to rank by (default: objective, in its own direction)")
    parser.add_argument("--group-by", default="", help="override keys to average runs over: optimizer,lr")
    parser.add_argument("--top", type=int, default=5, help="runs whose validation curves report.png shows")
    options = parser.parse_args(args)
    from mltrain.commands.report import build_report, formatted, headers, write_report

    group_by = [k.strip() for k in options.group_by.split(",") if k.strip()]
    table = build_report([Path(d) for d in options.dirs], options.sort, group_by)
    written = write_report(table, Path(options.dirs[0]), options.top)
    _print_table(headers(table), formatted(table))
    _say("wrote " + ", ".join(map(str, written)))


def _print_table(columns: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, show_lines=False, header_style="bold")
    for row in rows:
        table.add_row(*row)
    Console(soft_wrap=False, width=max(200, shutil.get_terminal_size().columns)).print(table)


_interrupt_status = EXIT_SIGINT


def _raise_interrupt(signum: int, frame: Any) -> None:
    global _interrupt_status
    _interrupt_status = EXIT_SIGTERM
    raise KeyboardInterrupt


@contextlib.contextmanager
def _report_errors() -> Iterator[None]:
    """Turn user errors, Hydra's composition errors included, into one message and exit status 2."""
    try:
        yield
    except Exception as error:
        message = _user_message(error)
        if message is None:
            raise  # a bug: Python prints the traceback, exit 1
        _fail(message)


def _user_message(error: BaseException) -> str | None:
    """The one-line message for a user error, or ``None`` for anything else."""
    from hydra.errors import HydraException, MissingConfigException
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    from mltrain.errors import UserError, did_you_mean

    if isinstance(error, UserError):
        return str(error)
    if isinstance(error, MissingConfigException) and "/" in (error.missing_cfg_file or ""):
        group, _, value = error.missing_cfg_file.rpartition("/")
        choices = error.options or group_choices(group)
        return f"{group}={value} is not a choice; valid: {', '.join(choices)}{did_you_mean(value, choices)}"
    cause = error.__cause__ if isinstance(error.__cause__, OmegaConfBaseException) else error
    if isinstance(cause, MissingMandatoryValue):
        key = getattr(cause, "full_key", "") or "a required key"
        return f"{key} is required and has no value; set it on the command line, e.g. {key}=..."
    if isinstance(cause, OmegaConfBaseException):
        return _omegaconf_message(cause, str(error) if cause is not error else "")
    if isinstance(error, HydraException):
        return " ".join(str(error).split())
    return None


def _omegaconf_message(error: Any, context: str) -> str:
    """``trainer.epochs=abc: Value 'abc' could not be converted to Integer`` from OmegaConf's report."""
    first = str(error).splitlines()[0].strip()
    key = getattr(error, "full_key", None)
    if type(error).__name__ in ("ConfigKeyError", "ConfigAttributeError") and key:
        bad = key or first
        parent, _, leaf = str(bad).rpartition(".")
        return f"{bad} is not a config key{_valid_keys(parent, leaf)}"
    lead = context.splitlines()[0].strip() if context else ""
    return f"{key}: {first}" if key else (f"{lead} {first}".strip())


_command = "fit"  # the subcommand being run, for messages about its keys


def _valid_keys(parent: str, leaf: str) -> str:
    """ "; valid keys of trainer: ..., did you mean epochs?" from the composed fit config."""
    from mltrain.schemas import FitConfig, TrainerConfig

    known = {"": list(FitConfig.__dataclass_fields__), "trainer": list(TrainerConfig.__dataclass_fields__)}
    if _command != "fit":  # evaluate, predict: the keys of their primary config
        from importlib.resources import files

        from omegaconf import OmegaConf

        primary = OmegaConf.load(str(files("mltrain.conf").joinpath(f"{_command}.yaml")))
        known = {"": [k for k in primary if k not in ("hydra", "defaults")]}
    if parent in known:
        from mltrain.errors import did_you_mean

        keys = known[parent]
        return f"; valid keys of {parent or 'the config'}: {', '.join(keys)}{did_you_mean(leaf, keys)}"
    return f" (see `mltrain fit --cfg job` for the keys of {parent}; `+{parent}.{leaf}=...` adds a new key)"


def group_choices(group: str) -> list[str]:
    """The choices of a config group: the YAML file stems in ``mltrain.conf/<group>``."""
    from importlib.resources import files

    folder = files("mltrain.conf").joinpath(group)
    return (
        sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml")) if folder.is_dir() else []
    )


def _fail(message: str, status: int = EXIT_USER_ERROR) -> NoReturn:
    from rich.console import Console
    from rich.markup import escape

    console = Console(file=sys.stderr, highlight=False, soft_wrap=True, emoji=False)
    console.print(f"[bold red]error:[/bold red] {escape(message)}")
    sys.exit(status)


def _say(text: str) -> None:
    print(text)


# ---- run directories -------------------------------------------------------------------------------


def _install_resolvers() -> None:
    from omegaconf import OmegaConf

    def names(items: Any) -> tuple[str, ...]:  # resolvers get a ListConfig; the cache needs a tuple
        return tuple(str(i) for i in items or ())

    # use_cache: the resolved directory travels with the pickled config to joblib / submitit workers
    OmegaConf.register_new_resolver("mltrain_slug", lambda items: slug(names(items)), replace=True)
    OmegaConf.register_new_resolver(
        "mltrain_run_dir", lambda base, items=(): unique_run_dir(base, names(items)), replace=True,
        use_cache=True,
    )  # fmt: skip


def slug(overrides: tuple[str, ...], limit: int = 60) -> str:
    """A short, path-safe name from a job's overrides: ``optimizer=nadam,lr=0.01,path=data.csv``.

    Keys keep their last part (``optimizer.lr`` -> ``lr``), paths their file name.
    """
    parts = []
    for item in overrides:
        key, _, value = item.lstrip("+~").partition("=")
        if key.split(".")[0] == "logger":  # where a run is also logged does not change it
            continue
        parts.append(f"{key.rsplit('.', 1)[-1]}={value.rstrip('/').rsplit('/', 1)[-1]}")
    text = re.sub(r"[^\w=,.+-]+", "-", ",".join(parts)).strip("-")
    return text[:limit].rstrip("-,=")


_created: list[Path] = []  # run directories unique_run_dir made in this process


@functools.cache
def unique_run_dir(base: str, overrides: tuple[str, ...] = ()) -> str:
    """``<base>/<timestamp>[_<overrides>]``, created now so that no other run can take the same name.

    Two runs started in the same second with the same overrides get ``..._2``, ``..._3``: ``os.mkdir``
    fails for all but one of them. Cached, so Hydra resolving the key twice gets the same directory.
    """
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    name = "_".join(filter(None, [stamp, slug(overrides)]))
    Path(base).mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        candidate = Path(base) / (name if n == 1 else f"{name}_{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        _created.append(candidate.resolve())
        return str(candidate)
    raise RuntimeError(f"no free run directory under {base}")


def _remove_if_unused(out_dir: Path) -> None:
    """Delete a run directory this process made when the run was refused before writing its files."""
    unused = all(p.name in (".hydra", ".lock") or p.suffix == ".log" for p in out_dir.iterdir())
    if out_dir.resolve() in _created and unused:
        shutil.rmtree(out_dir, ignore_errors=True)


# ---- tab completion -------------------------------------------------------------------------------


def _strip_command_from_completion_line(command: str) -> None:
    """Completion queries get ``COMP_LINE="mltrain fit optimizer="``; Hydra expects no subcommand."""
    line = os.environ.get("COMP_LINE")
    if line and "query=" in " ".join(sys.argv):
        os.environ["COMP_LINE"] = re.sub(rf"^(\s*\S+)\s+{re.escape(command)}(\s|$)", r"\1\2", line, count=1)


def _complete_command_names() -> bool:
    """Complete the subcommand itself (``mltrain f<TAB>``); ``True`` when that was the query."""
    line = os.environ.get("COMP_LINE")
    if not line or not any(a.startswith("query=") for a in sys.argv):
        return False
    words = line.split()
    if (
        line.endswith(" ")
        and len(words) == 1
        or not line.endswith(" ")
        and len(words) == 2
        and "=" not in words[1]
    ):
        prefix = "" if line.endswith(" ") else words[1]
        _say(" ".join(c for c in COMMANDS if c.startswith(prefix)))
        return True
    words_after = words[1:]
    if words_after and words_after[0] in COMMANDS:
        _strip_command_from_completion_line(words_after[0])
    return False
