"""Each subcommand's own ``--help`` and tab completion: evaluate and predict list their keys, not fit's
config groups; ``report`` completes its flags and directories.

In-process tests set ``COMP_LINE`` and ``sys.argv`` as Hydra's bash script does; one test runs the real
``hydra_bash_completion`` function in bash, the way a user's shell calls it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mltrain import completion
from mltrain.cli import COMMANDS
from mltrain.config.catalog import has_groups
from mltrain.config.help import command_help
from tests.conftest import mltrain

Query = Callable[[str], "list[str] | None"]


@pytest.fixture
def query(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Query:
    """``query("mltrain evaluate r")``: the words mltrain answers for that line, in ``tmp_path``."""
    (tmp_path / "runs" / "fit" / "2026-11-27_13-04-23_debug-smoke").mkdir(parents=True)
    (tmp_path / "new.csv").write_text("a,b\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["mltrain", "-sc", "query=bash"])

    def ask(line: str) -> list[str] | None:
        monkeypatch.setenv("COMP_LINE", line)
        answer = completion.answer(COMMANDS)
        return None if answer is None else answer.split()

    return ask


def test_evaluate_and_predict_complete_their_own_keys_and_paths(query: Query) -> None:
    assert query("mltrain evaluate ") == ["run=", "input=", "max_drop=", "trust_code="]
    assert query("mltrain evaluate r") == ["run="]
    assert query("mltrain evaluate run=runs/fit/ ") == [
        "input=",
        "max_drop=",
        "trust_code=",
    ]  # run= is typed already
    assert query("mltrain evaluate run=") == ["run=new.csv", "run=runs/"]
    assert query("mltrain evaluate run=runs/fit/2026") == ["run=runs/fit/2026-11-27_13-04-23_debug-smoke/"]
    assert query("mltrain predict ") == ["run=", "input=", "output=", "id=", "chunksize=", "trust_code="]
    assert query("mltrain predict input=n") == ["input=new.csv"]
    assert query("mltrain evaluate optimizer=") == []  # not a key of evaluate: nothing to offer


def test_report_completes_flags_and_directories(query: Query) -> None:
    assert query("mltrain report --") == ["--help", "--sort", "--group-by", "--top", "--long", "--html"]
    assert query("mltrain report ") == ["runs/"]
    assert query("mltrain report runs/f") == ["runs/fit/"]
    assert query("mltrain report --sort ") == []  # the shell's own completion takes over


def test_fit_and_subcommand_names_stay_hydras_and_ours(query: Query) -> None:
    assert query("mltrain ") == list(COMMANDS)
    assert query("mltrain ev") == ["evaluate"]
    assert query("mltrain fit optimizer=") is None  # Hydra answers fit's groups and keys
    assert has_groups("fit") and not has_groups("evaluate")
    assert query("mltrain lr") == ["lr_find"]
    assert query("mltrain lr_find optimizer=") is None and has_groups("lr_find")  # fit's groups: Hydra's


def test_evaluate_help_lists_its_keys_not_fits_groups(tmp_path: Path) -> None:
    result = mltrain("evaluate", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "optimizer" not in result.stdout and "Configuration groups" not in result.stdout
    keys = [line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ") and "=" in line]
    assert [k for k in keys if not k.startswith("mltrain")] == [
        "run=???",
        "input=null",
        "max_drop=null",
        "trust_code=false",
    ]
    assert "directory of a finished `mltrain fit` run" in result.stdout  # the key's comment in the YAML
    predict = command_help("predict")
    assert predict is not None and "  output=???" in predict and "chunksize=10000" in predict
    assert command_help("fit") is None  # Hydra's help, which lists fit's groups


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_script_offers_evaluate_keys(tmp_path: Path) -> None:
    """The script ``mltrain -sc install=bash`` prints, run by bash on a typed line."""
    executable = Path(sys.executable).parent / "mltrain"
    if not executable.is_file():
        pytest.skip("the mltrain console script is not installed next to this Python")
    (tmp_path / "runs" / "fit").mkdir(parents=True)
    script = f"""
export PATH="{executable.parent}:$PATH"
eval "$(mltrain -sc install=bash)"
for line in "mltrain evaluate r" "mltrain evaluate run=runs/f" "mltrain report --g"; do
    COMP_LINE="$line"; COMP_POINT=${{#line}}; read -a COMP_WORDS <<< "$line"
    COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); hydra_bash_completion; echo "${{COMPREPLY[*]}}"
done
"""
    result = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.stdout.splitlines() == ["run=", "run=runs/fit/", "--group-by"], result.stderr
