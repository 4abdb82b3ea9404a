"""``mltrain export``: a finished run as one file to serve without mltrain, preprocessing included.

    mltrain export run=runs/fit/<run> format=onnx [output=model.onnx]
    mltrain export run=runs/fit/<run> format=torchscript

The file takes the raw feature columns (by their CSV names) and returns what ``mltrain predict`` writes:
``probabilities`` and ``label`` (the class index into ``classes``) for classifiers, ``prediction`` (in the
target's units) for regression. The saved imputation, standardisation and one-hot encoding are inside;
a k-fold parent exports the mean of its fold models. The run's classes, features and outputs are stored
in the file (ONNX metadata ``mltrain``; TorchScript extra file ``mltrain.json``).
"""

from __future__ import annotations

import logging
from importlib import metadata
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from mltrain.errors import ConfigError, choice_problem
from mltrain.serving.model import InputLayout, ServingModel, output_names
from mltrain.serving.outputs import check_output
from mltrain.serving.saved_model import SavedRun, load_run
from mltrain.status import COMPLETED

log = logging.getLogger(__name__)

FORMATS = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt"}  # format -> default file name


def run(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """Write ``cfg.run``'s model in ``cfg.format`` to ``cfg.output`` (default: ``out_dir/model.onnx``).

    Returns:
        ``{"status": "completed", "format": ..., "output": path, "models": n}``.

    Raises:
        ConfigError: a missing key or run, an unknown format, the export extra missing (onnx).
    """
    if OmegaConf.is_missing(cfg, "run"):
        raise ConfigError("run is required, e.g. mltrain export run=runs/fit/<run> format=onnx")
    if cfg.format not in FORMATS:
        raise ConfigError(choice_problem("format", cfg.format, FORMATS))
    if cfg.output:
        check_output(Path(cfg.output), [])  # before anything is read or written
    if cfg.format == "onnx":
        from mltrain.serving.onnx_export import require

        require("onnx")  # before loading the run: the missing extra is the first thing to fix
    runs = load_run(Path(cfg.run), bool(cfg.get("trust_code", False)))
    pres, models, task = [r.preprocessor for r in runs], [r.model for r in runs], runs[0].loss.task
    layout = InputLayout.of(pres)
    output = Path(cfg.output) if cfg.output else Path(out_dir) / FORMATS[cfg.format]
    metadata = describe(runs, layout, str(cfg.run))
    if cfg.format == "onnx":
        from mltrain.serving.onnx_export import write_onnx

        write_onnx(ServingModel(pres, models, task), layout, output, metadata)
    else:
        from mltrain.serving.torchscript_export import write_torchscript

        write_torchscript(pres, models, task, layout, output, metadata)
    inputs = layout.features if len(layout.features) <= 6 else [*layout.features[:5], "..."]
    log.info("%s of %s: %d model(s), %d input columns (%s), outputs %s -> %s", cfg.format, cfg.run, len(runs),
             len(layout.features), ", ".join(inputs), ", ".join(metadata["outputs"]), output)  # fmt: skip
    return {"status": COMPLETED, "format": cfg.format, "output": str(output), "models": len(runs)}


def describe(runs: list[SavedRun], layout: InputLayout, run_dir: str) -> dict[str, Any]:
    """What a server needs to know, stored inside the file: inputs, outputs, classes."""
    pre = runs[0].preprocessor
    return {
        "run": run_dir,
        "models": len(runs),
        "task": runs[0].loss.task,
        "numeric": layout.numeric,
        "categorical": {c: [str(v) for v in cats] for c, cats in pre.categories.items()},
        "features": layout.features,
        "imputed": sorted(pre.fill),
        "outputs": output_names(runs[0].loss.task),
        "classes": pre.classes,
        "target": pre.target,
        "mltrain": metadata.version("mltrain"),
    }
