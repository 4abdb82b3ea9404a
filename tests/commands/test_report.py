"""``mltrain report``: runs found under directories, split into sections, ranked, grouped, printed in 100
columns, and written as CSV and PNG.

Run directories are written by hand here (summary, config, overrides, history), so the expected sections,
ranking, and the mean and standard deviation of repeated seeds are known without training. The last test
trains real (smoke) runs the way the README says and reports on them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mltrain.commands.report import build_sections, panel, parser, run_from_args, write_report
from mltrain.errors import ConfigError
from mltrain.reporting.records import RunRecord, find_runs
from mltrain.reporting.table import full_table, group_keys
from mltrain.reporting.view import View, section_view, short_name
from tests.conftest import mltrain

CLASSES = {"train_rows": 80, "val_rows": 20, "classes": ["a", "b", "c"]}
REGRESSION = {"train_rows": 80, "val_rows": 20, "classes": None}


def fake_run(
    path: Path, overrides: list[str], objective: float | None, monitor: str = "val_accuracy",
    status: str = "completed", data: dict | None = None, dataset: str = "iris", loss: str = "ce",
    lr: float = 0.001, metric: str = "accuracy",
) -> Path:  # fmt: skip
    """A run directory as ``mltrain fit`` leaves it: summary, config, overrides and history."""
    (path / ".hydra").mkdir(parents=True)
    (path / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    config = {"seed": 0, "objective": monitor, "optimizer": {"name": "adam", "lr": lr},
              "loss": {"name": loss}, "metric": {metric: {}}, "dataset": {"name": dataset}}  # fmt: skip
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    other = "val_loss" if monitor != "val_loss" else f"val_{metric}"
    best = None if objective is None else {"epoch": 2, monitor: objective, other: 0.5}
    mode = "min" if "loss" in monitor else "max"
    summary = {"status": status, "epochs_completed": 2, "best_epoch": best and 2, "best": best, "mode": mode,
               "monitor": monitor, "objective": objective, "wall_time_s": 1.5, "metrics": [metric],
               "data": data or CLASSES}  # fmt: skip
    (path / "summary.json").write_text(json.dumps(summary))
    if best:
        history = {"epoch": [1, 2], monitor: [objective * 1.5, objective], other: [0.6, 0.5]}
        pd.DataFrame(history).to_csv(path / "history.csv", index=False)
    return path


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """Two optimizers x two seeds, plus a diverged job; the dataset is the same everywhere."""
    accuracy = {("adam", 0): 0.9, ("adam", 1): 0.8, ("sgd", 0): 0.6, ("sgd", 1): 0.7}
    for n, ((opt, seed), acc) in enumerate(accuracy.items()):
        fake_run(tmp_path / f"{n}_job", ["dataset=iris", f"optimizer={opt}", f"seed={seed}"], acc)
    fake_run(tmp_path / "4_job", ["dataset=iris", "optimizer=sgd", "seed=2"], None, status="diverged")
    return tmp_path


def test_runs_are_ranked_best_first_with_the_overrides_that_differ(sweep: Path) -> None:
    [section] = build_sections([sweep])
    assert [r.name for r in section.runs] == ["0_job", "1_job", "3_job", "2_job", "4_job"]  # diverged last
    view = section_view(section)
    assert view.columns == ["run", "overrides", "status", "best epoch", "val_accuracy", "val_loss"]
    assert view.rows[0][:5] == ["0_job", "optimizer=adam seed=0", "completed", "2 of 2", "0.9"]
    assert view.rows[-1][2] == "diverged" and view.rows[-1][4] == "-"
    by_loss = build_sections([sweep], sort="val_loss")[0]  # a loss ranks smallest first
    assert by_loss.title.startswith("classification on iris: 5 runs, lowest val_loss first")


def test_mixed_objectives_and_tasks_get_sections_of_their_own(tmp_path: Path) -> None:
    """The crash of issue 8 (`objective=` runs beside others), and regression ranked apart."""
    fake_run(tmp_path / "fit" / "a", [], 0.4, monitor="val_loss")
    fake_run(tmp_path / "fit" / "b", ["objective=val_accuracy"], 0.9)
    reg = {"data": REGRESSION, "dataset": "diabetes", "loss": "mse", "metric": "mae", "monitor": "val_loss"}
    fake_run(tmp_path / "fit" / "c", ["loss=mse", "dataset=diabetes"], 0.6, **reg)
    fake_run(tmp_path / "fit" / "d", ["loss=mean_squared_error", "dataset=diabetes", "optimizer.lr=0.1"],
             0.3, lr=0.1, **{**reg, "loss": "mean_squared_error"})  # fmt: skip
    sections = build_sections([tmp_path])
    titles = [s.title for s in sections]
    assert titles == [
        "classification on iris: 1 run, highest val_accuracy first",
        "classification on iris: 1 run, lowest val_loss first (sparse_categorical_crossentropy)",
        "regression on diabetes: 2 runs, lowest val_loss first (mean_squared_error, standardised target)",
    ]
    assert [r.name for r in sections[2].runs] == ["fit/d", "fit/c"]  # mse and its alias rank together
    assert section_view(sections[2]).rows[0][1] == "lr=0.1"  # only what differs within the section
    table = full_table(sections)
    assert list(table["override:objective"]) == ["val_accuracy", "val_loss", "val_loss", "val_loss"]
    assert table["objective"].tolist() == [0.9, 0.4, 0.3, 0.6]


def test_a_job_refused_before_training_is_listed_with_its_reason(sweep: Path) -> None:
    """A failed sweep job's summary holds no data: it goes with its sweep, or last with its message."""
    failed = fake_run(sweep / "5_job", ["dataset=iris", "optimizer=sgd", "seed=3"], None, status="failed")
    refused = {"status": "failed", "message": "trainer.batch_size must be >= 1, got 0", "epochs_completed": 0}
    (failed / "summary.json").write_text(json.dumps(refused))  # what record_failure writes
    fake_run(sweep / "6_job", ["loss=bce"], None, status="failed", loss="bce")
    (sweep / "6_job" / "summary.json").write_text(json.dumps({**refused, "message": "loss=bce needs ..."}))
    listed, last = build_sections([sweep])
    assert [r.name for r in listed.runs][-1] == "5_job"  # iris and its loss are known from its sweep
    assert section_view(listed).rows[-1][2:5] == ["failed", "-", "-"]
    assert last.title == "1 run that ended before training (nothing to rank)"
    assert section_view(last).rows == [["6_job", "loss=binary_crossentropy", "failed", "loss=bce needs ..."]]


