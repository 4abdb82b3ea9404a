"""mltrain: Hydra-composed PyTorch training runs from the shell. Run ``mltrain --help``.

From Python (notebooks, scripts), the same runs: ``run = mltrain.fit(optimizer="nadam")``,
``mltrain.load("runs/fit/<run>")``; see ``mltrain.api``. Nothing heavy is imported until one is used, so
the command starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Run", "UserError", "fit", "load"]

if TYPE_CHECKING:
    from mltrain.api import Run, fit, load
    from mltrain.errors import UserError

_LAZY = {"fit": "mltrain.api", "load": "mltrain.api", "Run": "mltrain.api", "UserError": "mltrain.errors"}


def __getattr__(name: str) -> Any:
    """``mltrain.fit`` and the rest, imported on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mltrain' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, "__version__"])
