"""Ctrl-C and SIGTERM held back while a group of files is written, so the files always agree.

    with held_interrupts():        # a signal that arrives in here is delivered when the block ends
        save_checkpoint(...); write_history(...); write_summary(...)

Outside such a block a signal interrupts at once, as usual (the epoch in flight is abandoned). This module
imports nothing of mltrain: every layer may use it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def held_interrupts() -> Iterator[None]:
    """Delay SIGINT and SIGTERM until the block ends, then deliver the first one that came.

    The process's own handlers stay in charge: they run when the block ends (Ctrl-C raises
    ``KeyboardInterrupt`` there). Outside the main thread, where Python cannot set handlers, the block
    runs unprotected.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        if received:
            signal.raise_signal(received[0])