def test_group_by_averages_repeated_seeds_and_takes_short_keys(sweep: Path) -> None:
    [section] = build_sections([sweep], group_by=["optimizer"])
    groups = section.groups
    assert list(groups.optimizer) == ["adam", "sgd"] and list(groups.runs) == [2, 3]
    assert groups.objective_mean[0] == pytest.approx(0.85)
    assert groups.objective_std[0] == pytest.approx(pd.Series([0.9, 0.8]).std())
    view = section_view(section)
    assert view.rows[0] == ["optimizer=adam", "2", "2 completed", "0.85 ± 0.071", "0.5 ± 0"]
    assert view.rows[1][2] == "2 completed, 1 diverged"
    assert group_keys([section], ["lr", "seed"]) == ["optimizer.lr", "seed"]  # lr: only in the configs


def test_view_fits_the_width_and_cuts_nothing() -> None:
    run = "fit/2026-11-27_13-06-12_2"
    overrides = "optimizer=sgd lr=0.01 momentum=0.9 validation=kfold k=5 path=penguins.csv"
    row = [run, overrides, "completed", "17 of 20", "0.1234 ± 0.0056", "0.9611 ± 0.012", "0.95"]
    columns = ["run", "overrides", "status", "best epoch", "val_loss", "val_accuracy", "test_accuracy"]
    view = View("classification on penguins_2024.csv: 2 runs, lowest val_loss first", columns, [row] * 2, 4)
    lines = replace(view, optional=1).lines(100)  # too wide: the second metric is left out
    assert max(map(len, lines)) <= 100 and not any("…" in line for line in lines)
    assert "test_accuracy" not in lines[1] and "val_accuracy" in lines[1] and "best" in lines[1]
    text = " ".join(lines)
    for cell in [*row[:-1], *columns[:-1]]:  # only the overrides wrap, between overrides
        assert all(word in text for word in cell.split()), cell
    view.rows[1] = ["multirun/2026-11-27_13-06-12/12", *row[1:]]
    everything = Counter("".join([view.title, *columns, *row, *view.rows[1]]).replace(" ", ""))
    for width in (100, 80, 60):  # narrower: names and numbers wrap too, yet every character is there
        narrow = [line for line in view.lines(width) if set(line) != {"-"}]  # the rule under the header
        assert max(map(len, narrow)) <= width
        assert Counter("".join(narrow).replace(" ", "")) == everything


