"""A sweep on a SLURM cluster, the way docs/cluster.md tells a user to run it.

    python -m pytest -q -m slow tests/test_slurm.py

The slow test starts a real single-node SLURM (``tests/slurm_cluster.py``: munged, slurmctld and slurmd in
the foreground, as root), runs ``mltrain fit -m hydra/launcher=submitit_slurm ...`` in a fresh directory,
and checks each job's run directory, ``sweep.csv``, and SLURM's own record that it ran each job as one
task of an array; a second sweep has a job that fails. The default twin checks that every launcher key
the page uses is one the launcher has.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import mltrain
from tests.manual import ROOT
from tests.slurm_cluster import INSTALL, SlurmCluster, missing_programs, running_cluster

PAGE = ROOT / "docs" / "cluster.md"


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    missing = missing_programs()
    if missing:
        pytest.skip(f"SLURM is not installed here ({', '.join(missing)} missing): {INSTALL}")
    if os.geteuid() != 0:
        pytest.skip("the test's SLURM runs slurmd as root, which starts each job; run the slow tests as root")
    with running_cluster(tmp_path_factory.mktemp("slurm")) as cluster:
        yield cluster


def test_the_cluster_page_uses_only_the_slurm_launchers_keys() -> None:
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="the sweep extra is not installed")
    from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf

    keys = {field.name for field in dataclasses.fields(SlurmQueueConf)}
    used = set(re.findall(r"hydra\.launcher\.(\w+)=", PAGE.read_text()))
    assert {"partition", "timeout_min", "cpus_per_task", "gpus_per_node", "array_parallelism"} <= used
    assert used <= keys, f"not keys of submitit_slurm: {sorted(used - keys)}"


@pytest.mark.slow  # 42 s to 126 s here: four jobs that each import torch, two at a time on two busy cores
def test_grid_sweep_runs_each_job_as_a_slurm_array_task(tmp_path: Path, slurm_cluster: SlurmCluster) -> None:
    launcher = [
        "hydra/launcher=submitit_slurm", f"hydra.launcher.partition={slurm_cluster.partition}",
        "hydra.launcher.timeout_min=10", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1",
        "hydra.launcher.array_parallelism=2",
    ]  # fmt: skip
    result = mltrain(
        "fit", "-m", *launcher, "trainer.epochs=2", "optimizer=adam,sgd", "optimizer.lr=1e-3,1e-2",
        cwd=tmp_path, env=slurm_cluster.env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    output = result.stdout + result.stderr
    printed = re.search(r"sweep of 4 jobs: 0 failed; table in (\S+)/sweep\.csv", output)
    assert printed, output
    sweep = tmp_path / printed.group(1)
    assert sweep.parent == tmp_path / "runs" / "multirun"  # mltrain named it
    table = pd.read_csv(sweep / "sweep.csv")
    assert list(table.job) == [0, 1, 2, 3] and set(table.status) == {"completed"}
    for row in table.itertuples():
        history = pd.read_csv(sweep / row.dir / "history.csv")
        assert list(history.epoch) == [1, 2]
        assert row.objective == history.val_loss.min()

    # SLURM's own record: one array job, a task per sweep job, each finished in this directory
    jobs = slurm_cluster.jobs_from(tmp_path, count=4)
    assert sorted(int(job["ArrayTaskId"]) for job in jobs) == [0, 1, 2, 3]
    assert {job["JobState"] for job in jobs} == {"COMPLETED"}
    assert {job["Partition"] for job in jobs} == {slurm_cluster.partition}
    (array,) = {job["ArrayJobId"] for job in jobs}
    script = (sweep / ".submitit" / array / f"{array}_submission.sh").read_text()
    partition = f"--partition={slurm_cluster.partition}"
    for option in ("--array=0-3%2", "--cpus-per-task=1", "--mem=1GB", partition):  # the launcher's keys
        assert f"#SBATCH {option}\n" in script
    for row in table.itertuples():  # submitit's log of array task <job>: the SLURM job id, then mltrain's log
        log = (sweep / ".submitit" / f"{array}_{row.job}" / f"{array}_{row.job}_0_log.out").read_text()
        assert f"JobEnvironment(job_id={array}_{row.job}," in log and f"run dir {sweep / row.dir}" in log

    shown = sweep.relative_to(tmp_path)
    report = mltrain("report", str(shown), cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    best = table.dir[table.objective.idxmin()]
    assert "digits: 4 runs" in report.stdout and f"best: {shown / best}" in report.stdout


@pytest.mark.slow  # 45 s here
def test_a_job_that_fails_on_slurm_is_reported_and_the_others_finish(
    tmp_path: Path, slurm_cluster: SlurmCluster
) -> None:
    result = mltrain(
        "fit", "-m", "hydra/launcher=submitit_slurm", f"hydra.launcher.partition={slurm_cluster.partition}",
        "trainer.epochs=1", "dataset=iris,csv", cwd=tmp_path, env=slurm_cluster.env,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 1, output  # dataset=csv without its required keys
    assert "1 sweep job(s) failed" in output and "Traceback" not in result.stderr
    (sweep,) = (tmp_path / "runs" / "multirun").iterdir()
    table = pd.read_csv(sweep / "sweep.csv")
    assert list(table.status) == ["completed", "failed"]
    assert "dataset.path" in (sweep / table.dir[1] / "error.txt").read_text()
    # the failure is the run's, written in its directory: both SLURM tasks ended normally
    states = {job["ArrayTaskId"]: job["JobState"] for job in slurm_cluster.jobs_from(tmp_path, count=2)}
    assert states == {"0": "COMPLETED", "1": "COMPLETED"}
