"""A throw-away single-node SLURM cluster for the slow tests: ``munged``, ``slurmctld`` and ``slurmd`` from
Debian's ``munge`` and ``slurm-wlm`` packages, each in the foreground as a child process, with their own
key, ``slurm.conf``, state and logs in one temporary directory (nothing under ``/etc`` is read or changed).

The machine the tests run on may be a container or a gVisor sandbox without a writable cgroup tree, so the
cluster uses the plugins that need none: processes tracked by parent id (``proctrack/linuxproc``), no CPU
binding (``task/none``), no per-job usage sampling (``jobacct_gather/none``). There is no ``slurmdbd``
(it needs a MySQL server), so ``sacct`` answers "accounting storage is disabled"; each finished job is
written instead by ``jobcomp/filetxt`` to ``jobcomp.txt``, which :meth:`SlurmCluster.finished_jobs` reads.
Clients (``sbatch``, ``squeue``, submitit) find this cluster through ``SLURM_CONF`` in :attr:`env`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scancel", "scontrol")
INSTALL = "apt-get install -y --no-install-recommends slurm-wlm munge"
PARTITION = "debug"

CONF = """\
ClusterName=mltrain-test
SlurmctldHost={host}
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge}/munge.socket
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
# no cgroups: processes tracked by parent id, no CPU binding, no usage sampling
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={root}/jobcomp.txt
MailProg=/bin/true
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
{node}
PartitionName={partition} Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


@dataclass(frozen=True)
class SlurmCluster:
    root: Path
    partition: str
    env: dict[str, str]  # what a client needs to reach this cluster: SLURM_CONF

    def finished_jobs(self) -> list[dict[str, str]]:
        """One dict per finished job (each array task is one), as ``jobcomp/filetxt`` wrote it:
        ``JobId``, ``JobState``, ``ArrayJobId``, ``ArrayTaskId``, ``Partition``, ``WorkDir``, ..."""
        path = self.root / "jobcomp.txt"
        lines = path.read_text().splitlines() if path.exists() else []
        return [dict(field.split("=", 1) for field in line.split()) for line in lines if line.strip()]

    def jobs_from(self, workdir: Path, count: int, seconds: float = 60) -> list[dict[str, str]]:
        """The finished jobs submitted from ``workdir``, once there are ``count`` of them: slurmctld writes
        a job's record after its last process ends, which can be after submitit has read its result."""
        deadline = time.monotonic() + seconds
        while True:
            jobs = [job for job in self.finished_jobs() if job.get("WorkDir") == str(workdir)]
            if len(jobs) >= count or time.monotonic() > deadline:
                return jobs
            time.sleep(0.5)


def missing_programs() -> list[str]:
    return [name for name in PROGRAMS if shutil.which(name) is None]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def node_line() -> str:
    """This host as slurmd sees it: ``NodeName=<host> CPUs=<n> ... RealMemory=<MiB>``."""
    found = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True, timeout=30)
    return found.stdout.splitlines()[0]


def write_config(root: Path, munge: Path) -> Path:
    """The munge key and ``slurm.conf`` for one node named after this host, with its CPU count."""
    for name in ("state", "spool"):
        (root / name).mkdir()
    key = os.open(munge / "munge.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    with os.fdopen(key, "wb") as out:
        out.write(secrets.token_bytes(1024))
    node = node_line()
    host = node.split()[0].removeprefix("NodeName=")
    conf = root / "slurm.conf"
    conf.write_text(
        CONF.format(
            host=host, node=node, root=root, munge=munge, partition=PARTITION, ctld_port=free_port(),
            slurmd_port=free_port(),
        )
    )  # fmt: skip
    return conf


Daemons = dict[str, subprocess.Popen]


def wait_for(what: str, ready: Callable[[], bool], daemons: Daemons, root: Path, seconds: float) -> None:
    """Poll ``ready()`` until it is true; a daemon that exits or a timeout raises with the logs' tails."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        dead = [name for name, process in daemons.items() if process.poll() is not None]
        if dead:
            raise RuntimeError(f"{', '.join(dead)} exited while waiting for {what}:\n{log_tails(root)}")
        if ready():
            return
        time.sleep(0.3)
    raise RuntimeError(f"no {what} after {seconds:.0f} s:\n{log_tails(root)}")


def log_tails(root: Path) -> str:
    logs = sorted(root.glob("*.log")) + sorted(root.glob("*.out"))
    return "\n".join(f"--- {log.name}\n" + "\n".join(log.read_text().splitlines()[-15:]) for log in logs)


def answers(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(args, env={**os.environ, **env}, capture_output=True, text=True, timeout=30)
    return done.stdout if done.returncode == 0 else ""


@contextmanager
def running_cluster(root: Path) -> Iterator[SlurmCluster]:
    """Start munged, slurmctld and slurmd in the foreground; on exit cancel what is left and stop them.

    munged's socket lives in a directory of its own under the system's temporary folder: munged refuses a
    socket with a folder above it that not everyone may enter (pytest's are private), and a socket's path
    must be short."""
    with ExitStack() as stack:
        munge = Path(tempfile.mkdtemp(prefix="mltrain-munge-"))
        stack.callback(shutil.rmtree, munge, ignore_errors=True)
        munge.chmod(0o755)
        yield stack.enter_context(daemons_running(root, munge))


@contextmanager
def daemons_running(root: Path, munge: Path) -> Iterator[SlurmCluster]:
    conf = write_config(root, munge)
    env = {"SLURM_CONF": str(conf)}
    cluster = SlurmCluster(root=root, partition=PARTITION, env=env)
    socket_path = munge / "munge.socket"
    commands = {
        "munged": [
            "munged", "--foreground", f"--socket={socket_path}", f"--key-file={munge}/munge.key",
            f"--log-file={root}/munged.log", f"--pid-file={munge}/munged.pid",
            f"--seed-file={munge}/munged.seed",
        ],
        "slurmctld": ["slurmctld", "-D", "-f", str(conf)],
        "slurmd": ["slurmd", "-D", "-f", str(conf)],
    }  # fmt: skip
    ready = {
        "munged": ("munge's socket", socket_path.exists),
        "slurmctld": ("the controller", lambda: "UP" in answers("scontrol", "ping", env=env)),
        "slurmd": ("an idle node", lambda: answers("sinfo", "-h", "-o", "%T", env=env).strip() == "idle"),
    }
    daemons: dict[str, subprocess.Popen] = {}
    with ExitStack() as stack:
        stack.callback(stop, daemons, cluster)
        for name, command in commands.items():
            out = stack.enter_context((root / f"{name}.out").open("w"))
            daemons[name] = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
            what, check = ready[name]
            wait_for(what, check, daemons, root, seconds=30)
        yield cluster


def stop(daemons: dict[str, subprocess.Popen], cluster: SlurmCluster) -> None:
    """Cancel this cluster's jobs still queued or running, then stop the daemons, newest first."""
    if "slurmd" in daemons and daemons["slurmd"].poll() is None:
        answers("scancel", "--user=root", env=cluster.env)
        deadline = time.monotonic() + 15
        while answers("squeue", "-h", env=cluster.env).strip() and time.monotonic() < deadline:
            time.sleep(0.5)
    for process in reversed(list(daemons.values())):
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
