"""``mltrain fit trainer.nproc=N``: N workers on this machine through torch's elastic launcher.

    mltrain fit trainer.nproc=2 dataset=synthetic dataset.rows=100000

This process (the one Hydra gave the run directory) starts the workers with
``torch.distributed.launcher.api.elastic_launch``, as ``torchrun --standalone --nproc-per-node=N`` would:
a c10d rendezvous on a free local port, no restarts. Rank 0 logs to this terminal and to the run's
``fit.log``; the other ranks' output is captured and kept only when they fail. The workers' outcome
becomes this command's: the summary, a user error (exit 2), an interruption (130 / 143), or a failed or
killed rank (exit 1, ``status: failed`` in ``summary.json``, the message naming the rank).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from mltrain.config.checks import validate_config
from mltrain.data import memory
from mltrain.errors import ConfigError, DistributedError
from mltrain.files import atomic_write_json, remove_temp_files
from mltrain.launch.ranks import Job, quiet_rank, raise_stop, resume_files, run_rank
from mltrain.rundir import RunDir
from mltrain.status import FAILED, UNFINISHED
from mltrain.training import distributed

log = logging.getLogger(__name__)

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)  # the elastic agent takes these
QUIETED = ("torch.distributed.elastic", "torch.multiprocessing")


def launch_local(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """Start ``trainer.nproc`` workers, wait for them, and return rank 0's summary (see the module doc)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import elastic_launch

    n = cfg.trainer.nproc
    problems = validate_config(cfg) + gpu_problems(cfg.trainer.device, n)  # the data: by the workers
    if problems:  # before paying for N processes
        raise ConfigError(problems)
    logs = tempfile.mkdtemp(prefix="mltrain-ranks-")  # the workers' captured output and scratch directories
    job = Job(threads_per_worker(cfg, n), str(out_dir), resume_files(cfg), logging_spec(), scratch=logs)
    saved = {s: signal.getsignal(s) for s in HANDLED}
    levels, budget = _quiet_torch_loggers(), os.environ.get(memory.BUDGET_ENV)
    memory.set_budget_share(n)  # measured now, before any worker holds data
    log.info("starting %d processes (DistributedDataParallel, %s): each trains on its share of every "
             "batch of %d rows", n, distributed.backend(), cfg.trainer.batch_size)  # fmt: skip
    try:
        results = elastic_launch(launch_config(n, logs), worker)(job)
    except SignalException as e:
        _restore(saved)
        signal.raise_signal(e.sigval)  # the command line's handler turns it into KeyboardInterrupt
        raise KeyboardInterrupt from None
    except ChildFailedError as e:
        raise mark_failed(out_dir, describe_failures(e.failures, logs, out_dir)) from None
    finally:
        _restore(saved)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        memory.restore_budget(budget)
        shutil.rmtree(logs, ignore_errors=True)
    return outcome(results, out_dir)


def gpu_problems(device: str, n: int) -> list[str]:
    """On CUDA every process needs a GPU of its own."""
    import torch

    cuda = str(device).startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if cuda and torch.cuda.device_count() < n:
        return [
            f"trainer.nproc={n} on trainer.device={device} needs a GPU per process, but torch sees "
            f"{torch.cuda.device_count()}; use trainer.nproc={max(1, torch.cuda.device_count())} or "
            "trainer.device=cpu"
        ]
    return []


def launch_config(n: int, logs: str) -> Any:
    """``torchrun --standalone --nproc-per-node=n --max-restarts=0``, other ranks' output into ``logs``."""
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs, Std
    from torch.distributed.launcher.api import LaunchConfig

    quiet = {r: Std.ALL for r in range(1, n)}
    return LaunchConfig(
        min_nodes=1, max_nodes=1, nproc_per_node=n, run_id=f"mltrain-{uuid.uuid4().hex[:12]}",
        rdzv_backend="c10d", rdzv_endpoint="127.0.0.1:0", max_restarts=0, monitor_interval=0.1,
        start_method="spawn", logs_specs=DefaultLogsSpecs(log_dir=logs, redirects=quiet),
    )  # fmt: skip


def worker(job: Job) -> dict[str, Any]:
    """The entry point of each worker process: join the group, log like rank 0 or stay quiet, run."""
    distributed.init_from_env()
    if distributed.rank() == 0:
        log_like_parent(job.logging or [])
    else:
        quiet_rank(job)
    try:
        return run_rank(job)
    finally:
        distributed.teardown()


