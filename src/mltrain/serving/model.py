"""A finished run as one torch module from raw feature columns to predictions, for ``mltrain export``.

    runs = load_run(Path("runs/fit/<run>"))                   # a k-fold parent: one per fold
    pres = [r.preprocessor for r in runs]
    serving = ServingModel(pres, [r.model for r in runs], runs[0].loss.task)   # the folds averaged
    probabilities, label = serving(numeric, onehot)

``numeric`` holds the run's numeric columns as float64 (NaN where a value is missing: the training
median fills it when the run imputed, else the NaN reaches the output); ``onehot`` holds each fold's
one-hot blocks of the categorical columns, side by side (``InputLayout`` says which). Inside: the saved
standardisation, the model, and the same outputs ``mltrain predict`` writes: class probabilities and the
class index for classifiers (the mean probability over folds), the value in the target's units for
regression (the mean over folds). The ONNX and TorchScript writers put the encoding of raw string
columns in front of it (``serving/onnx_export.py``, ``serving/torchscript_export.py``).
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mltrain.components.losses import BINARY, MULTICLASS
from mltrain.data.preprocessing import Preprocessor, normal_scores
from mltrain.errors import ConfigError


def output_names(task: str) -> list[str]:
    """The outputs of an exported model: class probabilities and index, or the predicted value."""
    return ["probabilities", "label"] if task in (MULTICLASS, BINARY) else ["prediction"]


@dataclass
class InputLayout:
    """Where the raw columns go: numeric ones into ``numeric``, categorical ones into ``onehot`` blocks.

    Attributes:
        features: every feature column, in the CSV's order.
        numeric: the numeric columns, in the order of ``numeric``'s columns.
        blocks: ``(column, categories)`` for each one-hot block of ``onehot``, fold after fold.
    """

    features: list[str]
    numeric: list[str]
    blocks: list[tuple[str, list[str]]]

    @classmethod
    def of(cls, pres: list[Preprocessor]) -> InputLayout:
        """The layout of the runs (folds) with these preprocessors; they share columns, not categories."""
        blocks = [(c, [str(v) for v in cats]) for p in pres for c, cats in p.categories.items() if cats]
        return cls(list(pres[0].features), list(pres[0].numeric), blocks)


class FoldPipeline(nn.Module):
    """One run's preprocessing (imputation, standardisation, imputed categories) and model."""

    def __init__(self, pre: Preprocessor, model: nn.Module) -> None:
        super().__init__()
        fill = [float(pre.fill.get(c, float("nan"))) for c in pre.numeric]
        self.register_buffer("fill", torch.tensor(fill, dtype=torch.float64))
        self.register_buffer("mean", torch.tensor(pre.mean, dtype=torch.float64).reshape(-1))
        self.register_buffer("scale", torch.tensor(pre.scale, dtype=torch.float64).reshape(-1))
        self.register_buffer("segments", _segments(list(pre.categories.values())))
        self.register_buffer("fill_onehot", _fill_onehot(pre.categories, pre.fill))
        self.width = sum(len(v) for v in pre.categories.values())
        self.impute_categories = any(c in pre.fill for c in pre.categories)
        self.quantile = QuantileMap(pre) if pre.quantiles else None
        # columns training read as float32 are rounded to float32 first, as Preprocessor.transform does: a
        # value must land exactly on its training quantile knot (a tie) to get the same normal score
        self.narrowed = bool(set(pre.float32))
        self.register_buffer("narrow", torch.tensor([c in set(pre.float32) for c in pre.numeric]))
        self.model = model

    def forward(self, numeric: Tensor, onehot: Tensor) -> Tensor:
        if self.narrowed:
            numeric = torch.where(self.narrow, numeric.float().double(), numeric)
        x = torch.where(torch.isnan(numeric), self.fill, numeric)
        if self.quantile is not None:
            x = self.quantile(x)
        x = ((x - self.mean) / self.scale).float()
        if self.impute_categories:  # a column with no category set (missing or unseen) gets the fill
            empty = (onehot @ self.segments == 0).float()
            onehot = onehot + empty @ self.fill_onehot
        return self.model(torch.cat([x, onehot], 1))


