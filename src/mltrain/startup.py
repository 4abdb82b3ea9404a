"""No cyclic garbage collection while the ``mltrain`` command starts up: about 1.5 s less per run.

Importing torch (with ``torch._dynamo``, which every torch optimizer imports), pandas and Hydra creates
some 340,000 objects that live as long as the process, and CPython's collector walks all of them again at
each full collection: six of them during a one-epoch run, with 0.65 s spent inside collections (timed by
``gc.callbacks``; the process as a whole uses 1.5 s less CPU without them, a gap not explained yet).
The command turns the collector off when it starts and, once start-up is over, freezes what exists
(``gc.freeze``: later collections skip it) and turns it back on. Reference counting frees memory all
along; only garbage in reference cycles waits (at the freeze about 10,000 such objects, from imports and
data loading, which stay). Used by ``cli.py`` only: ``import mltrain`` from Python leaves the collector alone.

    defer_gc()        # cli.main, before Hydra and torch are imported
    end_of_startup()  # training_run.fit_rows as training begins; launch/runner.py before other commands' work

Measured with ``benchmarks/bench_startup.py --also before=<checkout without it>``: a one-epoch fit of a
2,400-row CSV took 4.33 s with the collector on and 2.84 s without (median of 7 interleaved runs), the
same files and numbers; a 500,000-row fit peaked at the same memory (``benchmarks/bench_data.py --fit``).
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
