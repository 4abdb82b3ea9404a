"""Bad input, table-driven: every case exits 2 with one line naming the key and value, no traceback, and
leaves no run directory behind and any existing output file as it was (issue 9).

    python -m pytest tests/test_bad_input.py -q              # 12 rows in-process (cli.main), 1 subprocess
    python -m pytest tests/test_bad_input.py -q -m slow      # every row, in-process and as a subprocess

Each row runs ``mltrain`` in a fresh directory as cwd without ``hydra.run.dir``, so mltrain names the run
directory itself and must remove it when it refuses the run.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from mltrain import rundir as rundirs
from mltrain.commands import fit
from mltrain.config.schemas import register_schemas

ROWS = 120  # test_fraction=0.99 holds out ceil(118.8) = 119 rows, leaving one
FACTORIES = """
from torch import nn
def raises(in_features, out_features):
    raise ValueError("boom")
def oserror(in_features, out_features):
    open("/nonexistent/weights.bin")
def wrong_shape(in_features, out_features):
    return nn.Linear(in_features, out_features + 3)
def no_params(in_features, out_features):
    return nn.Identity()
"""


def write_data(folder: Path) -> Path:
    """Small CSVs, each with one fault, and a module of broken model factories."""
    rng = np.random.default_rng(0)
    ok = pd.DataFrame(rng.normal(size=(ROWS, 3)), columns=["a", "b", "c"])
    ok["y"] = np.where(ok.a + ok.b > 0, "pos", "neg")
    ok.to_csv(folder / "ok.csv", index=False)
    ok.assign(b=ok.b.where(ok.index != 5, np.inf)).to_csv(folder / "inf_feature.csv", index=False)
    ok.assign(t=ok.a.where(ok.index != 7, -np.inf)).drop(columns="y").to_csv(
        folder / "inf_target.csv", index=False
    )
    ok.assign(c=np.nan).to_csv(folder / "empty_column.csv", index=False)
    ok[["y"]].to_csv(folder / "one_column.csv", index=False)
    ok.assign(c=ok.c.round(2).astype(object).where(ok.index % 10 != 0, "unknown")).to_csv(
        folder / "mixed.csv", index=False
    )
    ok.assign(id=[f"user{i:04d}" for i in range(ROWS)]).to_csv(folder / "ids.csv", index=False)
    lines = (folder / "ok.csv").read_text().splitlines()
    (folder / "duplicate.csv").write_text("\n".join(["a,b,a,y", *lines[1:]]) + "\n")
    lines[101] = "oops" + lines[101][lines[101].index(",") :]  # a bad row in predict's third chunk
    (folder / "bad_row.csv").write_text("\n".join(lines) + "\n")
    (folder / "bad_factories_9.py").write_text(FACTORIES)
    os.mkfifo(folder / "pipe.csv")  # opening it for reading would wait for a writer that never comes
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_data(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def trained(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished run on ok.csv (1 epoch), for the predict, evaluate and resume rows to damage copies of."""
    register_schemas()
    rundirs.install_resolvers()
    overrides = [*csv("ok.csv", data), "trainer.epochs=1", "model.hidden=[8]"]
    with initialize_config_module("mltrain.conf", version_base="1.3"):
        cfg = compose("fit", overrides=overrides)
    run = tmp_path_factory.mktemp("trained") / "run"
    fit.run(cfg, run)
    return run


def csv(name: str, data: Path, target: str = "y") -> list[str]:
    return ["dataset=csv", f"dataset.path={data / name}", f"dataset.target={target}"]


# ---- damaging a run -------------------------------------------------------------------------------


class _Exploit:
    def __reduce__(self) -> tuple:
        return (os.system, ("touch PWNED",))


