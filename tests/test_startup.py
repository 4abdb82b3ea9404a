"""The command starts up without cyclic GC; the collector is back on (start-up objects frozen) when
training begins, and a library user's collector is left alone.

python -m pytest tests/test_startup.py -q
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mltrain import startup


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    yield
    startup._state["deferred"] = False
    gc.enable()


def test_deferred_until_the_end_of_start_up_then_frozen_and_on() -> None:
    frozen = gc.get_freeze_count()
    startup.defer_gc()
    assert not gc.isenabled()
    [object() for _ in range(10)]

    startup.end_of_startup()

    assert gc.isenabled()
    assert gc.get_freeze_count() > frozen  # what start-up built is skipped by later collections
    gc.unfreeze()


def test_a_collector_turned_off_by_its_user_stays_off() -> None:
    gc.disable()  # the user's own choice: defer_gc does not take it over, end_of_startup does not undo it
    startup.defer_gc()
    startup.end_of_startup()
    assert not gc.isenabled()


def test_the_command_trains_with_the_collector_on_and_ends_with_it_on(tmp_path: Path) -> None:
    """Through cli.main in a fresh interpreter: off while starting up, on from the first epoch."""
    probe = (
        "import gc, json\n"
        "from mltrain import cli\n"
        "from mltrain.training.callbacks import base as callbacks\n"
        "seen = []\n"
        "callbacks.Callback.on_fit_begin = lambda self, trainer: seen.append(gc.isenabled())\n"
        "callbacks.Callback.on_epoch_begin = lambda self, trainer, epoch: seen.append(gc.isenabled())\n"
        "try:\n"
        "    cli.main(['fit', 'dataset=iris', 'trainer.epochs=2', 'hydra.run.dir=run'])\n"
        "finally:\n"
        "    print(json.dumps({'seen': seen, 'after': gc.isenabled(), 'frozen': gc.get_freeze_count()}))\n"
    )
    result = run_probe(probe, tmp_path)

    assert result["seen"] and set(result["seen"]) == {True} and result["after"] is True
    assert result["frozen"] > 100_000  # torch, pandas and Hydra's objects
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "completed"


def test_a_refused_command_ends_with_the_collector_on(tmp_path: Path) -> None:
    probe = (
        "import gc, json\n"
        "from mltrain import cli\n"
        "try:\n"
        "    cli.main(['fit', 'optimizer=adamm', 'hydra.run.dir=run'])\n"
        "except SystemExit as e:\n"
        "    print(json.dumps({'status': e.code, 'on': gc.isenabled()}))\n"
    )
    assert run_probe(probe, tmp_path) == {"status": 2, "on": True}


def run_probe(code: str, cwd: Path) -> dict:
    """Run ``code`` in a fresh interpreter; the JSON object its last line of output prints."""
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.stdout.strip(), done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
