"""mltrain's Optuna sweeper (``hydra/sweeper=optuna``): search space, pruning, storage, resuming, workers.

The default tests run sweeps in this process (``in_process``); the ones that kill a sweep, run two workers
or use the joblib launcher start real ``mltrain`` processes and are ``slow``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from mltrain import cli
from mltrain.errors import ConfigError
from mltrain.launch.optuna_sweeper import (
    absolute_storage,
    as_override,
    consecutive,
    grid_values,
    search_space,
)
from mltrain.rundir import unique_run_dir
from tests.conftest import mltrain

SWEEP = ["fit", "-m", "hydra/sweeper=optuna", "hydra.sweeper.sampler.seed=0", "dataset=iris"]


@pytest.fixture
def cli_run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Callable]:
    """``run(args) -> (exit status, output)``: ``cli.main(args)`` in this process (0 when it returns); the
    output is what a terminal shows, stdout (Hydra's log lines) then stderr."""
    monkeypatch.setattr(sys, "argv", ["mltrain"])
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    sigterm = signal.getsignal(signal.SIGTERM)

    def run(args: list[str]) -> tuple[int, str]:
        unique_run_dir.cache_clear()  # a new process would name a new directory
        capsys.readouterr()
        try:
            cli.main(args)
            status = 0
        except SystemExit as stopped:
            status = stopped.code if isinstance(stopped.code, int) else 1
        captured = capsys.readouterr()
        return status, captured.out + captured.err

    yield run
    signal.signal(signal.SIGTERM, sigterm)


def test_the_command_line_sweeps_become_optuna_distributions() -> None:
    space, order = search_space([
        "optimizer.lr=tag(log, interval(1e-4, 1e-1))", "model.hidden=choice([16],[32,16])",
        "trainer.batch_size=range(16, 80, 16)", "seed=int(interval(0, 9))", "optimizer=adam,sgd",
        "optimizer.weight_decay=range(0.0, 0.3, 0.1)", "dataset=iris",
    ])  # fmt: skip
    assert space["optimizer.lr"] == FloatDistribution(1e-4, 1e-1, log=True)
    assert space["seed"] == IntDistribution(0, 9)
    assert space["optimizer"] == CategoricalDistribution(["adam", "sgd"])
    # Hydra's range stops below its end, as the basic sweeper runs it: 16, 32, 48, 64
    assert space["trainer.batch_size"] == IntDistribution(16, 64, step=16)
    assert grid_values("trainer.batch_size", space["trainer.batch_size"]) == [16, 32, 48, 64]
    assert grid_values("optimizer", space["optimizer"]) == ["adam", "sgd"]
    weight_decay = space["optimizer.weight_decay"]
    assert (weight_decay.low, weight_decay.step) == (0.0, 0.1) and weight_decay.high == pytest.approx(0.2)
    assert len(space["model.hidden"].choices) == 2
    assert [key for key, _ in order][-1] == "dataset" and "dataset" not in space  # passed on as it is
    with pytest.raises(ConfigError, match="grid takes choices and range"):
        grid_values("optimizer.lr", space["optimizer.lr"])
    with pytest.raises(ConfigError, match="0 < low < high"):
        search_space(["optimizer.lr=tag(log, interval(0, 1))"])
    assert [as_override(v) for v in (None, True, 0.5, "adam")] == ["null", "true", "0.5", "adam"]
    assert list(consecutive([3, 4, 7, 8, 9, 12])) == [(0, 2), (2, 5), (5, 6)]
    parsed = OverridesParser.create().parse_overrides(["a=" + as_override(1e-5)])
    assert parsed[0].value() == 1e-5  # a sampled float reads back as the same number


def test_storage_values_are_checked_and_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert absolute_storage("sqlite:///study.db") == f"sqlite:///{tmp_path.resolve()}/study.db"
    assert absolute_storage("study.journal") == str(tmp_path.resolve() / "study.journal")
    assert absolute_storage("postgresql://user@host/db") == "postgresql://user@host/db"
    with pytest.raises(ConfigError, match=r"give it as a URL: hydra.sweeper.storage=sqlite:///study.db"):
        absolute_storage("study.db")
    with pytest.raises(ConfigError, match="the folder nowhere does not exist"):
        absolute_storage("nowhere/study.journal")


def test_pruned_trials_stop_and_say_so_and_report_names_the_best_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli_run
) -> None:
    """The flow of docs/sweeps.md: a pruned sweep on a journal file, then ``mltrain report`` on the sweep
    directory the sweep printed. Every epoch's objective reached the study (history.csv, read back)."""
    monkeypatch.chdir(tmp_path)
    status, err = cli_run([
        *SWEEP, "hydra/sweeper/pruner=median", "hydra.sweeper.pruner.n_startup_trials=1",
        "hydra.sweeper.n_trials=3", "hydra.sweeper.storage=study.journal", "hydra.sweeper.study_name=lr",
        "trainer.epochs=3", "optimizer=sgd", "optimizer.lr=tag(log, interval(1e-4, 1e-1))",
    ])  # fmt: skip
    assert status == 0, err
    (table_path,) = re.findall(r"table in (\S+sweep\.csv)", err)
    sweep = (tmp_path / table_path).parent
    table = pd.read_csv(sweep / "sweep.csv")
    study = optuna.load_study(study_name="lr", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "study.journal"))))  # fmt: skip
    trials = study.get_trials()
    assert [t.number for t in trials] == list(table.job) == [0, 1, 2]
    states = {t.number: t.state for t in trials}
    pruned = table[table.status == "pruned"]
    assert len(pruned) >= 1 and all(states[job] == TrialState.PRUNED for job in pruned.job)
    assert all(states[job] == TrialState.COMPLETE for job in table[table.status == "completed"].job)
    for trial in trials:
        history = pd.read_csv(Path(trial.user_attrs["run_dir"]) / "history.csv")
        assert trial.intermediate_values == dict(zip(history.epoch, history.val_loss, strict=True))
        summary = json.loads((Path(trial.user_attrs["run_dir"]) / "summary.json").read_text())
        if trial.state == TrialState.PRUNED:  # stopped at once: the epoch it was pruned at is its last
            assert summary["epochs_completed"] == len(history) < 3
            assert summary["diagnosis"]["verdict"] == "pruned" and "median pruner" in summary["message"]
    completed = table[table.status == "completed"]
    best = completed.loc[completed.objective.idxmin()]
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["best_trial"] == best.job == study.best_trial.number
    assert results["best_value"] == pytest.approx(best.objective)
    assert results["trials"]["pruned"] == len(pruned)
    for name in ("optuna_history.png", "optuna_parallel_coordinate.png", "optuna_intermediate_values.png"):
        assert (sweep / "plots" / name).read_bytes()[:4] == b"\x89PNG"
    status, out = cli_run(["report", str(sweep.relative_to(tmp_path))])
    assert status == 0, out
    best_dir = sweep.relative_to(tmp_path) / Path(results["best_run_dir"]).name
    counts = f"{len(completed)} complete, {len(pruned)} pruned"
    assert f"best trial {best.job} of study lr ({counts}): value {results['best_value']}" in out
    assert f"-> {best_dir}" in out.replace("\n", " ") and (best_dir / "summary.json").is_file()


