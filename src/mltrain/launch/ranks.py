"""One ``mltrain fit`` run by several processes: ``trainer.nproc=N``, or started by torchrun.

    mltrain fit trainer.nproc=2 dataset=synthetic dataset.rows=100000
    torchrun --nproc-per-node=2 -m mltrain fit dataset=synthetic dataset.rows=100000

* ``trainer.nproc=N``: this process starts N workers on this machine through torch's elastic launcher
  (``torch.distributed.launcher.api.elastic_launch``, what torchrun runs), waits for them and turns their
  outcome into this command's: the summary, a user error, an interruption, or a failed rank.
* Under torchrun every process is an ``mltrain fit``: rank 0 composes the config and names the run
  directory as usual and hands both to the other ranks (:func:`follow`), which run the same fit.

Every rank runs ``commands.fit.run`` (which never launches; ``runner.launch_fit`` decided) on the same
config. Rank 0 writes the run directory and prints; rank r > 0 writes its copies of the run files into a
private scratch directory that is deleted at the end, prints nothing, and writes ``<run dir>/rank_<r>.log``
only when it fails.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from mltrain.commands import fit
from mltrain.data import memory
from mltrain.errors import DistributedError, UserError
from mltrain.outcomes import of_rank
from mltrain.rundir import RunDir
from mltrain.training import distributed

log = logging.getLogger(__name__)


@dataclass
class Job:
    """What every rank needs to run the same fit: the config, rank 0's run directory, and for a resumed
    run the files to continue from (ranks on other machines may not see rank 0's disk)."""

    cfg: DictConfig
    out_dir: str
    resume_files: dict[str, bytes] = field(default_factory=dict)
    logging: list[tuple[str, str, str | None, str | None]] | None = None  # rank 0's handlers to copy
    scratch: str | None = None  # where ranks > 0 make their scratch directories (None: the system's)


def torchrun_world() -> int:
    """``WORLD_SIZE`` when torchrun (or another launcher) started this process, else 1."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def needed(cfg: DictConfig) -> bool:
    """Whether ``fit`` must start or join a multi-process run instead of training right here."""
    return cfg.trainer.get("nproc", 1) > 1 or torchrun_world() > 1


# ---- every rank ----------------------------------------------------------------------------------


def run_rank(job: Job) -> dict[str, Any]:
    """Run this rank's part of ``job``; never raises for the fit's own errors (they are returned).

    Returns:
        ``{"summary": ...}`` on rank 0 when the run ended, ``{}`` on other ranks; or ``{"user_error": msg}``,
        ``{"interrupted": signum}``, ``{"error": msg, "log": path}`` (each with the ``time`` it happened).
    """
    r = distributed.rank()
    scratch = Path(tempfile.mkdtemp(prefix=f"mltrain-rank{r}-", dir=job.scratch)) if r > 0 else None
    out_dir = scratch or Path(job.out_dir)
    previous = {s: signal.signal(s, _interrupted) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        cfg = job.cfg if r == 0 else _scratch_config(job, out_dir)
        summary = fit.run(cfg, out_dir)
        return {"summary": summary} if r == 0 else {}
    except UserError as e:
        return {"user_error": str(e), "time": time.time()}
    except KeyboardInterrupt:
        return {"interrupted": _signal_seen or signal.SIGINT, "time": time.time()}
    except Exception as e:  # noqa: BLE001 - reported by rank 0 or the launcher, with the traceback in a file
        return {"error": f"{type(e).__name__}: {e}", "log": _write_rank_log(job, r), "time": time.time()}
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if r > 0:
            shutil.rmtree(out_dir, ignore_errors=True)


_signal_seen = 0


def _interrupted(signum: int, frame: object) -> None:
    """Like the command line's handler: note which signal came, stop with ``KeyboardInterrupt``."""
    global _signal_seen
    _signal_seen = signum
    raise KeyboardInterrupt


def _scratch_config(job: Job, scratch: Path) -> DictConfig:
    """The config for a rank > 0: a resumed run continues from copies of rank 0's files in ``scratch``."""
    cfg = job.cfg.copy()
    if job.resume_files:
        for name, data in job.resume_files.items():
            (scratch / name).parent.mkdir(parents=True, exist_ok=True)
            (scratch / name).write_bytes(data)
        with open_dict(cfg):
            cfg.resume = str(scratch)
    return cfg


def resume_files(cfg: DictConfig) -> dict[str, bytes]:
    """The files a resumed run continues from, read on rank 0 for the other ranks."""
    if not cfg.get("resume"):
        return {}
    run = RunDir(cfg.resume)
    return {str(p.relative_to(run.path)): p.read_bytes() for p in run.resume_files if p.is_file()}


def _write_rank_log(job: Job, r: int) -> str:
    """The traceback of the exception being handled, appended to ``<run dir>/rank_<r>.log``."""
    path = RunDir(job.out_dir).rank_log(r)
    text = f"[{time.strftime('%Y-%m-%d %H:%M:%S')}][rank {r}] {traceback.format_exc()}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)
    except OSError:  # rank 0's directory may not be writable from this machine
        path = Path(tempfile.gettempdir()) / f"mltrain_rank_{r}.log"
        path.write_text(text, encoding="utf-8")
    return str(path)


def quiet_rank(job: Job) -> None:
    """A rank > 0 prints nothing; its error records go to ``<run dir>/rank_<r>.log``."""
    sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - for the process's lifetime
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.FileHandler(RunDir(job.out_dir).rank_log(distributed.rank()), delay=True)
    handler.setLevel(logging.ERROR)
    handler.addFilter(lambda record: record.levelno >= logging.ERROR)  # records handed to it directly too
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(levelname)s] %(message)s"))
    root.addHandler(handler)


