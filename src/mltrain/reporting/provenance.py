"""A run's reproducibility record as ``mltrain report --long`` prints it and ``mltrain diff`` compares it.

    flat_facts(record)      # {"command": "mltrain fit ...", "code.commit": "9f3c...", "data.sha256": ...}
    long_lines(record)      # the indented lines printed under a run by ``mltrain report --long``

The record is ``summary.json``'s ``provenance`` and ``versions`` (``rundir/provenance.py`` writes them).
A run directory may come from anyone: every value is shown as text, control characters escaped, long
values cut, and a field of the wrong type is shown as what it is, never trusted as a structure.
"""

from __future__ import annotations

from typing import Any

from mltrain.reporting.records import RunRecord

LONGEST = 200  # characters of one value shown; the file holds all of it


def shown(value: Any, longest: int = LONGEST) -> str:
    """A value from a run's files as one printable line: control characters escaped, cut at ``longest``."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = value if isinstance(value, str) else str(value)
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= longest else text[: longest - 1] + "…"


def _get(tree: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(tree, dict):
            return None
        tree = tree.get(key)
    return tree


def flat_facts(run: RunRecord) -> dict[str, str]:
    """What identifies a run's inputs, flat: command line, code, data, Python, platform and versions.

    Keys: ``command``, ``code.commit``, ``code.dirty``, ``data.file``, ``data.rows``, ``data.bytes``,
    ``data.sha256``, ``python``, ``platform``, ``versions.<package>``; a field the run did not record is
    left out (runs from before the record existed have none).
    """
    record = run.provenance
    facts = {
        "command": record.get("command_line"),
        "code.commit": _get(record, "git", "commit"),
        "code.dirty": _get(record, "git", "dirty"),
        "data.file": _get(record, "data", "path") or _get(record, "data", "name"),
        "data.rows": _get(record, "data", "rows"),
        "data.bytes": _get(record, "data", "bytes"),
        "data.sha256": _get(record, "data", "sha256"),
        "python": record.get("python"),
        "platform": record.get("platform"),
    }
    facts |= {f"versions.{k}": v for k, v in run.versions.items() if k != "python"}
    return {k: shown(v) for k, v in facts.items() if v is not None}


def long_lines(run: RunRecord) -> list[str]:
    """The run's record under its name: command, code, data, Python and versions, one line each."""
    facts = flat_facts(run)
    if not facts:
        return [f"{run.name}", "  (no reproducibility record: a run from before mltrain recorded one)"]
    code = facts.get("code.commit")
    if code is not None:
        dirty = {"yes": " (dirty: tracked files changed since the commit)", "no": " (clean)"}
        code += dirty.get(facts.get("code.dirty", ""), " (dirty: unknown)")
    data = facts.get("data.file")
    if data is not None:
        sizes = [f"{facts[k]} {w}" for k, w in (("data.bytes", "bytes"), ("data.rows", "rows")) if k in facts]
        data = "  ".join([data, *sizes, f"sha256 {facts.get('data.sha256', '-')}"])
    versions = ", ".join(
        f"{k.removeprefix('versions.')} {v}" for k, v in facts.items() if k.startswith("versions.")
    )
    python = " ".join(v for v in (facts.get("python"), facts.get("platform")) if v)
    rows = [("command", facts.get("command")), ("code", code or "not a git checkout"), ("data", data),
            ("python", python or None), ("versions", versions or None)]  # fmt: skip
    return [run.name] + [f"  {label:<9}{value}" for label, value in rows if value]