def test_bad_sweeper_settings_are_one_line_each(tmp_path: Path, monkeypatch, cli_run) -> None:
    monkeypatch.chdir(tmp_path)
    for bad, says in [
        ("hydra.sweeper.storage=study.db", "give it as a URL: hydra.sweeper.storage=sqlite:///study.db"),
        ("hydra.sweeper.direction=up", "hydra.sweeper.direction=up is not one of: minimize, maximize"),
        ("hydra.sweeper.n_trials=0", "hydra.sweeper.n_trials=0 must be a whole number of at least 1"),
        ("hydra/sweeper/pruner=mediam", "mediam"),
    ]:
        status, err = cli_run([*SWEEP, bad, "optimizer=adam,sgd"])
        assert status == 2 and says in err and "Traceback" not in err, (bad, err)
    assert not any(tmp_path.rglob("summary.json"))  # nothing was trained


# -- real processes: killed sweeps, two workers, the joblib launcher -------------------------------------


def _popen(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.Popen([sys.executable, "-m", "mltrain", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def _journal_study(path: Path, name: str) -> optuna.Study:
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    return optuna.load_study(study_name=name, storage=storage)


@pytest.mark.slow  # two sweeps, one killed: about 40 s
@pytest.mark.parametrize("kill", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_sweep_resumes_without_retraining_finished_trials(tmp_path: Path, kill: int) -> None:
    args = [
        *SWEEP,
        "hydra.sweeper.n_trials=5",
        "hydra.sweeper.storage=study.journal",
        "hydra.sweeper.study_name=s",
        "trainer.epochs=3",
        "optimizer.lr=tag(log, interval(1e-4, 1e-1))",
    ]
    first = _popen(args, tmp_path)
    journal = tmp_path / "study.journal"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill it once two trials finished, while the third trains
        done = journal.exists() and sum(t.state.is_finished() for t in _journal_study(journal, "s").trials)
        if done and done >= 2:
            break
        time.sleep(0.2)
    first.send_signal(kill)
    first.communicate(timeout=60)
    before = _journal_study(journal, "s").get_trials(states=(TrialState.COMPLETE,))
    assert len(before) >= 2
    second = mltrain(*args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    trials = _journal_study(journal, "s").get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 5
    finished_before = {t.number for t in before}
    retrained = [t for t in complete if t.number not in finished_before
                 and any(t.params == b.params for b in before)]  # fmt: skip
    assert retrained == []  # no finished trial ran again
    interrupted = [t for t in trials if t.state == TrialState.FAIL]
    assert all(t.user_attrs.get("interrupted") for t in interrupted)
    retried = [t.user_attrs["retry_of"] for t in complete if "retry_of" in t.user_attrs]
    assert sorted(retried) == sorted(t.number for t in interrupted)  # the killed trial ran again, whole


@pytest.mark.slow  # two workers on one study: about 40 s
def test_two_workers_on_one_storage_share_the_trials(tmp_path: Path) -> None:
    args = [*[a for a in SWEEP if ".seed=" not in a], "hydra.sweeper.n_trials=8", "hydra.sweeper.storage=sqlite:///study.db",
            "hydra.sweeper.study_name=shared", "hydra.sweep.dir=shared_sweep", "trainer.epochs=4",
            "optimizer.lr=tag(log, interval(1e-4, 1e-1))"]  # fmt: skip
    workers = [_popen([*args, f"hydra.sweeper.sampler.seed={seed}"], tmp_path) for seed in (1, 2)]
    outputs = [w.communicate(timeout=300) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    study = optuna.load_study(study_name="shared", storage=f"sqlite:///{tmp_path}/study.db")
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 8
    by_worker = pd.Series([t.user_attrs["worker"] for t in trials]).value_counts()
    assert len(by_worker) == 2 and by_worker.sum() == 8, by_worker  # each took trials as it was free
    print("trials per worker:", dict(by_worker))
    table = pd.read_csv(tmp_path / "shared_sweep" / "sweep.csv")
    assert sorted(table.job) == list(range(8)) and len(set(table.dir)) == 8  # no two jobs in one dir


@pytest.mark.slow  # the joblib launcher's processes reach their trials through the journal file
def test_joblib_trials_are_pruned_through_the_sweeps_journal(tmp_path: Path) -> None:
    result = mltrain(
        *SWEEP, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweeper.n_jobs=2",
        "hydra/sweeper/pruner=median", "hydra.sweeper.pruner.n_startup_trials=1", "hydra.sweeper.n_trials=4",
        "hydra.sweep.dir=sw", "trainer.epochs=4", "optimizer=sgd",
        "optimizer.lr=tag(log, interval(1e-4, 1e-1))",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    study = _journal_study(tmp_path / "sw" / "optuna.journal", "sweep")
    table = pd.read_csv(tmp_path / "sw" / "sweep.csv")
    states = {t.number: t.state.name.lower() for t in study.trials}
    assert {job: states[job] for job in table.job} == {
        job: {"completed": "complete"}.get(status, status)
        for job, status in zip(table.job, table.status, strict=True)
    }
    assert "pruned" in set(table.status)
    # docs/sweeps.md's one command for the dashboard, on the sweep's journal (the `ui` extra)
    port = _free_port()
    dashboard = subprocess.Popen(
        [str(Path(sys.executable).parent / "optuna-dashboard"), "sw/optuna.journal", "--port", str(port)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        studies = _get_json(f"http://127.0.0.1:{port}/api/studies", deadline=time.monotonic() + 60)
    finally:
        dashboard.terminate()
        dashboard.communicate(timeout=30)
    (study_row,) = studies["study_summaries"]
    assert study_row["study_name"] == "sweep" and study_row["directions"] == ["minimize"]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str, deadline: float) -> dict:
    import urllib.request

    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_workers_opening_a_new_sqlite_storage_together_all_get_it(tmp_path: Path) -> None:
    """Two or more ``mltrain fit -m`` workers started at once on a new SQLite file race to create Optuna's
    tables; the loser sees a UNIQUE constraint (the schema version's row) and tries again. Without that
    retry one of the three processes failed in each of 10 rounds tried."""
    opener = "import sys; from mltrain.launch.optuna_sweeper import open_storage; open_storage(sys.argv[1])"
    url = f"sqlite:///{tmp_path / 'study.db'}"
    openers = [subprocess.Popen([sys.executable, "-c", opener, url], stderr=subprocess.PIPE, text=True)
               for _ in range(3)]  # fmt: skip
    errors = [p.communicate(timeout=120)[1] for p in openers]
    assert [p.returncode for p in openers] == [0, 0, 0], errors