def threads_per_worker(cfg: DictConfig, n: int) -> DictConfig:
    """With ``trainer.num_threads`` null, each of ``n`` workers gets ``cores // n`` torch threads."""
    if cfg.trainer.num_threads is not None:
        return cfg
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.trainer.num_threads = max(1, len(os.sched_getaffinity(0)) // n)
    return cfg


def logging_spec() -> list[tuple[str, str, str | None, str | None]]:
    """This process's log handlers (Hydra's: the terminal and ``fit.log``), for rank 0 to copy."""
    spec = []
    for h in logging.getLogger().handlers:
        fmt, datefmt = (h.formatter._fmt, h.formatter.datefmt) if h.formatter else (None, None)
        if isinstance(h, logging.FileHandler):
            spec.append(("file", h.baseFilename, fmt, datefmt))
        elif isinstance(h, logging.StreamHandler) and h.stream in (sys.stdout, sys.stderr):
            spec.append(("stream", "stdout" if h.stream is sys.stdout else "stderr", fmt, datefmt))
    return spec


def log_like_parent(spec: list[tuple[str, str, str | None, str | None]]) -> None:
    """Log at INFO to the same terminal stream and files as the launching process."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for kind, where, fmt, datefmt in spec:
        handler = logging.FileHandler(where) if kind == "file" else logging.StreamHandler(getattr(sys, where))
        handler.setFormatter(logging.Formatter(fmt, datefmt))
        root.addHandler(handler)


def outcome(results: dict[int, dict[str, Any]], out_dir: Path) -> dict[str, Any]:
    """Rank 0's summary, or the error every rank's result adds up to (the earliest failure first)."""
    failures = sorted((res["time"], r, res) for r, res in results.items() if "time" in res)
    for kind in ("user_error", "interrupted"):  # a user error first: every rank found it, nothing trained
        for _, _, res in failures:
            if kind in res:
                raise_stop(res)
    if failures:
        _, r, res = failures[0]
        raise mark_failed(out_dir, f"rank {r} failed: {res['error']} (traceback in {res['log']})")
    return results[0]["summary"]


def describe_failures(failures: dict[int, Any], logs: str, out_dir: Path) -> str:
    """``rank 1 (pid 4242) was killed by signal SIGKILL`` for the first rank that died; its captured
    output, if any, is appended to ``<run dir>/rank_<r>.log``."""
    r, failure = min(failures.items(), key=lambda item: (item[1].timestamp, item[0]))
    code = failure.exitcode
    how = f"was killed by signal {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
    message = f"rank {r} (pid {failure.pid}) {how}; the other ranks were stopped"
    captured = [p for p in Path(logs).glob(f"**/{r}/std*.log") if p.stat().st_size]
    if captured:
        with open(RunDir(out_dir).rank_log(r), "a", encoding="utf-8") as f:
            for p in sorted(captured):
                f.write(f"---- {p.name} ----\n{p.read_text(errors='replace')}")
        message += f"; its output is in {RunDir(out_dir).rank_log(r)}"
    return message


def mark_failed(out_dir: Path, message: str) -> DistributedError:
    """Record a failed run: ``status: failed`` and the launcher's message (which names the rank) in any
    ``summary.json`` not finished (a rank's own ``failed`` only knows that its peer went away), and no
    temporary file of an interrupted atomic write left behind."""
    remove_temp_files(out_dir)
    run = RunDir(out_dir)
    for part in (run, *run.folds()):  # a k-fold run's folds have summaries of their own
        summary = part.read_summary()
        if summary is not None and summary.get("status") in UNFINISHED:
            atomic_write_json(part.summary, summary | {"status": FAILED, "message": message})
    return DistributedError(message)


def _quiet_torch_loggers() -> dict[str, int]:
    """Silence the launcher's and torch.multiprocessing's own reports (one message names a failed rank);
    the levels they had, to restore."""
    names = [n for n in logging.Logger.manager.loggerDict if n.startswith(QUIETED)]
    levels = {n: logging.getLogger(n).level for n in {*names, *QUIETED}}
    for name in levels:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return levels


def _restore(saved: dict[int, Any]) -> None:
    for signum, handler in saved.items():
        if handler is not None:
            signal.signal(signum, handler)
