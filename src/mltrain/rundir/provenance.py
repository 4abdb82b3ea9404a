"""What a run records to be reproduced: ``summary.json``'s ``provenance``.

    record(data_facts)   # {"command", "command_line", "cwd", "git", "data", "python", "platform"}

* ``command``: the command line as typed (``mltrain fit optimizer=sgd``; ``cli.py`` passes it on in
  :data:`COMMAND_ENV`, so sweep jobs in other processes record it too), else the Python process's argv.
* ``git``: the commit of the working directory's checkout and whether tracked files differ from it
  (``dirty``); absent when the directory is not a checkout or git is not installed. git runs without a
  shell, with a timeout, with the repository's fsmonitor, hooks and filter drivers switched off (a
  crafted ``.git/config`` names commands that ``git status`` would otherwise run), and any failure is
  only an absent field: provenance never stops a fit.
* ``data``: a file's path, size, rows and SHA-256 as it was read (``data/fingerprint.py``), or a
  bundled dataset's name and the SHA-256 of its rows.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
from typing import Any

COMMAND_ENV = "MLTRAIN_COMMAND_LINE"  # the mltrain command line, as JSON, set by cli.main
GIT_TIMEOUT_S = 5.0  # each git call; a slow network filesystem or a stuck git gives up, not the fit
_GIT_SAFE = (
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.untrackedCache=false",
)


def command_line() -> list[str]:
    """The command as the user typed it: ``["mltrain", "fit", ...]``, else ``sys.orig_argv``."""
    given = os.environ.get(COMMAND_ENV)
    if given:
        try:
            words = json.loads(given)
        except ValueError:
            words = None
        if isinstance(words, list) and all(isinstance(w, str) for w in words):
            return words
    return [str(w) for w in getattr(sys, "orig_argv", sys.argv)]


def record(data: dict[str, Any] | None) -> dict[str, Any]:
    """The run's provenance (see the module doc); ``git`` is left out when there is no checkout."""
    words = command_line()
    found: dict[str, Any] = {
        "command": words,
        "command_line": shlex.join(words),
        "cwd": os.getcwd(),
    }
    git = git_state(os.getcwd())
    if git is not None:
        found["git"] = git
    found["data"] = data
    found["python"] = platform.python_version()
    found["implementation"] = platform.python_implementation()
    found["platform"] = platform.platform()
    return found


@functools.lru_cache(maxsize=8)
def git_state(cwd: str) -> dict[str, Any] | None:
    """``{"commit": <sha>, "dirty": bool | None}`` of the checkout holding ``cwd``; ``None`` without one.

    ``dirty`` is ``None`` when git could not tell (a timeout, a filter name git's ``-c`` cannot spell).
    """
    commit = _git(cwd, "rev-parse", "--verify", "-q", "HEAD")
    if commit is None or len(commit.strip()) not in (40, 64):
        return None
    state: dict[str, Any] = {"commit": commit.strip(), "dirty": None}
    listed = _git(cwd, "config", "--get-regexp", r"^filter\..*\.(clean|smudge|process)$")
    drivers = {line.split(" ", 1)[0].rsplit(".", 1)[0] for line in (listed or "").splitlines() if line}
    if any("=" in d for d in drivers):
        return state
    off = [
        arg for d in sorted(drivers) for k in ("clean", "smudge", "process") for arg in ("-c", f"{d}.{k}=")
    ]
    changed = _git(cwd, *off, "status", "--porcelain", "--untracked-files=no", "--ignore-submodules")
    if changed is not None:
        state["dirty"] = bool(changed.strip())
    root = _git(cwd, "rev-parse", "--show-toplevel")
    if root:
        state["root"] = root.strip()
    return state


def _git(cwd: str, *args: str) -> str | None:
    """git's output, or ``None`` when it fails, is missing, hangs past the timeout or prints non-UTF-8."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
    env.pop("GIT_DIR", None)
    env.pop("GIT_WORK_TREE", None)
    try:  # its own process group, so a timeout kills whatever git started too (its pipes then close)
        git = subprocess.Popen(
            ["git", "--no-optional-locks", *_GIT_SAFE, *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    except (OSError, ValueError):
        return None
    try:
        out, _ = git.communicate(timeout=GIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(git.pid, signal.SIGKILL)
        git.communicate()
        return None
    if git.returncode != 0:
        return None
    try:
        return out.decode()
    except UnicodeDecodeError:
        return None
