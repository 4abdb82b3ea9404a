"""mltrain's Optuna sweeper: ``mltrain fit -m hydra/sweeper=optuna ...`` on optuna 4 or later.

    mltrain fit -m hydra/sweeper=optuna hydra/sweeper/pruner=median hydra.sweeper.n_trials=30 \
        hydra.sweeper.storage=study.journal hydra.sweeper.study_name=lr \
        'optimizer.lr=tag(log, interval(1e-4, 1e-1))'

The command line's sweeps become the search space (``interval(a, b)``, ``tag(log, interval(a, b))``,
``choice(a, b)`` or ``a,b``, ``range(a, b, step)``); the other overrides are passed to every trial. Each
trial is one Hydra job of the configured launcher, numbered by its trial number (``<number>_<overrides>``
in the sweep directory), so workers sharing a study never name two jobs alike.

A sweep is a worker of its study: it asks the study for the next trial when it has a free slot (one at a
time with Hydra's basic launcher, ``n_jobs`` at a time with joblib or submitit), until the study holds
``n_trials`` trials, whoever ran them. Several ``mltrain fit -m`` processes on one storage share the work,
and a re-run of an interrupted sweep runs only what is missing: the trials that finished are kept, and a
trial whose worker died (same host, process gone) or was interrupted is marked failed and asked again.

Pruning: each job reports its objective to its trial after every epoch (``training/callbacks/pruning.py``)
and stops when the pruner says so; in this process through the trial object itself, in a launcher's
other processes through the study's storage (a journal file in the sweep directory when none was given).
The job learns its trial from ``MLTRAIN_OPTUNA_TRIAL`` (set for it through ``hydra.job.env_set``).

At the end: ``optimization_results.yaml`` (best trial, its parameters, value and run directory) and
Optuna's plots (``reporting/study_plots.py``) in the sweep directory.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from mltrain.errors import ConfigError
from mltrain.files import atomic_write_text
from mltrain.rundir import RunDir, hydra_quoted
from mltrain.status import DIVERGED, PRUNED, SUCCEEDED

log = logging.getLogger(__name__)

TRIAL_ENV = "MLTRAIN_OPTUNA_TRIAL"  # a job's trial: {"storage", "study", "trial_id", "pruner", "plots"}
DIRECTIONS = ("minimize", "maximize")
DEFAULT_STUDY = "sweep"
_live: dict[int, Any] = {}  # trial id -> the optuna.Trial this process's sweep asked (basic launcher)


class OptunaSweep:
    """The sweeper's work, behind Hydra's ``Sweeper`` plugin (``hydra_plugins/mltrain_optuna_sweeper``).

    ``sampler`` and ``pruner`` arrive instantiated by Hydra (the grid sampler as a partial that takes the
    grid); the other arguments are ``hydra.sweeper.*`` (``launch/optuna_config.py``).
    """

    def __init__(
        self,
        sampler: Any,
        pruner: Any,
        direction: str,
        storage: str | None,
        study_name: str | None,
        n_trials: int,
        n_jobs: int,
        max_failure_rate: float,
        params: DictConfig | None = None,
        custom_search_space: str | None = None,
        plots: bool = True,
        trial_plots: bool = False,
    ) -> None:
        self.sampler, self.pruner, self.direction = sampler, pruner, str(direction)
        self.storage_value, self.study_name = storage, study_name
        self.n_trials, self.n_jobs, self.max_failure_rate = n_trials, n_jobs, max_failure_rate
        self.params, self.custom_search_space, self.plots = params, custom_search_space, plots
        self.trial_plots = trial_plots
        self.config: DictConfig | None = None

    def setup(self, *, hydra_context: Any, task_function: Any, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )
        self.sweep_dir = Path(str(config.hydra.sweep.dir))

    # -- the settings, checked ------------------------------------------------------------------------

    def _check(self) -> None:
        if self.direction not in DIRECTIONS:
            choices = ", ".join(DIRECTIONS)
            raise ConfigError(f"hydra.sweeper.direction={self.direction} is not one of: {choices}")
        if not isinstance(self.n_trials, int) or self.n_trials < 1:
            raise ConfigError(f"hydra.sweeper.n_trials={self.n_trials} must be a whole number of at least 1")
        if not isinstance(self.n_jobs, int) or self.n_jobs < 1:
            raise ConfigError(f"hydra.sweeper.n_jobs={self.n_jobs} must be a whole number of at least 1")
        if not 0.0 <= float(self.max_failure_rate) <= 1.0:
            raise ConfigError(f"hydra.sweeper.max_failure_rate={self.max_failure_rate} must be from 0 to 1")

    @property
    def in_process(self) -> bool:
        """Whether the jobs run in this process (Hydra's basic launcher), one at a time."""
        return type(self.launcher).__name__ == "BasicLauncher"

    # -- the sweep ------------------------------------------------------------------------------------

    def sweep(self, arguments: list[str]) -> None:
        import optuna

        assert self.config is not None
        self._check()
        given = [f"{k!s}={v}" for k, v in (self.params or {}).items()]
        space, fixed = search_space([*given, *arguments])
        if isinstance(self.sampler, functools.partial):  # the grid sampler: the grid is the search space
            grid = {name: grid_values(name, d) for name, d in space.items()}
            self.sampler = self.sampler(grid)
            self.n_trials = min(self.n_trials, math.prod(len(v) for v in grid.values()))
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # mltrain logs what a trial did
        storage_value = self._storage_value()
        study = self._study(storage_value)
        self._fail_stale_trials(study)
        if study.get_trials(deepcopy=False):  # a seeded sampler would propose the study's first points again
            study.sampler.reseed_rng()
        batch = 1 if self.in_process else self.n_jobs
        log.info("study %s on %s: %d of %d trials taken; sampler %s, pruner %s", study.study_name,
                 storage_value or "memory", taken(study), self.n_trials, type(self.sampler).__name__,
                 type(self.pruner).__name__)  # fmt: skip
        ran = failed = 0
        self.exhausted = False
        while (left := self.n_trials - taken(study)) > 0 and not self.exhausted:
            if ran and failed / ran > self.max_failure_rate:
                log.error("%d of %d trials failed, more than hydra.sweeper.max_failure_rate=%s: stopping",
                          failed, ran, self.max_failure_rate)  # fmt: skip
                break
            trials = [self._ask(study, space) for _ in range(min(batch, left))]
            jobs = [self._job_overrides(trial, space, fixed) for trial in trials]
            envs = [self._trial_env(trial, study, storage_value) for trial in trials]
            states = self._run(study, trials, jobs, envs)
            ran += len(states)
            failed += sum(state == "FAIL" for state in states)
        self._finish(study, storage_value)

    def _ask(self, study: Any, space: dict[str, Any]) -> Any:
        trial = study.ask(fixed_distributions=space)
        trial.set_user_attr("worker", worker_id())
        if self.custom_search_space:
            from hydra.utils import get_method

            get_method(self.custom_search_space)(self.config, trial)
        return trial

    def _job_overrides(self, trial: Any, space: dict[str, Any], fixed: list[tuple[str, str]]) -> list[str]:
        """The job's overrides, in the command line's order: the trial's values and the fixed ones."""
        params = trial.params
        overrides = [f"{name}={as_override(params[name])}" if name in space else line for name, line in fixed]
        return overrides + [f"{name}={as_override(v)}" for name, v in params.items() if name not in space]

    def _trial_env(self, trial: Any, study: Any, storage: str | None) -> str:
        """``MLTRAIN_OPTUNA_TRIAL`` of the trial's job: how it reaches its trial, to report and be pruned."""
        pruner = OmegaConf.to_container(self.config.hydra.sweeper.pruner, resolve=True)  # type: ignore[union-attr]
        return json.dumps({"storage": storage, "study": study.study_name, "trial_id": trial._trial_id,
                           "pruner": pruner, "plots": self.trial_plots})  # fmt: skip

    def _run(self, study: Any, trials: list[Any], jobs: list[list[str]], envs: list[str]) -> list[str]:
        """Launch the trials' jobs (one launch per run of consecutive trial numbers) and tell the study
        how each ended; an interruption marks the trials not told as interrupted, to be asked again.

        A job in this process finds its trial in the environment; a job of another process through a Hydra
        key, ``hydra.job.env_set`` (not in the job's name, its overrides or its config)."""
        import optuna
        from hydra.core.utils import env_override

        for trial in trials:
            _live[trial._trial_id] = trial
        told: list[str] = []
        try:
            for start, end in consecutive([t.number for t in trials]):
                group = trials[start:end]
                if self.in_process:  # one job at a time
                    with env_override({TRIAL_ENV: envs[start]}):
                        returns = self.launcher.launch(jobs[start:end], initial_job_idx=group[0].number)
                else:
                    key = f"++hydra.job.env_set.{TRIAL_ENV}"
                    pairs = zip(jobs[start:end], envs[start:end], strict=True)
                    launched = [[*job, f"{key}={hydra_quoted(env)}"] for job, env in pairs]
                    returns = self.launcher.launch(launched, initial_job_idx=group[0].number)
                for trial, ret in zip(group, returns, strict=True):
                    told.append(self._tell(study, trial, ret))
        except BaseException:
            for trial in trials[len(told) :]:
                if study._storage.get_trial(trial._trial_id).state == optuna.trial.TrialState.RUNNING:
                    retry_later(study, trial._trial_id)
            raise
        finally:
            for trial in trials:
                _live.pop(trial._trial_id, None)
        return told

    def _tell(self, study: Any, trial: Any, ret: Any) -> str:
        """Tell the study how the trial's job ended, from its ``summary.json``: completed or early stopped
        (its objective), pruned, diverged (the worst value, so samplers avoid it), else failed."""
        from hydra.core.utils import JobStatus
        from optuna.trial import TrialState

        out_dir = job_dir(ret)
        summary = (RunDir(out_dir).read_summary() if out_dir is not None else None) or {}
        status = summary.get("status")
        value = ret.return_value if ret.status == JobStatus.COMPLETED else None
        if out_dir is not None:
            study._storage.set_trial_user_attr(trial._trial_id, "run_dir", str(out_dir.resolve()))
        if status == PRUNED:
            return self._told(study, trial, TrialState.PRUNED)
        if status in (*SUCCEEDED, DIVERGED) and isinstance(value, int | float) and not math.isnan(value):
            return self._told(study, trial, TrialState.COMPLETE, float(value))
        return self._told(study, trial, TrialState.FAIL)

    def _told(self, study: Any, trial: Any, state: Any, value: float | None = None) -> str:
        """``study.tell``; a sampler that has run out of points (grid, brute force) ends the sweep."""
        try:
            study.tell(trial, value, state=state)
        except RuntimeError as error:  # Study.stop() outside optimize(): the state is stored already
            if "Study.stop" not in str(error):
                raise
            self.exhausted = True
        return str(state.name)

    # -- the study --------------------------------------------------------------------------------------

    def _storage_value(self) -> str | None:
        """``hydra.sweeper.storage`` as the jobs' processes can open it (absolute paths); a journal file in
        the sweep directory when none was given and the launcher runs jobs in other processes."""
        value = self.storage_value
        if value is None or str(value).strip() == "":
            if self.in_process:
                return None
            self.sweep_dir.mkdir(parents=True, exist_ok=True)
            return str(RunDir(self.sweep_dir).study_journal.resolve())
        return absolute_storage(str(value))

    def _study(self, storage_value: str | None) -> Any:
        import optuna

        storage = open_storage(storage_value)
        name = self.study_name
        if name is None and storage is not None:
            names = [s.study_name for s in storage.get_all_studies()]
            if len(names) > 1:
                raise ConfigError(
                    f"hydra.sweeper.storage={self.storage_value} holds {len(names)} studies "
                    f"({', '.join(sorted(names))}); name one with hydra.sweeper.study_name=..."
                )
            name = names[0] if names else None
        study = optuna.create_study(
            study_name=name or DEFAULT_STUDY, storage=storage, sampler=self.sampler, pruner=self.pruner,
            direction=self.direction, load_if_exists=True,
        )  # fmt: skip
        if study.direction.name.lower() != self.direction:
            raise ConfigError(
                f"study {study.study_name} in {self.storage_value} was made to "
                f"{study.direction.name.lower()}, "
                f"but this sweep's objective is to {self.direction}; use another hydra.sweeper.study_name"
            )
        return study

    def _fail_stale_trials(self, study: Any) -> None:
        """Trials left running by a worker of this host that is gone (killed, the machine restarted):
        marked failed and interrupted, and asked again (enqueued) with the same parameters."""
        from optuna.trial import TrialState

        here = socket.gethostname()
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            host, _, pid = str(trial.user_attrs.get("worker", "")).rpartition(":")
            if host == here and pid.isdigit() and not process_alive(int(pid)):
                log.warning("trial %d was left running by process %s, which is gone: it runs again",
                            trial.number, pid)  # fmt: skip
                retry_later(study, trial._trial_id)

    def _finish(self, study: Any, storage_value: str | None) -> None:
        """``optimization_results.yaml`` and the study's plots in the sweep directory; logs the best trial."""
        from optuna.trial import TrialState

        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        trials = study.get_trials(deepcopy=False)
        states = [s for s in TrialState if s != TrialState.WAITING]
        counts = {s.name.lower(): sum(t.state == s for t in trials) for s in states}
        results: dict[str, Any] = {"name": "optuna", "study_name": study.study_name, "storage": storage_value,
                                   "direction": self.direction, "trials": counts}  # fmt: skip
        if counts["complete"]:
            best = study.best_trial
            run_dir = best.user_attrs.get("run_dir")
            results |= {"best_trial": best.number, "best_value": best.value, "best_params": best.params,
                        "best_run_dir": run_dir}  # fmt: skip
            log.info("best trial %d: %s %s, %s (%s)", best.number, self.config.objective,  # type: ignore[union-attr]
                     best.value, best.params, run_dir)  # fmt: skip
        atomic_write_text(RunDir(self.sweep_dir).sweep_results, yaml.safe_dump(results, sort_keys=False))
        if self.plots:
            from mltrain.reporting.study_plots import write_study_plots

            write_study_plots(study, self.sweep_dir)


# -- the search space ---------------------------------------------------------------------------------


def search_space(arguments: list[str]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The overrides' sweeps as Optuna distributions (by key), and every override in order as
    ``(key, override)``: a sweep's is replaced by the trial's value, the others are passed as they are."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    space: dict[str, Any] = {}
    order: list[tuple[str, str]] = []
    for override in OverridesParser.create().parse_overrides(arguments):
        key = override.get_key_element()
        if override.is_sweep_override():
            space[key] = distribution(override)
        order.append((key, override.input_line or f"{key}={override.get_value_element_as_str()}"))
    return space, order


def distribution(override: Any) -> Any:
    """The Optuna distribution of a sweep override: ``interval``, ``tag(log, ...)``, ``choice``, ``range``."""
    from hydra.core.override_parser.types import Transformer
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    key, value = override.get_key_element(), override.value()
    if override.is_choice_sweep() or (override.is_range_sweep() and value.shuffle):
        choices = list(override.sweep_iterator(transformer=Transformer.encode))
        if not all(isinstance(c, str | int | float | bool | type(None)) for c in choices):
            raise ConfigError(f"{key}: a choice takes plain values (text, numbers, true/false, null)")
        return CategoricalDistribution(choices)
    if override.is_range_sweep():  # Hydra's range: start, start+step, ... below stop
        values = list(override.sweep_iterator(transformer=Transformer.identity))
        if not values:
            raise ConfigError(f"{override.input_line}: the range is empty")
        if any(isinstance(v, float) for v in (value.start, value.stop, value.step)):
            return FloatDistribution(float(values[0]), float(values[-1]), step=float(value.step))
        return IntDistribution(int(values[0]), int(values[-1]), step=int(value.step))
    if override.is_interval_sweep():
        log_scale = "log" in value.tags
        low, high = value.start, value.end
        if not low < high or (log_scale and low <= 0):
            need = "0 < low < high" if log_scale else "low < high"
            raise ConfigError(f"{override.input_line}: an interval needs {need}")
        if isinstance(low, int) and isinstance(high, int):
            return IntDistribution(low, high, log=log_scale)
        return FloatDistribution(float(low), float(high), log=log_scale)
    raise ConfigError(f"{override.input_line}: the Optuna sweeper takes interval(), choice(), range() or a,b")


def as_override(value: Any) -> str:
    """A sampled value as Hydra's grammar reads it back (``null``, ``true``; choices come encoded)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def grid_values(name: str, dist: Any) -> list[Any]:
    """The grid sampler's values of one parameter: choices, or a range's values."""
    from optuna.distributions import CategoricalDistribution

    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    if getattr(dist, "step", None) is not None and not getattr(dist, "log", False):
        count = int(round((dist.high - dist.low) / dist.step)) + 1
        return [dist.low + i * dist.step for i in range(count)]
    raise ConfigError(
        f"hydra/sweeper/sampler=grid takes choices and range() only; {name} is an interval (use "
        "another sampler, or range(low, high, step))"
    )


# -- storage and workers --------------------------------------------------------------------------------


def absolute_storage(value: str) -> str:
    """An RDB URL (``sqlite:///study.db`` made absolute) or a journal file's absolute path."""
    if "://" in value:
        prefix = "sqlite:///"
        if value.startswith(prefix) and not value.startswith(prefix + "/") and value != prefix + ":memory:":
            return prefix + str(Path(value[len(prefix) :]).resolve())
        return value
    if value.endswith((".db", ".sqlite", ".sqlite3")):
        raise ConfigError(
            f"hydra.sweeper.storage={value} looks like an SQLite file; give it as a URL: "
            f"hydra.sweeper.storage=sqlite:///{value} (a path without a URL scheme is an Optuna journal file)"
        )
    path = Path(value).expanduser()
    if not path.parent.is_dir():
        raise ConfigError(f"hydra.sweeper.storage={value}: the folder {path.parent} does not exist")
    return str(path.resolve())


def open_storage(value: str | None) -> Any:
    """The Optuna storage of an :func:`absolute_storage` value (``None``: in memory)."""
    if value is None:
        return None

    try:
        if "://" in value:
            return _rdb_storage(value)
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(value))
    except (ImportError, ValueError, OSError) as error:
        raise ConfigError(f"hydra.sweeper.storage={value} cannot be opened: {error}") from error
    except Exception as error:  # SQLAlchemy's errors: a bad URL, a server that does not answer
        if type(error).__module__.startswith("sqlalchemy"):
            raise ConfigError(f"hydra.sweeper.storage={value} cannot be opened: {error}") from error
        raise


def _rdb_storage(url: str, attempts: int = 5) -> Any:
    """Optuna's RDB storage; workers starting together may race to create its tables: tried again."""
    import time

    import optuna

    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine)
        except Exception as error:
            # another worker created the tables first (a table that "already exists", the schema version's
            # row a UNIQUE constraint refuses: SQLAlchemy's IntegrityError), or holds the file's lock
            racing = type(error).__name__ == "IntegrityError" or any(
                words in str(error) for words in ("already exists", "locked", "UNIQUE constraint")
            )
            if attempt == attempts - 1 or not type(error).__module__.startswith("sqlalchemy") or not racing:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def taken(study: Any) -> int:
    """The study's trials that count towards ``n_trials``: finished, failed or running; not those
    interrupted (asked again) nor the waiting ones (the retries of those)."""
    from optuna.trial import TrialState

    return sum(
        t.state != TrialState.WAITING and not (t.state == TrialState.FAIL and t.user_attrs.get("interrupted"))
        for t in study.get_trials(deepcopy=False)
    )


def retry_later(study: Any, trial_id: int) -> None:
    """Mark a running trial failed and interrupted, and enqueue its parameters to be asked again."""
    from optuna.trial import TrialState

    storage = study._storage
    frozen = storage.get_trial(trial_id)
    storage.set_trial_user_attr(trial_id, "interrupted", True)
    storage.set_trial_state_values(trial_id, TrialState.FAIL)
    study.enqueue_trial(frozen.params, user_attrs={"retry_of": frozen.number})


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def consecutive(numbers: list[int]) -> Iterator[tuple[int, int]]:
    """``(start, end)`` index slices of runs of consecutive numbers: [3, 4, 7] -> (0, 2), (2, 3)."""
    start = 0
    for i in range(1, len(numbers) + 1):
        if i == len(numbers) or numbers[i] != numbers[i - 1] + 1:
            yield start, i
            start = i


def job_dir(ret: Any) -> Path | None:
    """The job's run directory, from Hydra's record of it."""
    try:
        return Path(str(ret.hydra_cfg.hydra.runtime.output_dir))
    except AttributeError:
        return None


# -- the job's side -------------------------------------------------------------------------------------


class TrialReporter:
    """What a sweep job's :class:`~mltrain.training.callbacks.pruning.PruningCallback` reports to."""

    def __init__(self, trial: Any, pruner: Any, plots: bool = False) -> None:
        self.trial, self.plots = trial, plots
        self.name = _pruner_name(pruner)

    def report(self, value: float, epoch: int) -> None:
        self.trial.report(value, epoch)

    def should_prune(self) -> bool:
        return bool(self.trial.should_prune())


def _pruner_name(pruner: Any) -> str:
    words = {"NopPruner": "no pruner", "MedianPruner": "median pruner", "HyperbandPruner": "hyperband pruner",
             "SuccessiveHalvingPruner": "successive-halving pruner"}  # fmt: skip
    name = type(pruner).__name__
    return words.get(name, name)


def trial_reporter(out_dir: Path) -> TrialReporter | None:
    """The reporter of this job's trial, when an Optuna sweep launched the job (``MLTRAIN_OPTUNA_TRIAL``):
    the trial object itself in the sweep's process, else the trial in the study's storage."""
    raw = os.environ.get(TRIAL_ENV)
    if not raw:
        return None
    info = json.loads(raw)
    trial = _live.get(info["trial_id"])
    if trial is not None and trial.study.study_name == info["study"]:
        return TrialReporter(trial, trial.study.pruner, bool(info.get("plots")))
    if info["storage"] is None:
        log.warning("this job cannot reach its trial (the study is in another process's memory): no pruning")
        return None
    import optuna
    from hydra.utils import instantiate

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = instantiate(info["pruner"])
    study = optuna.load_study(study_name=info["study"], storage=open_storage(info["storage"]), pruner=pruner)
    trial = optuna.trial.Trial(study, info["trial_id"])
    trial.set_user_attr("run_dir", str(Path(out_dir).resolve()))
    return TrialReporter(trial, pruner, bool(info.get("plots")))
