"""How much memory a dataset will take, checked before loading it: a clear error instead of the OOM killer.

    need = estimate_bytes(rows=5_000_000, columns=51, parquet=True)   # the run's peak, data included
    check_fits(need, "dataset.path=big.parquet (5,000,000 rows x 51 columns)", "dataset.check_memory=false")

The estimate is the peak resident memory measured by ``benchmarks/bench_data.py`` for loading,
preprocessing and training on a table (per value of the file, plus a fixed cost for Python, torch and the
model), with a margin. At 5,000,000 x 51, above 0.29 GiB of Python and imports: a whole one-epoch fit of a
Parquet file peaked at 21.4 bytes per value; loading and preprocessing took 13.6 to 15.8 bytes per value
from Parquet and 21.8 from CSV (CSV's fit is estimated as its preparation plus what the fit added for
Parquet, 5.6: the final profile of the training rows and the reports). The memory available is the
kernel's ``MemAvailable``, or less when a cgroup limit (container, SLURM job) says so. Processes that
train together on one machine (``trainer.nproc``, torchrun) each hold the data, so each gets an equal
share, measured once before any of them loads anything. A process's own address-space limit
(``ulimit -v``, ``RLIMIT_AS``) caps its budget too: what the limit leaves above its present virtual size.
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import resource
except ImportError:  # not on Windows: no address-space limit to read
    resource = None

from mltrain.errors import DataError

PARQUET_BYTES_PER_VALUE = 24  # peak bytes per value of a fit on a Parquet table (measured: 21.4)
CSV_BYTES_PER_VALUE = 32  # of a fit on a CSV file, compressed or not (about 27: pyarrow holds the text too)
FIXED_BYTES = 1 << 30  # Python, torch, the model and the run's own files
BUDGET_ENV = "MLTRAIN_MEMORY_BUDGET"  # bytes this process may use, set for it by a multi-process launch
GIB = 1 << 30


def available_bytes() -> int | None:
    """Memory this process can still take: ``MemAvailable``, capped by a cgroup limit; ``None`` if unknown."""
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    for limit, usage in (("memory.max", "memory.current"),  # cgroup v2
                         ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):  # fmt: skip
        try:
            cap = Path("/sys/fs/cgroup", limit).read_text().strip()
            used = int(Path("/sys/fs/cgroup", usage).read_text())
        except (OSError, ValueError):
            continue
        if cap.isdigit() and int(cap) < 1 << 60:  # "max" or a huge number: no limit
            found.append(int(cap) - used)
    return min(found) if found else None


def address_space_limit() -> int | None:
    """This process's address-space limit in bytes (``ulimit -v``, ``RLIMIT_AS``); ``None`` when unlimited."""
    if resource is None:
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY or soft < 0 else soft


def address_space_left() -> int | None:
    """What the address-space limit still lets this process map: the limit less its virtual size now."""
    limit = address_space_limit()
    if limit is None:
        return None
    try:  # /proc/self/statm: the virtual size in pages comes first
        size = int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        size = 0
    return max(0, limit - size)


def budget_bytes() -> int | None:
    """What this process may use: its share set by a launcher, else all that is available, and no more
    than its address-space limit leaves."""
    return budget()[0]


def budget() -> tuple[int | None, str]:
    """:func:`budget_bytes` and, for a message, what sets it: ``"1.2 GiB is available"``, or ``"the
    address-space limit (ulimit -v) of 2.0 GiB leaves 0.4 GiB"``."""
    given = os.environ.get(BUDGET_ENV)
    share = int(given) if given else available_bytes()
    left, limit = address_space_left(), address_space_limit()
    if left is not None and limit is not None and (share is None or left < share):
        return (
            left,
            f"the address-space limit (ulimit -v) of {limit / GIB:.1f} GiB leaves {left / GIB:.1f} GiB",
        )
    if share is None:
        return None, "the memory available is unknown"
    return share, f"{share / GIB:.1f} GiB is available"


def set_budget_share(processes: int) -> None:
    """Measure the available memory now and give this process (and the ones it starts) a 1/``processes``
    share, so processes that load their data at slightly different times all count the same memory."""
    if BUDGET_ENV in os.environ:
        return
    available = available_bytes()
    if available is not None:
        os.environ[BUDGET_ENV] = str(available // max(1, processes))


def restore_budget(previous: str | None) -> None:
    """Undo :func:`set_budget_share` in a process that launched workers and goes on."""
    if previous is None:
        os.environ.pop(BUDGET_ENV, None)
    else:
        os.environ[BUDGET_ENV] = previous


def estimate_bytes(rows: int, columns: int, parquet: bool) -> int:
    """Peak memory of a run on a table of ``rows`` x ``columns`` values read from Parquet or CSV."""
    per_value = PARQUET_BYTES_PER_VALUE if parquet else CSV_BYTES_PER_VALUE
    return rows * columns * per_value + FIXED_BYTES


def check_fits(need: int, what: str, switch: str) -> None:
    """Raise a :class:`DataError` when ``need`` bytes exceed this process's budget.

    Args:
        need: the estimated peak, from :func:`estimate_bytes`.
        what: the data, for the message (``dataset.path=big.csv (about 5,000,000 rows x 51 columns)``).
        switch: the override that turns the check off (``dataset.check_memory=false``).
    """
    allowed, words = budget()
    if allowed is None or need <= allowed:
        return
    shared = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    each = f" (each of the {shared} processes on this machine holds its own copy)" if shared > 1 else ""
    raise DataError(
        f"{what} needs about {need / GIB:.1f} GiB of memory to load and train{each}, but only "
        f"{words}; use a sample of the rows, fewer columns (dataset.features), "
        f"fewer processes, or a machine with more memory ({switch} skips this check)"
    )