# ---- torchrun -------------------------------------------------------------------------------------


def torchrun_rank() -> int | None:
    """This process's rank when torchrun started a multi-process ``mltrain fit``; ``None`` otherwise."""
    return int(os.environ.get("RANK", "0")) if torchrun_world() > 1 else None


def lead() -> None:
    """Rank 0 under torchrun, before composing the config: release the other ranks when this process ends
    (whatever happens: a finished run, a user error, ``--help``)."""
    memory.set_budget_share(int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    atexit.register(_release_followers)


def lead_job(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """Rank 0 under torchrun: share the job with the other ranks and run its own part.

    Raises:
        UserError: the config or the data is wrong (any rank found it; nothing was trained).
        KeyboardInterrupt: Ctrl-C or SIGTERM stopped the run (every rank stopped at the same batch).
        DistributedError: a rank failed or died; the message names it.
    """
    import torch.distributed as dist

    distributed.init_from_env()
    job = Job(cfg, str(out_dir.resolve()), resume_files(cfg))
    dist.broadcast_object_list([job], src=0)
    result = run_rank(job)
    raise_stop(result)
    if "error" in result:
        raise DistributedError(
            f"rank 0 failed: {result['error']} (traceback in {result['log']}); when another rank failed "
            "first, torchrun's report names it and its traceback is in that directory's rank_<r>.log"
        )
    return result["summary"]


def _release_followers() -> None:
    import torch.distributed as dist

    try:
        distributed.init_from_env()
        dist.broadcast_object_list([None], src=0)
        distributed.teardown()
    except Exception:  # noqa: BLE001, S110 - the other ranks are gone already; torchrun ends them anyway
        pass


def follow() -> int:
    """Ranks > 0 under torchrun: run every job rank 0 shares until it has no more; the exit status."""
    import torch.distributed as dist

    memory.set_budget_share(int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    for signum in (signal.SIGINT, signal.SIGTERM):  # waiting for rank 0: torchrun's signal ends it at once
        signal.signal(signum, signal.SIG_DFL)
    distributed.init_from_env()
    status = 0
    while status == 0:
        box: list[Job | None] = [None]
        dist.broadcast_object_list(box, src=0)
        if box[0] is None:
            break
        quiet_rank(box[0])
        status = of_rank(run_rank(box[0]))
    if status == 0:
        distributed.teardown()
    return status


def raise_stop(result: dict[str, Any]) -> None:
    """Raise what stopped a rank before its end, as this process's own: a user error, or the signal (the
    command line's handler turns it into ``KeyboardInterrupt``, exit 130 or 143)."""
    if "user_error" in result:
        raise UserError(result["user_error"])
    if "interrupted" in result:
        signal.raise_signal(result["interrupted"])
        raise KeyboardInterrupt
