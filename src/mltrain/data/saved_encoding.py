"""``preprocessing.json`` read back: each field checked against what ``Preprocessor.fit`` writes.

    problem = encoding_problem(state, required, optional)   # None, or "scale[0] is 0.0; ..."

A run directory is data from anyone (a colleague's, a download, a CI artifact): a zero or non-finite
``scale`` would make every prediction NaN, a list one entry short would index past its end. Each check
names the field, the bad value and what ``fit`` writes there; ``Preprocessor.from_dict`` raises it as
:class:`mltrain.files.DamagedFile` and the reader names the file.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

SCALAR = (str, int, float, bool)  # what a category or class label can be in JSON


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def encoding_problem(state: Any, required: Collection[str], optional: Collection[str]) -> str | None:
    """The first way ``state`` differs from what ``fit`` writes, or ``None``.

    Args:
        state: the parsed JSON.
        required: the fields every file has.
        optional: the fields a file of an older mltrain may lack.
    """
    if not isinstance(state, dict):
        return f"it holds a JSON {type(state).__name__}, not an object"
    missing = [k for k in required if k not in state]
    unknown = [k for k in state if k not in required and k not in optional]
    if missing or unknown:
        return f"fields missing: {missing or 'none'}, unknown: {unknown or 'none'}"
    for check in (_columns, _scaling, _quantiles, _fill, _labels):
        problem = check(state)
        if problem:
            return problem
    return None


def _names(value: Any) -> bool:
    """A list of distinct column names."""
    return (
        isinstance(value, list) and all(isinstance(v, str) for v in value) and len(set(value)) == len(value)
    )


def _columns(state: dict[str, Any]) -> str | None:
    features, numeric, categories = state["features"], state["numeric"], state["categories"]
    if not _names(features) or not features:
        return f"features={features!r} must be a non-empty list of distinct column names"
    if not _names(numeric):
        return f"numeric={numeric!r} must be a list of distinct column names"
    if not isinstance(categories, dict) or not all(
        isinstance(v, list) and v and all(isinstance(c, SCALAR) for c in v) for v in categories.values()
    ):
        return "categories must map each categorical column to a non-empty list of its categories"
    if sorted(numeric + list(categories)) != sorted(features) or set(numeric) & set(categories):
        return (
            f"numeric {numeric} and categories {list(categories)} must split features {features} between them"
        )
    narrowed = state.get("float32", [])
    if not _names(narrowed) or not set(narrowed) <= set(numeric):
        return f"float32={narrowed!r} must list numeric columns"
    return None


def _scaling(state: dict[str, Any]) -> str | None:
    numeric = state["numeric"]
    for key in ("mean", "scale"):
        values = state[key]
        if not isinstance(values, list) or len(values) != len(numeric):
            return f"{key} must hold one number per numeric column ({len(numeric)}), got {values!r}"
        for j, v in enumerate(values):  # null: a column without values, reported by the reader
            if v is not None and not (is_number(v) and (key == "mean" or v > 0)):
                what = "a finite number" if key == "mean" else "a finite number > 0"
                return f"{key}[{j}] (column {numeric[j]!r}) is {v!r}; fit writes {what}"
    return None


def _quantiles(state: dict[str, Any]) -> str | None:
    """``scaling`` (``dataset.numeric``) and, for ``quantile``, each numeric column's knots."""
    scaling, knots = state.get("scaling", "standard"), state.get("quantiles", {})
    if scaling not in ("standard", "robust", "quantile"):
        return f"scaling={scaling!r} must be standard, robust or quantile"
    if not isinstance(knots, dict):
        return f"quantiles={knots!r} must map numeric columns to their quantiles"
    if (scaling == "quantile") != bool(knots) and state["numeric"]:
        return "quantiles must be given for every numeric column when, and only when, scaling is quantile"
    if knots and sorted(knots) != sorted(state["numeric"]):
        return f"quantiles has columns {sorted(knots)}; it must have the numeric columns {state['numeric']}"
    for column, values in knots.items():
        if (
            not isinstance(values, list)
            or not values
            or not all(is_number(v) for v in values)
            or any(b < a for a, b in zip(values, values[1:], strict=False))
        ):
            return f"quantiles[{column!r}] must be a non-empty list of finite numbers in increasing order"
    return None


def _fill(state: dict[str, Any]) -> str | None:
    fill, categories = state["fill"], state["categories"]
    if not isinstance(fill, dict):
        return f"fill={fill!r} must map imputed columns to their fill values"
    for column, value in fill.items():
        if column in categories and value not in categories[column]:
            return f"fill[{column!r}]={value!r} is none of the column's categories"
        if column not in categories and (column not in state["numeric"] or not is_number(value)):
            return f"fill[{column!r}]={value!r} must be a finite number for a numeric feature column"
    return None


def _labels(state: dict[str, Any]) -> str | None:
    classes, target = state["classes"], state["target"]
    if not isinstance(target, str):
        return f"target={target!r} must be the target column's name"
    mean, scale = state.get("target_mean"), state.get("target_scale")
    if classes is None:
        if not is_number(mean) or not is_number(scale) or scale <= 0:
            return (
                f"target_mean={mean!r} and target_scale={scale!r} must be finite numbers (scale > 0) "
                "for a regression run"
            )
        return None
    distinct = {(type(c).__name__, c) for c in classes} if isinstance(classes, list) else set()
    if (
        not isinstance(classes, list)
        or not classes
        or not all(isinstance(c, SCALAR) for c in classes)
        or (len(distinct) != len(classes))
    ):
        return f"classes={classes!r} must be a non-empty list of distinct labels (or null for regression)"
    if mean is not None or scale is not None:
        return "target_mean and target_scale must be null for a classifier"
    return None
