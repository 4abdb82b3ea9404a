"""``mltrain diff <run> <run>`` and ``mltrain report --long``: what differs between two runs, and each run's
reproducibility record; bad input is one line and exit status 2.

The first tests write run directories by hand (``test_report.fake_run`` plus a provenance), so the expected
lines are known; the last one walks the flow of docs/diff.md with real fits in a git checkout.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest

from mltrain.rundir import provenance
from tests.commands.test_report import fake_run
from tests.conftest import mltrain, write_penguins
from tests.reporting.browser import chromium, render
from tests.test_flow import printed_run_dir

SHA_A, SHA_B = "a" * 64, "b" * 64


def with_record(path: Path, sha: str, commit: str, dirty: bool, torch: str = "2.13.0") -> Path:
    summary = json.loads((path / "summary.json").read_text())
    summary["provenance"] = {
        "command": ["mltrain", "fit"], "command_line": "mltrain fit " + path.name, "cwd": "/w",
        "git": {"commit": commit, "dirty": dirty, "root": "/w"},
        "data": {"path": "/w/d.csv", "file": "d.csv", "bytes": 10, "rows": 3, "sha256": sha},
        "python": "3.11.7", "implementation": "CPython", "platform": "Linux",
    }  # fmt: skip
    summary["versions"] = {"python": "3.11.7", "torch": torch, "numpy": "2.4.6"}
    (path / "summary.json").write_text(json.dumps(summary))
    return path


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    a = with_record(fake_run(tmp_path / "a", ["optimizer=adam"], 0.9), SHA_A, "1" * 40, False)
    b = with_record(
        fake_run(tmp_path / "b", ["optimizer=adam"], 0.8, lr=0.01), SHA_B, "1" * 40, True, "2.12.0"
    )
    return a, b


def test_diff_lines(pair: tuple[Path, Path]) -> None:
    from mltrain.commands.diff import run_from_args

    a, b = pair
    lines = run_from_args([str(a), str(b)])
    assert [re.sub(r"(?<=\S) {2,}", " | ", line) for line in lines] == [
        f"a: {a.name}",
        f"b: {b.name}",
        "config: 1 differs",
        "  optimizer.lr | 0.001 | 0.01",
        "data: 1 differs",
        "  sha256",
        f"    a: {SHA_A}",
        f"    b: {SHA_B}",
        "code: 1 differs",
        "  dirty | no | yes",
        "command: 1 differs",
        "  command | mltrain fit a | mltrain fit b",
        "versions: 1 differs",
        "  torch | 2.13.0 | 2.12.0",
        "metrics: 2 differ",
        "  objective | 0.9 | 0.8",
        "  val_accuracy | 0.9 | 0.8",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "a"], "error: mltrain diff: nope: no such run directory"),
        (["{tmp}", "{tmp}/a"], "error: mltrain diff: {tmp} is not a run directory (it has no summary.json)"),
        (["{tmp}/a", "{tmp}/damaged"], "error: mltrain diff: {tmp}/damaged/summary.json is damaged or not a "
                                       "file mltrain wrote (it is not a JSON object)"),
    ],
)  # fmt: skip
def test_bad_runs_are_one_line_and_status_2(
    pair: tuple[Path, Path], in_process, args: list[str], message: str
) -> None:
    tmp = pair[0].parent
    (tmp / "damaged").mkdir()
    (tmp / "damaged" / "summary.json").write_text("{")
    status, err = in_process(["diff", *(a.format(tmp=tmp) for a in args)], tmp)
    assert status == 2 and err.strip().splitlines() == [message.format(tmp=tmp)]
    status, err = in_process(["diff", str(pair[0])], tmp)  # one run: argparse's usage and its error
    assert (
        status == 2
        and err.splitlines()[-1] == "mltrain diff: error: the following arguments are required: RUN"
    )


def test_report_long_prints_each_run_s_record(pair: tuple[Path, Path]) -> None:
    from mltrain.commands.report import run_from_args

    lines = run_from_args([str(pair[0].parent), "--long"])
    start = lines.index("reproducibility record (summary.json's provenance):")
    assert lines[start + 1 : start + 8] == [
        "a",
        "  command  mltrain fit a",
        f"  code     {'1' * 40} (clean)",
        "  data     /w/d.csv  10 bytes  3 rows  sha256",  # folded to 100 columns, under the value
        f"           {SHA_A}",
        "  python   3.11.7 Linux",
        "  versions torch 2.13.0, numpy 2.4.6",
    ]
    assert any(line.startswith(f"  code     {'1' * 40} (dirty: tracked files changed") for line in lines)
    assert max(map(len, lines)) <= 100


@pytest.mark.slow  # two fits, a diff and a report as subprocesses (the default suite has the twins above)
def test_diff_of_two_fits_in_a_checkout_as_the_docs_walk_it(tmp_path: Path) -> None:
    """In a git checkout: fit, change the data file (a tracked file: the checkout is dirty), fit again with
    another learning rate, then ``mltrain diff`` on the two directories fit printed."""
    data = write_penguins(tmp_path / "penguins.csv")
    for args in (["init", "-q"], ["add", "penguins.csv"], ["commit", "-qm", "data"]):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@e", *args], cwd=tmp_path, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout
    fit = ["fit", "dataset=csv", "dataset.path=penguins.csv", "dataset.target=species", "trainer.epochs=2"]
    first = mltrain(*fit, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    old_sha, old_bytes = hashlib.sha256(data.read_bytes()).hexdigest(), data.stat().st_size
    write_penguins(data, rows=200)
    second = mltrain(*fit, "optimizer.lr=0.01", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    a, b = printed_run_dir(first.stdout), printed_run_dir(second.stdout)
    record = json.loads((Path(a) / "summary.json").read_text())["provenance"]
    assert record["command"] == ["mltrain", *fit] and record["git"]["commit"] == head.strip()
    assert record["git"]["dirty"] is False and record["data"]["sha256"] == old_sha
    assert record["data"]["rows"] == 300 and record["data"]["bytes"] == old_bytes
    diffed = mltrain("diff", a, b, cwd=tmp_path)
    assert diffed.returncode == 0, diffed.stderr
    out = re.sub(r"(?<=\S) {2,}", " | ", diffed.stdout)
    assert "  optimizer.lr | 0.001 | 0.01" in out and f"    a: {old_sha}" in out
    assert "code: 1 differs\n  dirty | no | yes" in out and "  rows | 300 | 200" in out
    reported = mltrain("report", "runs", "--long", "--html", "report.html", cwd=tmp_path)
    assert reported.returncode == 0 and reported.stdout.count(f"  code     {head.strip()}") == 2
    assert reported.stdout.rstrip().endswith("report.html") and (tmp_path / "report.html").is_file()
    if chromium() is not None:  # the page of the two real runs, in the browser
        shown = render(tmp_path / "report.html")
        assert shown.console == [] and len(re.findall(r'<tr data-run="r\d+"', shown.dom)) == 2
    assert provenance.COMMAND_ENV == "MLTRAIN_COMMAND_LINE"  # the name cli.py sets
