"""What differs between two runs: config keys, data, code, command line, versions and final metrics.

    for section, rows in differences(a, b): ...    # rows: (key, value in a, value in b)

Both runs are read back by ``reporting/records.py`` (plain JSON and YAML, nothing resolved or imported).
A key one run has and the other lacks is shown as ``-`` on the side that lacks it.
"""

from __future__ import annotations

from typing import Any

from mltrain.reporting.provenance import flat_facts, shown
from mltrain.reporting.records import RunRecord

SECTIONS = ("config", "data", "code", "command", "versions", "metrics")
IGNORED = ("started_at", "finished_at", "resumed_at")  # times: always differ, not an input


def flat_config(config: Any, prefix: str = "") -> dict[str, str]:
    """A config as ``{"optimizer.lr": "0.001", "model.hidden": "[64, 64]", ...}``, leaves only."""
    if not isinstance(config, dict):
        return {prefix.rstrip("."): shown(config)} if prefix else {}
    flat: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat |= flat_config(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = shown(value)
    return flat


def metric_values(run: RunRecord) -> dict[str, str]:
    """The run's status, objective, best epoch and best-epoch metrics (k-fold: the folds' means)."""
    keep = {k: v for k, v in run.numbers.items() if k not in ("message", "wall_time_s")}
    return {k: _number(v) for k, v in keep.items() if v is not None}


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return shown(value)


def sections(run: RunRecord) -> dict[str, dict[str, str]]:
    """One run's comparable values, by section (see :data:`SECTIONS`)."""
    facts = flat_facts(run)
    by_prefix = {"data": "data.", "code": "code.", "versions": "versions."}
    found = {name: {k.removeprefix(p): v for k, v in facts.items() if k.startswith(p)}
             for name, p in by_prefix.items()}  # fmt: skip
    found["versions"] |= {k: facts[k] for k in ("python", "platform") if k in facts}
    found["command"] = {"command": facts["command"]} if "command" in facts else {}
    found["config"] = flat_config(run.config)
    found["metrics"] = metric_values(run)
    return {name: found[name] for name in SECTIONS}


def differences(a: RunRecord, b: RunRecord) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """Per section, the keys whose value differs: ``(key, a's value, b's value)``, ``-`` for absent."""
    left, right = sections(a), sections(b)
    found = []
    for name in SECTIONS:
        keys = list(dict.fromkeys([*left[name], *right[name]]))
        rows = [(k, left[name].get(k, "-"), right[name].get(k, "-")) for k in keys]
        found.append((name, [r for r in rows if r[1] != r[2] and r[0] not in IGNORED]))
    return found


def diff_lines(a: RunRecord, b: RunRecord, width: int = 100) -> list[str]:
    """The differences as printed: ``a:``/``b:`` naming the runs, then each section's differing keys
    as ``key  a-value  b-value`` (or ``same``); a pair too long for ``width`` on two lines, ``a:``, ``b:``."""
    lines = [f"a: {shown(a.name)}", f"b: {shown(b.name)}"]
    for name, rows in differences(a, b):
        if not rows:
            recorded = any(sections(r)[name] for r in (a, b))
            lines.append(f"{name}: {'same' if recorded else 'not recorded'}")
            continue
        lines.append(f"{name}: {len(rows)} differ{'s' if len(rows) == 1 else ''}")
        key_width = min(max(len(k) for k, _, _ in rows), 40)
        room = max(12, (width - key_width - 6) // 2)
        for key, left, right in rows:
            if max(len(left), len(right)) <= room:
                lines.append(f"  {key:<{key_width}}  {left:<{room}}  {right}".rstrip())
            else:
                lines += [f"  {key}", f"    a: {left}", f"    b: {right}"]
    return lines
