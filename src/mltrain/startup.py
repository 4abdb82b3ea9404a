"""No cyclic garbage collection while the ``mltrain`` command starts up: about 1 s less per run.

Importing torch (with ``torch._dynamo``, which every torch optimizer imports), pandas and Hydra creates
some 340,000 objects that live as long as the process, and CPython's collector walks all of them again at
each full collection: six of them during a one-epoch run, 0.9 s of CPU time (1.2 s with the young
generations), a quarter of the whole run. The command turns the collector off when it starts and, once
start-up is over, freezes what exists (``gc.freeze``: later collections skip it) and turns it back on.
Reference counting frees memory all along; only garbage in reference cycles waits (at the freeze about
17,000 such objects from imports, a few MB, which stay). Used by ``cli.py`` only: ``import mltrain``
from Python leaves the collector alone.

    defer_gc()        # cli.main, before Hydra and torch are imported
    end_of_startup()  # Trainer.fit as training begins (and cli.py for commands that do not train)
"""

from __future__ import annotations

import gc

_state = {"deferred": False}  # whether defer_gc turned the collector off and end_of_startup is pending


def defer_gc() -> None:
    """Turn the cyclic garbage collector off until :func:`end_of_startup` (once per process)."""
    if gc.isenabled() and not _state["deferred"]:
        gc.disable()
        _state["deferred"] = True


def end_of_startup() -> None:
    """After :func:`defer_gc`: freeze the start-up objects and turn the collector back on; else nothing."""
    if _state["deferred"]:
        _state["deferred"] = False
        gc.freeze()
        gc.enable()
