"""An ONNX file that scores the raw columns of a CSV, one graph input per feature column.

    write_onnx(ServingModel(runs), InputLayout.of(runs), Path("model.onnx"), metadata)

torch's TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``) writes the graph of
:class:`ServingModel` with two inputs: the numeric columns as one float64
matrix and the one-hot blocks as one float32 matrix. This module then puts the raw columns in front:
numeric columns (float64, shape ``[rows, 1]``) are concatenated, categorical columns (strings, shape
``[rows, 1]``) one-hot encoded by ONNX-ML's ``OneHotEncoder`` with the categories of the training rows,
so onnxruntime takes a CSV's columns as they are.

Why not ``dynamo=True``, torch's default since 2.9: on this project's 2-core machine it took 1 to 3 s per
model against 0.04 s, it needs the ``onnxscript`` package, and torch 2.3 and 2.4 (which mltrain supports)
do not have it. torch 2.9+ deprecates the TorchScript-based exporter; when it is removed, ``_export`` is
the one function to change (``dynamo=True, dynamic_shapes=...``, then ``program.model_proto``).
"""

from __future__ import annotations

import importlib.util
import inspect
import io
import json
from pathlib import Path
from typing import Any

import torch

from mltrain.errors import ConfigError
from mltrain.files import atomic_file
from mltrain.serving.model import ExportInputs, InputLayout, ServingModel, first_line, tracing

NUMERIC, ONEHOT = "mltrain/numeric", "mltrain/onehot"  # internal names, never a CSV column's
EXTRA = 'pip install -e ".[export]"'
OPSET = 17  # ONNX opset of the graph (torch 2.3's exporter writes up to 17; onnxruntime >= 1.14 runs it)


def require(*packages: str) -> None:
    """Raise a user error naming the extra when a package of the ``export`` extra is missing."""
    missing = [p for p in packages if importlib.util.find_spec(p) is None]
    if missing:
        raise ConfigError(
            f"format=onnx needs the package(s) {', '.join(missing)} of the export extra; install them with "
            f"{EXTRA} (or pip install 'mltrain[export]')"
        )


def write_onnx(serving: ServingModel, layout: InputLayout, path: Path, metadata: dict[str, Any]) -> None:
    """Export ``serving`` with raw-column inputs to ``path`` (written to a temporary file, then renamed).

    Raises:
        ConfigError: a package of the export extra is missing, a column shares an output's name, or
            torch cannot export the model (a custom model with Python control flow, say).
    """
    require("onnx")
    import onnx

    clash = sorted(set(layout.features) & set(serving.outputs))
    if clash:
        raise ConfigError(f"format=onnx: feature column(s) {clash} share an output's name; rename them")
    model = _export(serving, layout)
    _raw_column_inputs(model, layout)
    model.producer_name = "mltrain"
    onnx.helper.set_model_props(model, {"mltrain": json.dumps(metadata)})
    onnx.checker.check_model(model, full_check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "wb") as f:
        f.write(model.SerializeToString())


def _export(serving: ServingModel, layout: InputLayout) -> Any:
    """The ``ModelProto`` of torch's export, inputs ``mltrain/numeric`` and/or ``mltrain/onehot``."""
    import onnx

    wrapper = ExportInputs(serving, layout).eval()
    example = wrapper.example(layout)
    names = [NUMERIC] * wrapper.has_numeric + [ONEHOT] * wrapper.has_onehot
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    buffer = io.BytesIO()
    with tracing("onnx", [serving]), torch.no_grad():  # torch >= 2.9 warns that this exporter is deprecated
        try:
            torch.onnx.export(
                wrapper, example, buffer, input_names=names, output_names=list(serving.outputs),
                dynamic_axes={n: {0: "rows"} for n in [*names, *serving.outputs]}, opset_version=OPSET,
                **legacy,
            )  # fmt: skip
        except Exception as e:  # noqa: BLE001 - torch's many export errors: the model cannot be exported
            raise ConfigError(
                f"format=onnx: torch could not export this model ({first_line(e)}); try format=torchscript"
            ) from e
    return onnx.load_from_string(buffer.getvalue())


def _raw_column_inputs(model: Any, layout: InputLayout) -> None:
    """Replace the matrix inputs by one input per feature column, in the CSV's order."""
    from onnx import TensorProto, helper

    graph = model.graph
    for value in [v for v in graph.input if v.name in (NUMERIC, ONEHOT)]:
        graph.input.remove(value)
    nodes = []
    if layout.numeric:
        nodes.append(helper.make_node("Concat", layout.numeric, [NUMERIC], axis=1))
    if layout.blocks:
        parts = []
        for i, (column, categories) in enumerate(layout.blocks):
            parts.append(f"mltrain/onehot_{i}")
            nodes += [
                helper.make_node("OneHotEncoder", [column], [f"{parts[-1]}_3d"], domain="ai.onnx.ml",
                                 cats_strings=categories, zeros=1),  # unseen or missing: all zeros
                helper.make_node("Flatten", [f"{parts[-1]}_3d"], [parts[-1]], axis=1),
            ]  # fmt: skip
        nodes.append(helper.make_node("Concat", parts, [ONEHOT], axis=1))
        if not any(op.domain == "ai.onnx.ml" for op in model.opset_import):
            model.opset_import.append(helper.make_opsetid("ai.onnx.ml", 1))
    for node in reversed(nodes):
        graph.node.insert(0, node)
    for column in layout.features:
        kind = TensorProto.DOUBLE if column in layout.numeric else TensorProto.STRING
        graph.input.append(helper.make_tensor_value_info(column, kind, ["rows", 1]))