def truncate(run: Path) -> None:
    data = (run / "model.pt").read_bytes()
    (run / "model.pt").write_bytes(data[: len(data) // 2])


def random_bytes(run: Path) -> None:
    (run / "model.pt").write_bytes(np.random.default_rng(1).bytes(2000))


def empty(run: Path) -> None:
    (run / "model.pt").write_bytes(b"")


def unsafe_pickle(run: Path) -> None:
    (run / "model.pt").write_bytes(pickle.dumps(_Exploit(), protocol=2))


def factory_oserror(run: Path) -> None:
    """The run's model becomes a user's factory that raises ``OSError`` (not a write error) when called."""
    cfg = OmegaConf.load(run / "config.yaml")
    cfg.model = {"name": "custom", "factory": "bad_factories_9:oserror", "kwargs": {}}
    OmegaConf.save(cfg, run / "config.yaml")


def empty_column_run(run: Path) -> None:
    """A run written before the empty-column check: ``mean`` and ``scale`` of a column are null."""
    state = json.loads((run / "preprocessing.json").read_text())
    state["mean"][2] = state["scale"][2] = None
    (run / "preprocessing.json").write_text(json.dumps(state))


def no_config(run: Path) -> None:
    (run / "config.yaml").unlink()


def truncate_last(run: Path) -> None:
    data = (run / "checkpoints" / "last.pt").read_bytes()
    (run / "checkpoints" / "last.pt").write_bytes(data[:500])


# ---- the table ------------------------------------------------------------------------------------


@dataclass
class Case:
    """One bad input: ``{data}`` and ``{run}`` in ``args`` are filled in; ``damage`` breaks the run copy."""

    id: str
    args: list[str]
    expected: list[str]  # substrings of the one line: the key and the value, at least
    absent: list[str] = field(default_factory=list)  # what the line must not say
    damage: Callable[[Path], None] | None = None


def fit_csv(name: str, *more: str, target: str = "y") -> list[str]:
    return ["fit", "dataset=csv", f"dataset.path={{data}}/{name}", f"dataset.target={target}", *more]


OK = fit_csv("ok.csv", "trainer.epochs=1")
PREDICT = ["predict", "run={run}", "input={data}/ok.csv", "output=preds.csv", "chunksize=50"]
CASES = [
    # 9: values that crashed mid-run
    Case("cosine T_max=0", [*OK, "scheduler=cosine", "scheduler.T_max=0"], ["scheduler.T_max", "got 0"]),
    Case("step_size=0", [*OK, "scheduler=step", "scheduler.step_size=0"], ["scheduler.step_size", "got 0"]),
    Case("warmup=-1", [*OK, "scheduler.warmup_epochs=-1"], ["scheduler.warmup_epochs", "got -1"]),
    Case("plateau factor=2", [*OK, "scheduler=plateau", "scheduler.factor=2"], ["scheduler.factor", "got 2"]),
    Case("label_smoothing=2", [*OK, "loss.label_smoothing=2"], ["loss.label_smoothing", "got 2"]),
    Case("fraction=abc", [*OK, "validation.fraction=abc"], ["validation.fraction=abc", "number"]),
    Case("k=abc", [*OK, "validation=kfold", "validation.k=abc"], ["validation.k=abc", "whole number"]),
    Case("test_fraction=abc", [*OK, "dataset.test_fraction=abc"], ["dataset.test_fraction=abc", "number"]),
    Case("sep=''", [*OK, "dataset.sep=''"], ["dataset.sep=''", "empty"]),
    # 8: data problems that were reported as divergence
    Case("inf feature", fit_csv("inf_feature.csv"), ["column 'b'", "infinite", "row 6"]),
    Case(
        "inf target",
        fit_csv("inf_target.csv", "loss=mse", "metric=[mae]", target="t"),
        ["column 't'", "infinite"],
    ),  # fmt: skip
    Case(
        "empty column impute",
        fit_csv("empty_column.csv", "dataset.missing=impute"),
        ["column 'c'", "empty", "dataset.missing=impute", "dataset.features=[a,b]"],
    ),  # fmt: skip
    # 11: runs that finished with exit 0
    Case("one column", fit_csv("one_column.csv"), ["no feature columns", "'y'"]),
    Case("epochs=0", [*OK, "trainer.epochs=0"], ["trainer.epochs", "got 0"]),
    Case(
        "test_fraction=0.99 none",
        [*OK, "dataset.test_fraction=0.99", "validation=none"],
        ["dataset.test_fraction=0.99", "leaving 1 to train on"],
    ),  # fmt: skip
    Case("T_max=-3", [*OK, "scheduler=cosine", "scheduler.T_max=-3"], ["scheduler.T_max", "got -3"]),
    Case("gamma=-1", [*OK, "scheduler=step", "scheduler.gamma=-1"], ["scheduler.gamma", "got -1"]),
    # 12: misleading messages
    Case(
        "test_fraction=0.99 split",
        [*OK, "dataset.test_fraction=0.99"],
        ["dataset.test_fraction=0.99", "use a smaller dataset.test_fraction"],
        ["validation.fraction"],
    ),  # fmt: skip
    # 13: silent data handling, now refused with a hint
    Case("duplicate names", fit_csv("duplicate.csv"), ["more than one column named 'a'"]),
    Case(
        "mixed column",
        fit_csv("mixed.csv"),
        ["column 'c'", "'unknown'", "dataset.na_values=[unknown]", "dataset.features=[a,b]"],
    ),  # fmt: skip
    Case("id column", fit_csv("ids.csv"), ["column 'id'", "120 distinct", "dataset.features=[a,b,c]"]),
    # 10: the user's model factory
    *[
        Case(
            f"factory {name}",
            [*OK, "model=custom", f"model.factory=bad_factories_9:{name}"],
            [f"model.factory=bad_factories_9:{name}", said],
            ["cannot write"],
        )  # fmt: skip
        for name, said in [
            ("raises", "raised ValueError: boom"),
            ("oserror", "raised FileNotFoundError"),
            ("wrong_shape", "to (2, 5)"),
            ("no_params", "no trainable parameters"),
        ]
    ],
    # 6: a damaged run, in predict and evaluate
    Case("predict truncated model.pt", PREDICT, ["model.pt", "damaged"], ["safe", "code"], truncate),
    Case("predict random model.pt", PREDICT, ["model.pt", "damaged"], ["safe", "code"], random_bytes),
    Case("predict empty model.pt", PREDICT, ["model.pt", "is empty"], ["safe", "code"], empty),
    Case("predict unsafe model.pt", PREDICT, ["model.pt", "not a safe", "posix.system"], [], unsafe_pickle),
    Case(
        "evaluate truncated model.pt", ["evaluate", "run={run}"], ["model.pt", "damaged"], ["safe"], truncate
    ),
    Case(
        "predict factory OSError",
        [*PREDICT, "trust_code=true"],  # the user's own run: its factory may be imported
        ["model.factory=bad_factories_9:oserror", "FileNotFoundError"],
        ["cannot write"],
        factory_oserror,
    ),  # fmt: skip
    Case(
        "evaluate empty-column run",
        ["evaluate", "run={run}"],
        ["preprocessing.json", "'c'"],
        ["Type"],
        empty_column_run,
    ),  # fmt: skip
    # 4: a bad row in a later chunk leaves the existing output file as it was
    Case(
        "predict bad later row",
        [*PREDICT[:2], "input={data}/bad_row.csv", *PREDICT[3:]],
        ["column 'a'", "row 101", "'oops'"],
    ),  # fmt: skip
    # beyond the list
    Case("features listed twice", fit_csv("ok.csv", "dataset.features=[a,a]"), ["dataset.features", "'a'"]),
    Case("chunksize=0", [*PREDICT[:-1], "chunksize=0"], ["chunksize=0"]),
    Case(
        "predict inf",
        [*PREDICT[:2], "input={data}/inf_feature.csv", *PREDICT[3:]],
        ["column 'b'", "row 6", "inf"],
    ),  # fmt: skip
    Case("na_values not a list", [*OK, "dataset.na_values=7"], ["dataset.na_values=7"]),
    # 19: values that gave tracebacks or diverged
    Case("lr=nan", [*OK, "optimizer.lr=nan"], ["optimizer.lr", "got nan", "> 0"]),
    Case("weight_decay=nan", [*OK, "optimizer.weight_decay=nan"], ["optimizer.weight_decay", "got nan"]),
    Case("lr=inf", [*OK, "optimizer.lr=inf"], ["optimizer.lr", "finite", "got inf"]),
    Case("seed=-1", [*OK, "seed=-1"], ["seed", "got -1", "4294967295"]),
    Case("grad_clip=nan", [*OK, "trainer.grad_clip=nan"], ["trainer.grad_clip", "got nan"]),
    # 19: odd files, named without being opened
    Case("path fifo", fit_csv("pipe.csv"), ["pipe.csv", "is a named pipe"], ["no such file"]),
    *[
        Case(
            f"path {dev}",
            ["fit", "dataset=csv", f"dataset.path={dev}", "dataset.target=y"],
            [f"dataset.path={dev}", "is a device, not a regular file"],
            ["no such file"],
        )  # fmt: skip
        for dev in ("/dev/zero", "/dev/null")
    ],
    Case(
        "predict input fifo",
        [*PREDICT[:2], "input={data}/pipe.csv", *PREDICT[3:]],
        ["input=", "pipe.csv is a named pipe"],
        ["no such file"],
    ),  # fmt: skip
    Case(
        "evaluate input /dev/zero",
        ["evaluate", "run={run}", "input=/dev/zero"],
        ["input=/dev/zero is a device"],
        ["no such file"],
    ),  # fmt: skip
    Case(
        "monitor input /dev/null",
        ["monitor", "run={run}", "input=/dev/null"],
        ["input=/dev/null is a device"],
        ["no such file"],
    ),  # fmt: skip
    # 24: tables
    Case("numeric=rank", [*OK, "dataset.numeric=rank"], ["dataset.numeric=rank", "quantile, robust"]),
    Case("preset=tabluar", [*OK, "preset=tabluar"], ["preset", "tabluar", "tabular"]),
    Case("tabm k=0", [*OK, "model=tabm", "model.k=0"], ["model.k", "got 0"]),
    Case(
        "tabm embedding=fourier",
        [*OK, "model=tabm", "model.embedding=fourier"],
        ["model.embedding=fourier", "none, periodic, piecewise"],
    ),  # fmt: skip
    Case("tabm hidden", [*OK, "model=tabm", "model.hidden=[8]"], ["model.hidden", "not a config key"]),
    # 12: resume
    Case(
        "resume without config.yaml",
        [*OK, "model.hidden=[8]", "resume={run}"],
        ["resume=", "config.yaml"],
        ["last.pt"],
        no_config,
    ),
    Case(
        "resume truncated last.pt",
        [*OK, "model.hidden=[8]", "resume={run}"],
        ["last.pt", "damaged"],
        ["safe", "code"],
        truncate_last,
    ),  # fmt: skip
]
# the default suite runs these in-process (each item of issue 9 at least once; ~0.3 s each on an idle
# machine; tests/components/test_data_checks.py covers the rest in milliseconds) and the first as a real
# subprocess; `-m slow` runs every row both ways
CASES += [  # issue 21: training options and lr_find
    Case("precision=16", [*OK, "trainer.precision=16"], ["trainer.precision=16", "16-mixed, 32, bf16"]),
    Case(
        "16-mixed on cpu",
        [*OK, "trainer.precision=16-mixed", "trainer.device=cpu"],
        ["trainer.precision=16-mixed", "CUDA", "bf16"],
    ),  # fmt: skip
    Case(
        "accumulate=0",
        [*OK, "trainer.accumulate_grad_batches=0"],
        ["trainer.accumulate_grad_batches", "got 0"],
    ),  # fmt: skip
    Case("save_top_k=-1", [*OK, "checkpoint.save_top_k=-1"], ["checkpoint.save_top_k", "got -1"]),
    Case("class_weight=bal", [*OK, "loss.class_weight=bal"], ["loss.class_weight=bal", "balanced"]),
    Case(
        "class_weight 3 of 2",
        [*OK, "loss.class_weight=[1,2,3]"],
        ["loss.class_weight has 3 weights", "2 classes (neg, pos"],
    ),  # fmt: skip
    Case("class_weight unknown class", [*OK, "loss.class_weight={{dog:2}}"], ["class dog", "neg, pos"]),
    Case(
        "class_weight and pos_weight",
        [*OK, "loss=bce", "loss.class_weight=balanced", "loss.pos_weight=2"],
        ["loss.pos_weight and loss.class_weight"],
    ),  # fmt: skip
    Case("lr_find max_lr<min_lr", ["lr_find", *OK[1:], "lr_find.max_lr=1e-9"], ["lr_find.max_lr", "1e-09"]),
    Case("lr_find kfold", ["lr_find", *OK[1:], "validation=kfold"], ["lr_find", "validation=split"]),
    Case("lr_find -m", ["lr_find", "-m", *OK[1:], "optimizer=adam,sgd"], ["lr_find", "-m/--multirun"]),
]

QUICK = [
    "predict bad later row", "cosine T_max=0", "fraction=abc", "inf feature", "empty column impute",
    "epochs=0", "test_fraction=0.99 split", "resume truncated last.pt", "mixed column", "factory oserror",
    "predict truncated model.pt", "evaluate empty-column run", "lr=nan", "lr=inf", "seed=-1",
    "path fifo", "path /dev/zero", "predict input fifo", "evaluate input /dev/zero",
    "precision=16", "16-mixed on cpu", "class_weight 3 of 2", "lr_find max_lr<min_lr",
    "numeric=rank", "preset=tabluar", "tabm embedding=fourier",
]  # fmt: skip
assert set(QUICK) <= {c.id for c in CASES}


def params(quick: list[str]) -> list:
    return [pytest.param(c, id=c.id, marks=() if c.id in quick else pytest.mark.slow) for c in CASES]


# ---- running a case -------------------------------------------------------------------------------


def subprocess_run(args: list[str], cwd: Path) -> tuple[int, str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "1000"}
    done = subprocess.run([sys.executable, "-m", "mltrain", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    return done.returncode, done.stderr


def check(case: Case, run: Callable, data: Path, trained: Path, tmp_path: Path, monkeypatch) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.syspath_prepend(str(data))  # the factories module, importable as a user's own would be
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(data), os.environ.get("PYTHONPATH", "")]))
    run_copy = tmp_path / "run"
    shutil.copytree(trained, run_copy)
    if case.damage:
        case.damage(run_copy)
    (cwd / "preds.csv").write_text("kept,from,before\n1,2,3\n")
    before = snapshot(run_copy)

    status, err = run([a.format(data=data, run=run_copy) for a in case.args], cwd)

    assert status == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: "), err
    for text in case.expected:
        assert text in err, f"{text!r} not in {err!r}"
    for text in case.absent:
        assert text not in err, f"{text!r} in {err!r}"
    assert (cwd / "preds.csv").read_text() == "kept,from,before\n1,2,3\n"
    assert sorted(p.name for p in cwd.iterdir()) in (["preds.csv"], ["preds.csv", "runs"])
    assert not [p for p in cwd.glob("runs/*/*")], "a refused run left its directory"
    if not any(a.startswith("resume=") for a in case.args):  # Hydra writes .hydra/ into a resumed dir
        assert snapshot(run_copy) == before
    assert not (cwd / "PWNED").exists()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", params(QUICK))
def test_bad_input_in_process(case: Case, in_process: Callable, data: Path, trained: Path, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    check(case, in_process, data, trained, tmp_path, monkeypatch)


@pytest.mark.parametrize("case", params(QUICK[:1]))
def test_bad_input_as_a_subprocess(case: Case, data: Path, trained: Path, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    check(case, subprocess_run, data, trained, tmp_path, monkeypatch)