class QuantileMap(nn.Module):
    """``dataset.numeric=quantile`` as tensor operations ONNX and TorchScript keep: each column's
    piecewise-linear map from its training quantiles to normal scores (``preprocessing.quantile_normal``).

    Written as a sum of clamped ramps, one per stretch between two distinct knots, plus half steps where
    knots tie (a value at a tie gets the mean of its knots' scores, as ``quantile_normal`` gives it), so no
    search or gather: ``f(x) = s0 + sum(slope * clamp(x - knot, 0, width)) + sum(jump * step(x, knot))``.
    """

    def __init__(self, pre: Preprocessor) -> None:
        super().__init__()
        rows = [self._pieces(pre.quantiles[c]) for c in pre.numeric]
        m = max(len(r[1]) for r in rows)
        padded = [[*values, *[0.0] * (m - len(values))] for r in rows for values in r[1:]]
        n = len(rows)
        self.register_buffer("start", torch.tensor([r[0] for r in rows], dtype=torch.float64))
        self.register_buffer("knot", torch.tensor(padded[0::4], dtype=torch.float64).reshape(n, m))
        self.register_buffer("width", torch.tensor(padded[1::4], dtype=torch.float64).reshape(n, m))
        self.register_buffer("slope", torch.tensor(padded[2::4], dtype=torch.float64).reshape(n, m))
        self.register_buffer("jump", torch.tensor(padded[3::4], dtype=torch.float64).reshape(n, m))

    @staticmethod
    def _pieces(knots: list[float]) -> tuple[float, list[float], list[float], list[float], list[float]]:
        """``(s0, knot, width, slope, jump)``: a ramp (width > 0) or a half-step (jump) per stretch."""
        scores = normal_scores(len(knots)).tolist()
        if len(knots) == 1:
            return 0.0, [knots[0]], [0.0], [0.0], [0.0]
        knot, width, slope, jump = [], [], [], []
        for i in range(len(knots) - 1):
            w, rise = knots[i + 1] - knots[i], scores[i + 1] - scores[i]
            knot.append(knots[i])
            width.append(max(w, 0.0))
            slope.append(rise / w if w > 0 else 0.0)
            jump.append(0.0 if w > 0 else rise)
        return scores[0], knot, width, slope, jump

    def forward(self, x: Tensor) -> Tensor:
        d = x.unsqueeze(2) - self.knot  # (rows, columns, stretches)
        ramps = (self.slope * torch.minimum(torch.clamp(d, min=0.0), self.width)).sum(2)
        steps = (self.jump * 0.5 * ((d >= 0).double() + (d > 0).double())).sum(2)
        return torch.where(torch.isnan(x), x, self.start + ramps + steps)


class ServingModel(nn.Module):
    """Every fold's pipeline and the outputs ``mltrain predict`` writes, averaged over folds."""

    def __init__(self, pres: list[Preprocessor], models: list[nn.Module], task: str) -> None:
        super().__init__()
        self.multiclass, self.binary = task == MULTICLASS, task == BINARY  # TorchScript: no globals
        self.folds = nn.ModuleList(FoldPipeline(p, m) for p, m in zip(pres, models, strict=True))
        self.widths = [f.width for f in self.folds]
        regression = task not in (MULTICLASS, BINARY)
        means = [p.target_mean if regression else 0.0 for p in pres]
        scales = [p.target_scale if regression else 1.0 for p in pres]
        self.register_buffer("target_mean", torch.tensor(means, dtype=torch.float64))
        self.register_buffer("target_scale", torch.tensor(scales, dtype=torch.float64))
        self.outputs = output_names(task)

    def forward(self, numeric: Tensor, onehot: Tensor) -> list[Tensor]:
        raw: list[Tensor] = []
        start = 0
        for i, fold in enumerate(self.folds):
            raw.append(fold(numeric, onehot[:, start : start + self.widths[i]]))
            start += self.widths[i]
        if self.multiclass:
            p = torch.stack([o.softmax(1) for o in raw]).mean(0)
            return [p, p.argmax(1)]
        if self.binary:
            p1 = torch.stack([torch.sigmoid(o[:, 0]) for o in raw]).mean(0)
            label = raw[0][:, 0] > 0 if len(raw) == 1 else p1 > 0.5  # as predict decides
            return [torch.stack([1 - p1, p1], 1), label.long()]
        values = [o[:, 0].double() * self.target_scale[i] + self.target_mean[i] for i, o in enumerate(raw)]
        return [torch.stack(values).mean(0)]


