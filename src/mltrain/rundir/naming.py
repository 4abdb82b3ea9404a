"""How run directories are named and made unique, Hydra's resolvers that name them, and path quoting.

    runs/fit/2026-11-23_23-57-14_dataset-iris_epochs-3        # <timestamp>_<key-value of each override>

A name holds only letters, digits and ``. _ - +``, so it pastes as it is into ``run=``, ``resume=`` and
``mltrain report``, into a shell and into Hydra's override grammar.
"""

from __future__ import annotations

import datetime
import functools
import re
import shutil
from pathlib import Path
from typing import Any

from mltrain.files import WriteError, make_dir
from mltrain.rundir.layout import RunDir

NAME_LIMIT = 60  # characters of overrides in a run directory's name (the timestamp comes on top)
_created: list[Path] = []  # run directories unique_run_dir made in this process


def install_resolvers() -> None:
    """Register ``mltrain_slug`` and ``mltrain_run_dir``, which name run directories in ``conf/*.yaml``."""
    from omegaconf import OmegaConf

    def names(items: Any) -> tuple[str, ...]:  # resolvers get a ListConfig; the cache needs a tuple
        return tuple(str(i) for i in items or ())

    # use_cache: the resolved directory travels with the pickled config to joblib / submitit workers
    OmegaConf.register_new_resolver("mltrain_slug", lambda items: slug(names(items)), replace=True)
    OmegaConf.register_new_resolver(
        "mltrain_run_dir", lambda base, items=(): unique_run_dir(base, names(items)), replace=True,
        use_cache=True,
    )  # fmt: skip


def slug(overrides: tuple[str, ...] | list[str], limit: int = NAME_LIMIT) -> str:
    """A short, path- and override-safe name from overrides: ``optimizer-nadam_lr-0.01_path-data.csv``.

    Keys keep their last part (``optimizer.lr`` -> ``lr``), paths their file name, lists join with ``+``
    (``metric=[accuracy,f1]`` -> ``metric-accuracy+f1``). Overrides that do not fit in ``limit`` characters
    are counted instead of cut mid-word: ``..._epochs-3_+2``.
    """
    parts = []
    for item in overrides:
        key, _, value = item.lstrip("+~").partition("=")
        if key.split(".")[0] == "logger":  # where a run is also logged does not change it
            continue
        value = value.strip("'\"").rstrip("/").rsplit("/", 1)[-1].strip("[]()")
        value = re.sub(r"\s*,\s*", "+", value)
        parts.append(re.sub(r"[^\w.+-]+", "-", f"{key.rsplit('.', 1)[-1]}-{value}").strip("-"))
    kept: list[str] = []
    for i, part in enumerate(parts):
        left = len(parts) - i - 1
        if len("_".join([*kept, part])) + (len(f"_+{left}") if left else 0) > limit:
            return "_".join([*kept, f"+{len(parts) - i}"])
        kept.append(part)
    return "_".join(kept)


@functools.cache
def unique_run_dir(base: str, overrides: tuple[str, ...] = ()) -> str:
    """``new_run_dir``, cached: Hydra resolving ``hydra.run.dir`` twice gets the same directory."""
    return new_run_dir(base, overrides)


def new_run_dir(base: str, overrides: tuple[str, ...] | list[str] = ()) -> str:
    """``<base>/<timestamp>[_<overrides>]``, created now so that no other run can take the same name.

    Two runs started in the same second with the same overrides get ``..._2``, ``..._3``: ``os.mkdir``
    fails for all but one of them. Every call makes a new directory (the Python API: two fits in one
    process are two runs).

    Raises:
        WriteError: ``base`` cannot be created or written (a file in the way, a read-only disk).
    """
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    name = "_".join(filter(None, [stamp, slug(overrides)]))
    make_dir(Path(base))
    for n in range(1, 10_000):
        candidate = Path(base) / (name if n == 1 else f"{name}_{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        except OSError as e:
            raise WriteError(e.errno, e.strerror or str(e), str(candidate)) from e
        _created.append(candidate.resolve())
        return str(candidate)
    raise RuntimeError(f"no free run directory under {base}")


def remove_if_unused(out_dir: Path) -> None:
    """Delete a run directory this process made when the run was refused before writing its files."""
    if not out_dir.is_dir():
        return
    kept = (RunDir.hydra_dir.name, RunDir.lock.name)  # what Hydra and the lock leave before a run starts
    unused = all(p.name in kept or p.suffix == ".log" for p in out_dir.iterdir())
    if out_dir.resolve() in _created and unused:
        shutil.rmtree(out_dir, ignore_errors=True)


def unquote(value: str) -> str:
    """A value without one pair of surrounding quotes: ``'runs/fit/a'`` -> ``runs/fit/a``."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def hydra_quoted(value: str) -> str:
    """``value`` as a quoted string of Hydra's override grammar, read back by Hydra exactly as it is."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
