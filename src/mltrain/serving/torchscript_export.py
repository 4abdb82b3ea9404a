"""A TorchScript file that scores raw columns: ``module(columns, categories) -> {output: tensor}``.

    module = torch.jit.load("model.torchscript.pt")
    module({"bill_length": torch.tensor([39.1, 47.5])}, {"island": ["Dream", "Biscoe"]})

``columns`` maps each numeric feature column to a float tensor of its values (NaN for a gap), ``categories``
maps each categorical column to a list of strings (an unseen or missing value sets no category). Each fold
model is traced, then the whole module scripted. This module has no ``from __future__ import annotations``:
TorchScript reads the annotations below as objects, and it knows typing's ``List``, not ``list[str]``.
"""

import json
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional  # noqa: UP035

import torch
from torch import Tensor, nn

from mltrain.data.preprocessing import Preprocessor
from mltrain.errors import ConfigError
from mltrain.files import atomic_file
from mltrain.serving.model import InputLayout, ServingModel, first_line, tracing


class TorchScriptInputs(nn.Module):
    """``forward(columns, categories)``: a dict of numeric column tensors and a dict of string lists."""

    numeric_names: List[str]  # noqa: UP006
    block_columns: List[str]  # noqa: UP006
    lookups: List[Dict[str, int]]  # noqa: UP006
    output_names: List[str]  # noqa: UP006

    def __init__(self, serving: ServingModel, layout: InputLayout) -> None:
        super().__init__()
        self.serving = serving
        self.numeric_names = list(layout.numeric)
        self.block_columns = [c for c, _ in layout.blocks]
        self.lookups = [{v: i for i, v in enumerate(cats)} for _, cats in layout.blocks]
        self.output_names = list(serving.outputs)

    def forward(
        self,
        columns: Dict[str, Tensor],  # noqa: UP006
        categories: Optional[Dict[str, List[str]]] = None,  # noqa: UP006, UP045
    ) -> Dict[str, Tensor]:  # noqa: UP006
        parts = [columns[c].reshape(-1, 1).double() for c in self.numeric_names]
        blocks: List[Tensor] = []  # noqa: UP006
        for i in range(len(self.block_columns)):  # TorchScript has no zip(strict=)
            column, lookup = self.block_columns[i], self.lookups[i]
            if categories is None:
                raise ValueError("this model needs categories={column name: [string values]}")
            codes = torch.tensor([lookup.get(v, -1) for v in categories[column]], dtype=torch.long)
            block = torch.zeros(codes.shape[0], len(lookup))
            known = torch.nonzero(codes >= 0).reshape(-1)
            block[known, codes[known]] = 1.0  # an unseen or missing value: no category set
            blocks.append(block)
        rows = parts[0].shape[0] if len(parts) > 0 else blocks[0].shape[0]
        numeric = torch.cat(parts, 1) if len(parts) > 0 else torch.zeros(rows, 0, dtype=torch.float64)
        onehot = torch.cat(blocks, 1) if len(blocks) > 0 else torch.zeros(rows, 0)
        results = self.serving(numeric, onehot)
        out: Dict[str, Tensor] = {}  # noqa: UP006
        for i, name in enumerate(self.output_names):
            out[name] = results[i]
        return out


def write_torchscript(
    pres: list[Preprocessor],
    models: list[nn.Module],
    task: str,
    layout: InputLayout,
    path: Path,
    metadata: dict[str, Any],
) -> None:
    """``torch.jit.script`` of the serving model (each fold's model traced first), with ``mltrain.json``.

    Raises:
        ConfigError: torch cannot trace or script the model (a custom model, say).
    """
    with tracing("torchscript", models):  # torch deprecates TorchScript in favour of torch.export
        try:
            traced = [
                torch.jit.trace(m, torch.zeros(2, p.n_features)) for p, m in zip(pres, models, strict=True)
            ]
            serving = ServingModel(pres, traced, task).requires_grad_(False)  # a server needs no gradients
            module = torch.jit.script(TorchScriptInputs(serving, layout).eval())
        except Exception as e:  # noqa: BLE001 - a custom model torch cannot trace or script
            problem = first_line(e)
            raise ConfigError(f"format=torchscript: torch could not script this model ({problem})") from e
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "wb") as f, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(module, f, _extra_files={"mltrain.json": json.dumps(metadata)})
