"""The HTML page of ``mltrain report --html``: its style (``report.css``) and script (``report.js``),
hand-written, no framework.

The script reads the runs from the page's JSON (``html_report.py``) and builds everything with
``document.createElement`` and ``textContent``: a string from a run directory is never parsed as HTML.
Texts handed to Plotly (trace names, axis titles), which reads a few tags such as ``<b>`` and ``<a>``, are
escaped first (``esc``). When it has drawn the page, the script sets ``data-ready-ms`` on ``<body>``
(milliseconds since navigation started: the load time the benchmark and the browser test read) and
``data-script-ms`` (the script's own part of it, after plotly.js was parsed).
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent  # report.css and report.js: package data of mltrain.reporting


def page(plotly_js: str, data_json: str) -> str:
    """The whole page: plotly.js, the runs' JSON (already escaped) and the script, inline."""
    style, script = (HERE / "report.css").read_text(), (HERE / "report.js").read_text()
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mltrain report</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{style}</style>
<script>{plotly_js}</script>
</head><body>
<header><h1>mltrain report</h1><p id="summary"></p>
<input id="filter" type="search" placeholder="filter runs: words in the name, overrides or status"></header>
<main id="sections"></main>
<section id="focus"><h2>Selected run: per-class scores</h2><div id="focus-body"></div></section>
<section id="compare"><h2>Compare two runs</h2>
<label>a <select id="run-a"></select></label> <label>b <select id="run-b"></select></label>
<div id="diff"></div></section>
<script type="application/json" id="mltrain-data">{data_json}</script>
<script>{script}</script>
</body></html>
"""
