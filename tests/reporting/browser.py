"""Headless Chromium for the HTML report's tests and benchmark: the rendered DOM, a screenshot, the console.

    page = render(Path("report.html"))             # Rendered(dom, console, wall_s)
    shot = screenshot(Path("report.html"), Path("shot.png"))

Debian's ``chromium`` package (``.ci/run`` installs it), run with the flags that work in a container without
a GPU, a D-Bus or a network; each run gets a new profile directory. The page's console messages (errors and
uncaught exceptions included) are read from Chromium's log on stderr (``INFO:CONSOLE``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-logging=stderr", "--v=0",
)  # fmt: skip
CONSOLE = re.compile(r":CONSOLE(?:\(\d+\)|:\d+)\] (.*)")


def chromium() -> str | None:
    """The Chromium executable, or ``None`` when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Rendered:
    dom: str  # the DOM after the page's scripts ran, serialised
    console: list[str]  # the page's console messages
    wall_s: float  # the whole Chromium process: start, load, render, exit


def _run(page: Path, *flags: str, timeout: float = 120) -> tuple[str, str, float]:
    executable = chromium()
    assert executable is not None, "chromium is not installed"
    with tempfile.TemporaryDirectory() as profile:
        started = time.perf_counter()
        done = subprocess.run(
            [executable, *FLAGS, f"--user-data-dir={profile}", *flags, page.resolve().as_uri()],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        wall = time.perf_counter() - started
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr, wall


def render(page: Path, width: int = 1400, height: int = 2000) -> Rendered:
    """The page's DOM once loaded (``--dump-dom``) and its console messages."""
    out, err, wall = _run(page, f"--window-size={width},{height}", "--dump-dom")
    return Rendered(out, CONSOLE.findall(err), wall)


def screenshot(page: Path, png: Path, width: int = 1400, height: int = 2600) -> list[str]:
    """Save a screenshot of the page's first ``height`` pixels as ``png``; return the console messages."""
    _, err, _ = _run(page, f"--window-size={width},{height}", f"--screenshot={png.resolve()}")
    return CONSOLE.findall(err)
