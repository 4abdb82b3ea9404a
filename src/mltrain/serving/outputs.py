"""Where ``predict`` and ``export`` may write: never over one of their inputs, never into a run directory.

    check_output(Path("preds.csv"), inputs=[Path("new.csv")])

Checked before anything is read or written, so a wrong ``output=`` loses nothing: the same file is found
after resolving links and relative paths, and as a hard link of an input (same device and inode).
"""

from __future__ import annotations

import os
from pathlib import Path

from mltrain.errors import ConfigError
from mltrain.rundir import RunDir


def check_output(output: Path, inputs: list[Path], key: str = "output") -> None:
    """Refuse an ``output`` that is one of ``inputs`` or lies inside a run directory (``run=``'s, or any
    other: ``RunDir.is_run``).

    Raises:
        ConfigError: naming ``<key>=`` and what it would destroy.
    """
    output = Path(output)
    for source in inputs:
        if _same_file(output, Path(source)):
            raise ConfigError(
                f"{key}={output} is the input file {source}; writing it would destroy the input: "
                f"name another file, e.g. {key}=predictions.csv"
            )
    run = RunDir.containing(output)
    if run is not None:
        raise ConfigError(
            f"{key}={output} is inside the run directory {run.path}; "
            f"mltrain never writes into a run's files: name a file outside it, e.g. {key}={output.name}"
        )


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` are one file: the same path once resolved, or hard links of one inode."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samestat(a.stat(), b.stat())
    except OSError:  # one of them does not exist yet
        return False
