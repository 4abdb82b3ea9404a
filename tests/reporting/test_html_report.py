"""``mltrain report --html``: one self-contained page, opened in headless Chromium.

The runs are written by hand (a sweep of four jobs with histories of 3 to 6 epochs, a k-fold run of three
folds, a regression, and a run whose directory name and override are HTML/JavaScript), so the number of
points each curve must have is known. Chromium renders the page; the tests read its DOM, its console and
a screenshot. They skip only when Chromium is not installed (``.ci/run`` installs Debian's package).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

from mltrain.commands.report import build_sections, run_from_args
from mltrain.errors import ConfigError
from mltrain.reporting.html_report import embedded_json, page_data, write_html
from tests.commands.test_report import REGRESSION, fake_run
from tests.reporting.browser import chromium, render, screenshot

PAYLOAD = "</script><script>document.body.setAttribute('data-pwned','script')</script>"
NAME = "<img src=x onerror=\"document.body.setAttribute('data-pwned','img')\">"
needs_chromium = pytest.mark.skipif(
    chromium() is None, reason="chromium is not installed (apt-get install chromium)"
)


def history(path: Path, epochs: int, folds: int = 0) -> None:
    """A history.csv of ``epochs`` rows with loss, accuracy and their val_ columns."""
    rows = {"epoch": list(range(1, epochs + 1))}
    for n, column in enumerate(("loss", "accuracy", "val_loss", "val_accuracy")):
        rows[column] = [1.0 / (e + n + folds) for e in rows["epoch"]]
    pd.DataFrame(rows).to_csv(path / "history.csv", index=False)


def write_runs(root: Path) -> dict[str, int]:
    """The runs under ``root/runs``; returns each run's name and its number of epochs."""
    epochs = {}
    for n, (opt, lr) in enumerate([("adam", 0.01), ("adam", 0.1), ("sgd", 0.01), ("sgd", 0.1)]):
        job = fake_run(root / "runs" / "multirun" / "s" / f"{n}_job",
                       ["dataset=iris", f"optimizer={opt}", f"optimizer.lr={lr}"], 0.9 - n / 10)  # fmt: skip
        history(job, 3 + n)
        epochs[f"multirun/s/{n}_job"] = 3 + n
    job = root / "runs" / "multirun" / "s" / "0_job"  # the best: the run the page shows first
    report = {c: {"precision": 0.5, "recall": 0.5, "f1-score": 0.5, "support": 2} for c in "abc"}
    (job / "classification_report.json").write_text(json.dumps(report))
    matrix = {"classes": list("abc"), "counts": [[2, 0, 0], [1, 1, 0], [0, 1, 1]]}
    (job / "confusion_matrix.json").write_text(json.dumps(matrix))
    parent = root / "runs" / "fit" / "cv"
    for i in (1, 2, 3):
        history(fake_run(parent / f"fold_{i}", [], 0.7), 4, folds=i)
    (parent / ".hydra").mkdir()
    (parent / ".hydra" / "overrides.yaml").write_text("- validation=kfold\n")
    cv = {
        "status": "completed",
        "monitor": "val_accuracy",
        "metrics": {"best_val_accuracy": {"mean": 0.7, "std": 0.02}},
    }
    (parent / "cv_summary.json").write_text(json.dumps(cv))
    epochs["fit/cv"] = 4
    crafted = fake_run(
        root / "runs" / "fit" / NAME, ["dataset=iris", f"optimizer={PAYLOAD}"], 0.2, status="diverged"
    )
    history(crafted, 2)
    epochs[f"fit/{NAME}"] = 2
    fake_run(root / "runs" / "fit" / "reg", [], 0.4, monitor="val_loss", data=REGRESSION,
             dataset="diabetes", loss="mse", metric="mae")  # fmt: skip
    epochs["fit/reg"] = 2  # fake_run's own history: val_loss and val_mae
    return epochs


def test_page_data_escapes_every_string_that_could_end_the_script(tmp_path: Path) -> None:
    write_runs(tmp_path)
    data = page_data(build_sections([tmp_path / "runs"]), tmp_path)
    text = embedded_json(data)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == data  # the escapes are JSON's own: the page reads the same strings
    names = {run["name"] for run in data["runs"].values()}
    assert f"fit/{NAME}" in names and len(names) == 7
    crafted = next(r for r in data["runs"].values() if r["name"] == f"fit/{NAME}")
    assert crafted["href"].startswith("./runs/fit/%3Cimg%20src%3Dx") and ":" not in crafted["href"]
    cv = next(r for r in data["runs"].values() if r["name"] == "fit/cv")
    assert cv["curves"]["folds"] == 3 and len(cv["curves"]["epoch"]) == 4
    mean = [sum(1.0 / (e + 2 + f) for f in (1, 2, 3)) / 3 for e in range(1, 5)]  # val_loss, three folds
    assert cv["curves"]["columns"]["val_loss"] == pytest.approx(mean)