def test_short_name_drops_the_overrides_mltrain_put_into_the_name() -> None:
    overrides = {"dataset": "iris", "trainer.epochs": "3"}
    named = {
        "fit/2026-11-23_23-57-14_dataset-iris_epochs-3": "fit/2026-11-23_23-57-14",
        "fit/2026-11-23_23-57-14_dataset-iris_epochs-3_2": "fit/2026-11-23_23-57-14_2",
        "multirun/2026-11-23_23-57-14/0_dataset-iris_epochs-3": "multirun/2026-11-23_23-57-14/0",
        "my-own-dir": "my-own-dir",
    }
    for name, short in named.items():
        assert short_name(RunRecord(Path(name), name, {}, overrides)) == short


def test_kfold_parent_is_one_run_with_mean_and_std(tmp_path: Path) -> None:
    parent = tmp_path / "runs" / "fit" / "cv"
    for i in (1, 2):
        fake_run(parent / f"fold_{i}", [], 0.8 + i / 100)
    (parent / ".hydra").mkdir()
    (parent / ".hydra" / "overrides.yaml").write_text("- validation=kfold\n")
    cv = {
        "status": "completed", "k": 2, "monitor": "val_accuracy", "objective": 0.88,
        "metrics": {
            "best_epoch": {"mean": 4.0, "std": 1.0},
            "best_val_accuracy": {"mean": 0.88, "std": 0.04},
            "best_val_loss": {"mean": 0.5, "std": 0.1},
            "final_val_accuracy": {"mean": 0.8, "std": 0.05},
        },
    }  # fmt: skip
    (parent / "cv_summary.json").write_text(json.dumps(cv))
    fake_run(tmp_path / "runs" / "fit" / "single", [], 0.7)
    assert find_runs([tmp_path / "runs"]) == [parent, tmp_path / "runs" / "fit" / "single"]
    [section] = build_sections([tmp_path / "runs"])
    assert [r.name for r in section.runs] == ["fit/cv", "fit/single"]
    assert section_view(section).rows[0][3:] == ["4 of 2", "0.88 ± 0.04", "0.5 ± 0.1"]
    label = panel(section, 5)[3][0][0]
    assert label == "validation=kfold (mean of 2 folds)"  # report.png: the folds' mean curve


def test_report_files_name_what_differs(sweep: Path) -> None:
    sections = build_sections([sweep])
    written = write_report(sections, sweep)
    assert [p.name for p in written] == ["report.csv", "report.png"]
    assert len(pd.read_csv(sweep / "report.csv")) == 5
    title, ylabel, legend, curves = panel(sections[0], top=3)
    assert [c[0] for c in curves] == [
        "optimizer=adam seed=0",
        "optimizer=adam seed=1",
        "optimizer=sgd seed=1",
    ]
    assert ylabel == "val_accuracy (fraction, 0 to 1)" and curves[0][1] == [1, 2]


def test_report_errors_name_the_bad_value(sweep: Path) -> None:
    with pytest.raises(ConfigError, match="no runs"):
        build_sections([sweep / "4_job" / ".hydra"])
    with pytest.raises(ConfigError, match="--group-by optimiser: not a config key.*did you mean optimizer"):
        build_sections([sweep], group_by=["optimiser"])
    with pytest.raises(ConfigError, match="--sort val_acc: no such column.*did you mean val_accuracy"):
        build_sections([sweep], sort="val_acc")


def test_report_help_examples_work(sweep: Path) -> None:
    """The --group-by example of ``report --help`` (`optimizer,lr`) runs; the help names the flags."""
    help_text = parser().format_help()
    assert "--group-by optimizer,lr" in help_text
    lines = run_from_args([str(sweep), "--group-by", "optimizer,lr"])
    assert lines[1].split() == ["group", "runs", "status", "val_accuracy", "val_loss"]
    assert lines[3].startswith("optimizer=adam lr=0.001  2     2 completed")
    assert lines[-1] == f"wrote {sweep / 'report.csv'}"  # grouped: no curves


def test_report_command_prints_a_table_that_fits_a_pipe(sweep: Path) -> None:
    result = mltrain("report", str(sweep), "--sort", "val_loss", cwd=sweep)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= 100 and "…" not in result.stdout
    assert lines[0].startswith("classification on iris: 5 runs") and "report.csv" in result.stdout
    empty = mltrain("report", cwd=sweep / "4_job" / ".hydra")
    assert empty.returncode == 2 and empty.stderr.startswith("error: no such directory: runs")


