"""The memory check counts an address-space limit (``ulimit -v``); running out of memory while the data is
read or checked is one line naming the file and the limit (issue 19).

    python -m pytest tests/data/test_memory.py -q   # limit reader monkeypatched; a real RLIMIT_AS in children
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mltrain.data import memory, tables
from mltrain.data.datasets import DATASETS
from mltrain.errors import DataError

GIB = 1 << 30


@pytest.fixture
def small_csv(tmp_path: Path) -> Path:
    path = tmp_path / "small.csv"
    path.write_text("a,b,y\n" + "".join(f"{i},{i % 7},{i % 2}\n" for i in range(50)))
    return path


def limited(monkeypatch: pytest.MonkeyPatch, limit: int, left: int) -> None:
    monkeypatch.setattr(memory, "address_space_limit", lambda: limit)
    monkeypatch.setattr(memory, "address_space_left", lambda: left)
    monkeypatch.delenv(memory.BUDGET_ENV, raising=False)


def test_the_address_space_limit_caps_the_budget(monkeypatch: pytest.MonkeyPatch, small_csv: Path) -> None:
    limited(monkeypatch, 2 * GIB, GIB // 2)  # far below any machine's MemAvailable

    assert memory.budget() == (GIB // 2, "the address-space limit (ulimit -v) of 2.0 GiB leaves 0.5 GiB")
    with pytest.raises(DataError) as error:  # the estimate's fixed 1 GiB alone is past the limit
        DATASETS.get("csv")(path=str(small_csv), target="y")
    assert str(error.value).startswith(
        f"dataset.path={small_csv} (about 50 rows x 3 columns) needs about 1.0 GiB"
    )
    assert "the address-space limit (ulimit -v) of 2.0 GiB leaves 0.5 GiB" in str(error.value)


def test_no_limit_leaves_the_budget_to_the_memory_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "available_bytes", lambda: 3 * GIB)
    monkeypatch.setattr(memory, "address_space_limit", lambda: None)
    monkeypatch.setattr(memory, "address_space_left", lambda: None)
    monkeypatch.delenv(memory.BUDGET_ENV, raising=False)

    assert memory.budget() == (3 * GIB, "3.0 GiB is available")


def test_memory_error_while_reading_names_the_file_and_the_limit(
    monkeypatch: pytest.MonkeyPatch, small_csv: Path
) -> None:
    limited(monkeypatch, 8 * GIB, 4 * GIB)

    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(tables, "read_table", out_of_memory)
    with pytest.raises(DataError) as error:
        DATASETS.get("csv")(path=str(small_csv), target="y")
    assert str(error.value) == (
        f"dataset.path={small_csv}: ran out of memory while reading it (the address-space limit (ulimit -v) "
        "of 8.0 GiB leaves 4.0 GiB); use a sample of the rows, fewer columns (dataset.features), "
        "or raise the limit"
    )


def test_the_limit_is_read_from_the_process() -> None:
    """The real reader, in a child whose RLIMIT_AS is set (a limit cannot be raised again in this process)."""
    code = textwrap.dedent("""
        import resource
        from mltrain.data import memory
        assert memory.address_space_limit() is None or memory.address_space_limit() > 0
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, resource.RLIM_INFINITY))
        left = memory.address_space_left()
        print(memory.address_space_limit(), 0 < left < 3 << 30, memory.budget_bytes() <= left)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == [str(3 << 30), "True", "True"], done.stderr


def test_a_fit_under_ulimit_v_is_refused_in_one_line(small_csv: Path, tmp_path: Path) -> None:
    """``mltrain fit`` with RLIMIT_AS 600 MiB above the size of a process that has imported torch: before,
    the check saw only MemAvailable and the fit ran into the limit; now it is refused before reading."""
    code = textwrap.dedent(f"""
        import resource, sys, torch
        size = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (size + (600 << 20), resource.RLIM_INFINITY))
        from mltrain import cli
        cli.main(["fit", "dataset=csv", "dataset.path={small_csv}", "dataset.target=y", "loss=bce",
                  "trainer.epochs=1", "hydra.run.dir={tmp_path / "run"}"])
    """)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "dataset.path=" in line and "address-space limit (ulimit -v)" in line, line
