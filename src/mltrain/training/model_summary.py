"""The model summary a fit prints as it starts and records in ``summary.json`` (``"model"``).

    summary = model_summary(model, data.train.x[:2])   # layers, output shapes, parameter counts, bytes
    print("\\n".join(summary_lines(summary)))

The layers are the model's leaf modules (those with no submodules) in the order they first ran on a
two-row sample, with their output shapes (``-1`` is the batch) and their own parameters; a module that
runs twice is listed once, with its first output. The sample runs in eval mode with no gradient: dropout
draws no random numbers, batch-norm statistics do not move, so the fit that follows is unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


def model_summary(model: nn.Module, sample: Tensor) -> dict[str, Any]:
    """``{"layers": [...], "trainable_parameters", "total_parameters", "size_bytes"}`` of ``model``.

    ``size_bytes`` counts parameters and buffers (batch-norm statistics) at their dtypes: the size of the
    weights in ``model.pt``, without the file's own overhead.
    """
    seen: dict[str, dict[str, Any]] = {}
    handles = []
    leaves = [(name, m) for name, m in model.named_modules() if not any(True for _ in m.children())]
    for name, module in leaves:

        def hook(module: nn.Module, args: Any, out: Any, name: str = name) -> None:
            if name not in seen and isinstance(out, Tensor):
                seen[name] = {
                    "name": name or type(module).__name__,
                    "type": type(module).__name__,
                    "output_shape": [-1, *out.shape[1:]],
                    "parameters": sum(p.numel() for p in module.parameters(recurse=False)),
                }

        handles.append(module.register_forward_hook(hook))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(sample)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    params = list(model.parameters())
    return {
        "layers": list(seen.values()),
        "trainable_parameters": sum(p.numel() for p in params if p.requires_grad),
        "total_parameters": sum(p.numel() for p in params),
        "size_bytes": sum(t.numel() * t.element_size() for t in [*params, *model.buffers()]),
    }


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The summary as a table: one line per layer, then the totals."""
    rows = [("layer", "type", "output shape", "parameters")]
    rows += [(layer["name"], layer["type"], str(tuple(layer["output_shape"])), f"{layer['parameters']:,}")
             for layer in summary["layers"]]  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        f"  {a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d:>{widths[3]}}" for a, b, c, d in rows
    ]
    lines.append(
        f"  {summary['trainable_parameters']:,} trainable / {summary['total_parameters']:,} parameters, "
        f"{summary['size_bytes']:,} bytes"
    )
    return lines
