"""``mltrain predict``: a finished run's predictions for the rows of a raw CSV or Parquet file, in chunks.

    mltrain predict run=runs/fit/<run> input=new.csv output=preds.csv id=name
    mltrain predict run=runs/fit/<run> input=new.parquet output=preds.csv

The output has the ``id`` column (when given), ``prediction`` (the label in the data's own names, or the
value in the target's units) and, for classifiers, ``prob_<class>`` per class. A k-fold parent directory
predicts with the mean probability (or value) of its fold models.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from mltrain.data.columns import UnseenCategories
from mltrain.data.tables import is_parquet
from mltrain.errors import ConfigError, DataError
from mltrain.files import atomic_file
from mltrain.serving.inputs import input_chunks
from mltrain.serving.outputs import check_output
from mltrain.serving.saved_model import SavedRun, check_frame, ensemble_outputs, load_run, to_original_units
from mltrain.status import COMPLETED

log = logging.getLogger(__name__)


def run(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """Write the predictions of ``cfg.run``'s model for ``cfg.input`` to ``cfg.output``.

    Returns:
        ``{"status": "completed", "rows": n, "output": path}``.

    Raises:
        ConfigError, DataError: a missing key or file, a missing column, an unseen category.
    """
    required = [k for k in ("run", "input", "output") if OmegaConf.is_missing(cfg, k)]
    if required:
        raise ConfigError([f"{k} is required, e.g. mltrain predict {k}=..." for k in required])
    if isinstance(cfg.chunksize, bool) or not isinstance(cfg.chunksize, int) or cfg.chunksize < 1:
        raise ConfigError(
            f"chunksize={cfg.chunksize} must be a whole number of rows >= 1, e.g. chunksize=10000"
        )
    output = Path(cfg.output)
    if is_parquet(output):
        raise ConfigError(f"output={output}: predict writes CSV; name a .csv file, e.g. output=preds.csv")
    check_output(output, [Path(cfg.input)])  # before anything is read or written
    runs = load_run(Path(cfg.run), bool(cfg.get("trust_code", False)))
    source = f"input={cfg.input}"
    chunks = input_chunks(Path(cfg.input), runs[0], cfg.chunksize, source, [cfg.id] if cfg.id else [])
    if output.is_dir():
        raise ConfigError(
            f"output={output} is a directory; name the CSV file to write, e.g. output=preds.csv"
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    rows, unseen = 0, UnseenCategories(source)
    with atomic_file(output) as f:  # an error in a later chunk leaves an existing output file as it was
        for i, chunk in enumerate(chunks):
            frame = predict_frame(runs, chunk, cfg.id, source, unseen)
            frame.to_csv(f, header=i == 0, index=False, lineterminator="\n")
            rows += len(frame)
    unseen.warn()  # one line per column for the whole file
    log.info("%d predictions from %d model(s) of %s -> %s", rows, len(runs), cfg.run, output)
    return {"status": COMPLETED, "rows": rows, "output": str(output)}


def predict_frame(
    runs: list[SavedRun], chunk: pd.DataFrame, id_column: str | None, source: str,
    unseen: UnseenCategories | None = None,
) -> pd.DataFrame:  # fmt: skip
    """The output rows for one chunk of raw input rows.

    Rows with categories the model never saw are counted into ``unseen`` (the caller warns once for
    every chunk); without it, the warning is logged here.
    """
    if id_column is not None and id_column not in chunk.columns:
        raise DataError(f"id={id_column}: {source} has no column {id_column!r}")
    for r in runs:
        check_frame(r.preprocessor, chunk, source)
    tally = unseen or UnseenCategories(source)
    tally.add(chunk, [r.preprocessor.categories for r in runs])
    if unseen is None:
        tally.warn()
    out = pd.DataFrame({id_column: chunk[id_column].to_numpy()} if id_column else {})
    raw = ensemble_outputs(runs, chunk)
    loss, classes = runs[0].loss, runs[0].classes
    if classes is None:
        values = to_original_units(runs[0], raw)
        out["prediction"] = values[:, 0]
        return out
    labels = loss.labels(raw).numpy()
    out["prediction"] = [classes[i] for i in labels]
    probabilities = loss.probabilities(raw).numpy()
    for j, name in enumerate(classes):
        out[f"prob_{name}"] = probabilities[:, j]
    return out