@pytest.mark.slow  # a minute of subprocesses; the default suite keeps a shorter walk
def test_report_of_real_runs_as_the_readme_walks_it(tmp_path: Path) -> None:
    """A smoke fit, a regression, a k-fold run and a sweep over ``objective`` (so runs with and without an
    ``objective=`` override meet: the crash of issue 8), all named by mltrain itself, then ``mltrain report
    runs``: exit 0, one section per task and objective, every line within 100 columns, no ellipsis.
    """
    env = {**os.environ, "NO_COLOR": "1"}
    commands = [
        ["fit", "debug=smoke"],
        ["fit", "debug=smoke", "loss=mse", "dataset=diabetes", "metric=[mae]"],
        ["fit", "debug=smoke", "validation=kfold", "validation.k=2"],
        ["fit", "-m", "debug=smoke", "objective=val_loss,val_accuracy"],
    ]
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "mltrain", *c],
            cwd=tmp_path,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        for c in commands
    ]  # at once: they share nothing but runs/, and each names its own directory
    for process, command in zip(started, commands, strict=True):
        output = process.communicate(timeout=300)[0]
        assert process.returncode == 0, (command, output)
    result = mltrain("report", "runs", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= 100 and "…" not in result.stdout, result.stdout
    titles = [line for line in lines if " first" in line and " on " in line]
    assert titles == [
        "classification on digits: 1 run, highest val_accuracy first",
        "classification on digits: 3 runs, lowest val_loss first (sparse_categorical_crossentropy)",
        "regression on diabetes: 1 run, lowest val_loss first (mean_squared_error, standardised target)",
    ], result.stdout
    assert "validation=kfold" in result.stdout and "multirun/" in result.stdout
    best = [line.removeprefix("best: ") for line in lines if line.startswith("best: ")]
    assert len(best) == 3 and all((tmp_path / b / ".hydra").is_dir() for b in best)
    assert (tmp_path / "runs" / "report.png").is_file()
    assert len(pd.read_csv(tmp_path / "runs" / "report.csv")) == 5


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("summary.json", "{", "it is not a JSON object"),
        ("summary.json", "[1]", "it is not a JSON object"),
        ("summary.json", '{"best": [1]}', "best=[1] must be numbers"),
        ("summary.json", '{"best": {"val_accuracy": "x"}}', "best.val_accuracy='x' must be a number"),
        ("summary.json", '{"status": 5, "data": "x"}', "data='x' must be an object"),
        ("cv_summary.json", '{"metrics": 3}', "metrics=3 must be a list or an object"),
    ],
)
def test_a_damaged_summary_skips_that_run_with_one_warning(
    sweep: Path, file: str, content: str, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: one bad summary anywhere under the folder made the whole report fail with a traceback."""
    bad = fake_run(sweep / "5_bad", ["dataset=iris", "optimizer=adam", "seed=3"], 0.95)
    (bad / file).write_text(content)
    lines = run_from_args([str(sweep)])

    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [f"warning: {bad / file} is damaged or not a file mltrain wrote ({message}); "
                        f"run {bad} skipped"]  # fmt: skip
    table = "\n".join(lines)
    assert "5_bad" not in table and table.count("completed") == 4


def test_a_folder_of_damaged_summaries_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "summary.json").write_text("[]")
    with pytest.raises(ConfigError, match="no readable runs under .*: every summary is damaged"):
        build_sections([tmp_path])


def test_a_sweep_s_long_numbers_stay_whole_and_the_test_column_stays(tmp_path: Path) -> None:
    """An Optuna sweep's float overrides (``lr=0.00705674745067419``) were cut across lines, and the
    classifier's ``test_accuracy`` was the column left out when the table was too wide (issue 19)."""
    jobs = tmp_path / "multirun" / "2026-12-01_10-00-00"
    for i, lr in enumerate([0.00705674745067419, 0.000123456789012345, 0.0312345678901234]):
        overrides = [f"optimizer.lr={lr}", f"model.dropout={0.1 + i * 0.0123456789}",
                     f"model.hidden=[{64 * (i + 1)},{64 * (i + 1)}]", f"trainer.batch_size={32 * (i + 1)}",
                     f"optimizer.weight_decay={0.01 * i + 0.0012345678}"]  # fmt: skip
        run = fake_run(jobs / str(i), ["dataset=iris", *overrides], 0.9 - i * 0.1, monitor="val_loss")
        summary = json.loads((run / "summary.json").read_text())
        summary["test"] = {"test_loss": 0.3, "test_accuracy": 0.88 - i / 100}
        (run / "summary.json").write_text(json.dumps(summary))

    lines = run_from_args([str(tmp_path)])

    assert "test_accuracy" in lines[1], lines[:3]
    words = " ".join(lines).split()
    for shown in ("lr=0.00705675", "lr=0.000123457", "dropout=0.124691", "weight_decay=0.00123457", "0.86"):
        assert shown in words, (shown, lines)
    assert max(map(len, lines)) <= 100