def test_html_without_plotly_is_one_line_naming_the_extra(tmp_path: Path, in_process, monkeypatch) -> None:
    write_runs(tmp_path)
    monkeypatch.setitem(sys.modules, "plotly.offline", None)  # import fails as if plotly were not installed
    with pytest.raises(ConfigError, match=r"pip install 'mltrain\[html\]'"):
        run_from_args(["runs", "--html", "r.html"])
    status, err = in_process(["report", str(tmp_path / "runs"), "--html", str(tmp_path / "r.html")], tmp_path)
    assert status == 2 and err.strip().splitlines() == [
        "error: --html needs plotly, which is not installed; pip install 'mltrain[html]'"
    ]
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "runs" / "report.csv").exists()


def points(dom: str, metric: str) -> tuple[list[str], int]:
    """The run ids a curve plot draws and the number of markers Plotly rendered in it."""
    starts = [
        m for m in re.finditer(r'<div class="plot curve[^"]*" data-metric="([^"]+)" data-runs="([^"]+)"', dom)
    ]
    for n, match in enumerate(starts):
        if match[1] == metric:
            end = starts[n + 1].start() if n + 1 < len(starts) else len(dom)
            return match[2].split(), dom[match.start() : end].count('class="point"')
    raise AssertionError(f"no {metric} plot")


@needs_chromium
def test_the_page_renders_every_run_and_curve_in_chromium(tmp_path: Path) -> None:
    epochs = write_runs(tmp_path)
    page = write_html(build_sections([tmp_path / "runs"]), tmp_path / "report.html")
    assert "http://" not in page.read_text().split("<script>", 2)[2][:200]  # nothing to fetch
    shown = render(page)
    assert shown.console == [], shown.console
    dom = shown.dom
    assert "data-pwned" not in dom.split("<body", 1)[1].split(">", 1)[0]  # neither payload ran
    assert "<img src=x" not in dom  # it is text in the page: &lt;img ...
    data = json.loads(re.search(r'id="mltrain-data">(.*?)</script>', dom, re.S)[1])
    rows = re.findall(r'<tr data-run="(r\d+)"', dom)
    assert sorted(rows) == sorted(data["runs"]) and len(rows) == 7
    for run in data["runs"].values():  # every run's name is in the table, as text
        assert run["name"].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in dom
    ids, count = points(dom, "loss")  # training and validation markers, plus the best epoch's star
    drawn = [data["runs"][i] for i in ids]  # the best 5; the k-fold run has no best epoch (no star)
    expected = sum(2 * epochs[r["name"]] + (r["best_epoch"] is not None) for r in drawn)
    assert len(ids) == 5 and count == expected, ([r["name"] for r in drawn], count)
    ids, count = points(dom, "mae")  # the regression: validation only (fake_run writes val_mae)
    assert count == 2 + 1
    swept = re.findall(r'class="plot sweep[^"]*" data-key="([^"]+)"', dom)  # the objective against each
    assert swept == ["optimizer", "optimizer.lr", "validation"]
    assert 'class="plot parallel' in dom and 'class="plot confusion' in dom
    assert re.search(r'<body[^>]*data-ready-ms="\d+"', dom)
    png = tmp_path / "page.png"
    assert screenshot(page, png) == []
    from PIL import Image

    with Image.open(png) as image:
        assert image.size == (1400, 2600)
        colours = image.convert("RGB").resize((140, 260)).getcolors(maxcolors=100_000)
    assert colours is not None and len(colours) > 50  # drawn plots, not a blank page


def test_the_page_is_never_written_into_a_run(tmp_path: Path, in_process) -> None:
    write_runs(tmp_path)
    run = tmp_path / "runs" / "fit" / "reg"
    before = (run / "summary.json").read_text()
    status, err = in_process(
        ["report", str(tmp_path / "runs"), "--html", str(run / "summary.json")], tmp_path
    )
    assert status == 2 and err.strip() == (
        f"error: --html {run / 'summary.json'} is inside the run directory {run.resolve()}; "
        "write the page elsewhere"
    )
    assert (run / "summary.json").read_text() == before
