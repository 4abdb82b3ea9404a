"""Atomic file writes: every file mltrain writes goes through here, so a reader never sees half of one.

A file is written to a temporary file in the same directory and renamed over the old one (atomic on
POSIX), so a run killed at any moment leaves either the old file or the new one, never a mix:

    atomic_write_json(run_dir / "summary.json", summary)
    with atomic_file(run_dir / "checkpoints" / "last.pt", "wb") as f:
        torch.save(state, f)

A write that fails (disk full, read-only directory) raises :class:`WriteError` naming the file it was
writing, and leaves no temporary file behind. This module imports nothing of mltrain: every layer may use it.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

TEMP_SUFFIX = ".tmp"
GONE = "the directory no longer exists (deleted while mltrain was writing in it)"  # a WriteError's reason


class WriteError(OSError):
    """A file or directory mltrain writes could not be written (``filename`` names it); exit status 74."""


class DamagedFile(ValueError):
    """A file parses, but its content is not what mltrain writes (a wrong type, length or number); the
    message says which field and what it must be, the reader names the file."""


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """A file object whose content replaces ``path`` only when the ``with`` block ends without error.

    Args:
        path: the file to write.
        mode: ``"w"`` (text, UTF-8, no newline translation) or ``"wb"``.

    Raises:
        WriteError: the write failed; ``filename`` is ``path`` (its folder when that no longer exists) and
            ``path`` itself is unchanged.
    """
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
        os.fchmod(fd, 0o644)  # mkstemp makes the file private; run files are ordinary files
        text = {"encoding": "utf-8", "newline": ""} if "b" not in mode else {}
        with os.fdopen(fd, mode, **text) as f:
            yield f
        os.replace(tmp, path)
    except FileNotFoundError as e:
        _unlink(tmp)
        if path.parent.is_dir():
            raise WriteError(e.errno, e.strerror or str(e), str(path)) from e
        raise WriteError(e.errno, GONE, str(path.parent)) from e  # deleted while a run was writing in it
    except OSError as e:
        _unlink(tmp)
        raise WriteError(e.errno, e.strerror or str(e), str(path)) from e
    except BaseException:
        _unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    with atomic_file(path, "w") as f:
        f.write(text)


def atomic_write_json(path: Path, data: Any) -> None:
    """``atomic_write_text`` of indented JSON (NaN and Infinity written as null)."""
    atomic_write_text(path, json.dumps(finite(data), indent=2) + "\n")


def read_json(path: Path) -> Any:
    """A JSON file's content, or ``None`` when it is missing or not JSON (half-written by an older writer,
    or damaged)."""
    try:
        return load_json(path)
    except (OSError, ValueError):
        return None


def load_json(path: Path) -> Any:
    """A JSON file's content, for a reader that reports a missing or damaged file itself.

    Raises:
        OSError: the file cannot be read.
        ValueError: it is not JSON (``json.JSONDecodeError``) or not UTF-8.
    """
    return json.loads(Path(path).read_text())


def make_dir(directory: Path, key: str | None = None) -> Path:
    """Make ``directory`` and its parents; check that files can be created in it.

    Raises:
        WriteError: naming the directory (and the config key it came from): a file in the way, a
            read-only disk, no permission.
    """
    directory = Path(directory)
    where = f"{key}={directory}" if key else str(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WriteError(e.errno, e.strerror or str(e), where) from e
    if not os.access(directory, os.W_OK | os.X_OK):
        raise WriteError(13, "no permission to write in this directory", where)
    return directory


def make_subdir(directory: Path) -> Path:
    """Make ``directory`` (a folder of a run, such as ``checkpoints/``) inside its existing parent.

    Raises:
        WriteError: naming the parent when it is gone (a run directory deleted while the run lives), or
            ``directory`` for any other failure.
    """
    directory = Path(directory)
    try:
        directory.mkdir(exist_ok=True)
    except FileNotFoundError as e:
        raise WriteError(e.errno, GONE, str(directory.parent)) from e
    except OSError as e:
        raise WriteError(e.errno, e.strerror or str(e), str(directory)) from e
    return directory


def remove_temp_files(directory: Path) -> list[Path]:
    """Delete the temporary files a killed writer left in ``directory`` and its subfolders.

    Only call it while holding the run's lock: a live writer's temporary file would go too.
    """
    stale = [p for p in Path(directory).rglob(f".*{TEMP_SUFFIX}") if p.is_file()]
    for p in stale:
        _unlink(p)
    return stale


def finite(value: Any) -> Any:
    """``value`` with every NaN and infinite float replaced by ``None`` (JSON has neither)."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def _unlink(path: str | Path | None) -> None:
    if path is not None:
        with contextlib.suppress(OSError):
            os.unlink(path)


def special_kind(path: Path) -> str | None:
    """What ``path`` is when it exists but is neither a regular file nor a directory, found without opening
    it (opening a named pipe for reading waits for a writer): ``"a named pipe (FIFO)"``, ``"a device"``,
    ``"a socket"``; ``None`` for a regular file, a directory, or nothing there."""
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):  # missing, unreadable, or a name the OS refuses: the caller's own message
        return None
    kinds = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
             (stat.S_ISSOCK, "a socket"))  # fmt: skip
    return next((kind for test, kind in kinds if test(mode)), None)
