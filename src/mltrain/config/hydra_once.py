"""Compose the config once per run, not twice: skip Hydra's composition that only reads ``hydra.mode``.

``@hydra.main`` composes the whole config twice for every run: first in ``Hydra.get_mode``, only to read
``hydra.mode`` (``RUN`` or ``MULTIRUN``, set by an override or by a config file that names it), then
again for the job. When the command line cannot set ``hydra.mode`` -- no ``hydra.mode`` override and no
config directory or primary config of the user's own (``-cd``, ``-cp``, ``-cn``), since no file in
``mltrain.conf`` sets it (``tests/test_hydra_once.py`` checks) -- the first composition's answer is known
in advance: none, and Hydra goes by ``-m``/``--multirun`` as it would after composing.

    with one_composition(sys.argv[1:]):   # in cli.py, around the call of the @hydra.main app
        app()
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

CONFIG_FLAGS = ("-cd", "--config-dir", "-cp", "--config-path", "-cn", "--config-name")


def mode_is_unset(args: list[str]) -> bool:
    """``True`` when neither an override nor a config file of the user's own can set ``hydra.mode``."""
    for arg in args:
        flag = arg.split("=", 1)[0]
        if flag in CONFIG_FLAGS or "hydra.mode" in arg or flag.startswith("--experimental"):
            return False
    return True


@contextlib.contextmanager
def one_composition(args: list[str]) -> Iterator[bool]:
    """While open, ``Hydra.get_mode`` answers ``None`` without composing, when ``mode_is_unset(args)``.

    Yields:
        Whether the probe is skipped.
    """
    if not mode_is_unset(args):
        yield False
        return
    from hydra._internal.hydra import Hydra

    probe = Hydra.get_mode
    Hydra.get_mode = _no_mode
    try:
        yield True
    finally:
        Hydra.get_mode = probe


def _no_mode(self: Any, config_name: str | None, overrides: list[str]) -> None:
    return None  # what composing would find: no hydra.mode in mltrain's configs or on the command line