class ExportInputs(nn.Module):
    """``forward(numeric, onehot)`` with either input left out when the run has no such column."""

    def __init__(self, serving: ServingModel, layout: InputLayout) -> None:
        super().__init__()
        self.serving = serving
        self.has_numeric, self.has_onehot = bool(layout.numeric), bool(layout.blocks)

    def forward(self, *inputs: Tensor) -> list[Tensor]:
        numeric = inputs[0] if self.has_numeric else inputs[0].new_zeros(inputs[0].shape[0], 0).double()
        onehot = inputs[-1] if self.has_onehot else inputs[0].new_zeros(inputs[0].shape[0], 0).float()
        return self.serving(numeric, onehot)

    def example(self, layout: InputLayout, rows: int = 2) -> tuple[Tensor, ...]:
        """Inputs of the right shapes and dtypes for tracing."""
        numeric = torch.zeros(rows, len(layout.numeric), dtype=torch.float64)
        onehot = torch.zeros(rows, sum(len(c) for _, c in layout.blocks))
        return (numeric,) * self.has_numeric + (onehot,) * self.has_onehot


def first_line(error: BaseException) -> str:
    """The first line of the innermost cause of ``error``, colour codes removed."""
    while error.__cause__ is not None:
        error = error.__cause__
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


@contextlib.contextmanager
def tracing(fmt: str, models: Iterable[nn.Module] = ()) -> Iterator[None]:
    """Around torch's tracing: its deprecation warnings silenced, and a ``TracerWarning`` (the model turns
    a tensor into a Python value, e.g. ``if x.mean() > 0:``, so the trace would keep one branch or one
    batch size) made a user error instead of a file that scores some rows wrongly.

    A module of ``models`` may name, in ``trace_shape_checks``, source files whose Python-value warnings
    are checks of the feature widths only, which a trace rightly keeps (``model=tabm``: the ``tabm`` and
    ``rtdl_num_embeddings`` modules check ``x.shape[-1]``); their warnings are let through.

    Raises:
        ConfigError: torch warned that the trace may be incorrect.
    """
    safe = {f for m in models for module in m.modules() for f in getattr(module, "trace_shape_checks", ())}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    unsafe = [w for w in caught if issubclass(w.category, torch.jit.TracerWarning) and w.filename not in safe]
    if unsafe:
        torch_says = str(unsafe[0].message).split(". ")[0]
        raise ConfigError(
            f"format={fmt}: torch cannot trace this model faithfully ({torch_says}): its forward turns a "
            "tensor into a Python value; write that step with tensor operations (torch.where) to export it"
        )


def _segments(categories: list[list[object]]) -> Tensor:
    """``[one-hot width, columns]``: 1 where a one-hot position belongs to a column."""
    width = sum(len(c) for c in categories)
    out = torch.zeros(width, len(categories))
    start = 0
    for j, cats in enumerate(categories):
        out[start : start + len(cats), j] = 1.0
        start += len(cats)
    return out


def _fill_onehot(categories: dict[str, list[object]], fill: dict[str, object]) -> Tensor:
    """``[columns, one-hot width]``: the one-hot of each column's imputed category (zeros if none)."""
    width = sum(len(c) for c in categories.values())
    out = torch.zeros(len(categories), width)
    start = 0
    for j, (column, cats) in enumerate(categories.items()):
        if column in fill and fill[column] in cats:
            out[j, start + cats.index(fill[column])] = 1.0
        start += len(cats)
    return out
