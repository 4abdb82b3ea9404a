"""Whole-process time of a 1-epoch ``mltrain fit`` on a small CSV against a hand-written script.

    python benchmarks/bench_startup.py                  # 7 interleaved repeats, then an import-time report
    python benchmarks/bench_startup.py --repeats 3 --no-importtime
    python benchmarks/bench_startup.py --keep            # leave the temp dir (CSV, hand.py, run dirs)
    python benchmarks/bench_startup.py --also before=/tmp/before   # also mltrain from another checkout
    python benchmarks/bench_startup.py --cpu --threads 1 # CPU seconds, one torch thread: steadier when busy

Writes a seeded 2,400-row CSV (20 numeric features, one string categorical column, a string label) and a
hand-written script (``import torch`` and pandas, read the CSV, one-hot encode, standardise on the
training rows, one epoch of an MLP 128-128 with Adam at batch 64, print the validation accuracy) to a
temporary directory, then times ``python hand.py`` and
``python -m mltrain fit dataset=csv dataset.path=... dataset.target=label trainer.epochs=1`` as whole
processes, interleaved, and prints the medians and minimums and their ratios to the hand script's. The
goal is at most 1.25x (ratio of medians, on a quiet machine; on a busy one the minimums are the better
estimate). ``--also NAME=DIR`` adds an arm running mltrain from another checkout's ``src/`` and ``conf/``
(e.g. ``mkdir /tmp/before && git archive HEAD~1 src conf | tar -x -C /tmp/before``), to measure one change
against the code before it in the same interleaved runs.

Then it runs the mltrain command once under ``python -X importtime`` and reports the slowest imports and
any heavy package (scikit-learn, matplotlib, scipy) that a CSV run should not load.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROWS, FEATURES = 2_400, 20
COLOURS = ("red", "green", "blue", "amber")  # the categorical column's values
LABELS = ("cat", "dog", "fox")  # the target's classes
GOAL = 1.25  # mltrain's whole process may take at most this multiple of the hand script's
CLOCK = {"cpu": False}  # --cpu: time by CPU seconds (steadier than wall-clock on a busy machine)
AVOIDABLE = ("sklearn", "scipy", "matplotlib", "PIL")  # packages a CSV run has no use for

HAND_SCRIPT = '''\
"""One epoch of an MLP on data.csv, written by hand: the floor for `mltrain fit` on the same file."""

import sys

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

torch.manual_seed(0)
frame = pd.read_csv(sys.argv[1])
y = torch.tensor(pd.Categorical(frame.pop("label")).codes.astype("int64"))
x = pd.get_dummies(frame, columns=["colour"], dtype="float32").to_numpy(dtype="float32")
x = torch.tensor(x)
order = torch.randperm(len(x))
n_val = len(x) // 5
val, train = order[:n_val], order[n_val:]
numeric = slice(0, {features})
mean, std = x[train, numeric].mean(0), x[train, numeric].std(0)
x[:, numeric] = (x[:, numeric] - mean) / std
model = nn.Sequential(nn.Linear(x.shape[1], 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                      nn.Linear(128, int(y.max()) + 1))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
xt, yt = x[train], y[train]
for idx in torch.randperm(len(xt)).split(64):
    loss = F.cross_entropy(model(xt[idx]), yt[idx])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
model.eval()
with torch.no_grad():
    accuracy = (model(x[val]).argmax(1) == y[val]).double().mean().item()
print(f"val accuracy {{accuracy:.4f}}")
'''


def write_csv(path: Path, seed: int = 0) -> None:
    """Numeric features, a colour that shifts the classes, and a label from a random linear teacher."""
    rng = random.Random(seed)
    teacher = [[rng.gauss(0, 1) for _ in LABELS] for _ in range(FEATURES)]
    lines = [",".join([*(f"x{i}" for i in range(FEATURES)), "colour", "label"])]
    for _ in range(ROWS):
        row = [rng.gauss(0, 1) for _ in range(FEATURES)]
        colour = rng.randrange(len(COLOURS))
        scores = [sum(v * w[k] for v, w in zip(row, teacher, strict=True)) for k in range(len(LABELS))]
        scores[colour % len(LABELS)] += 1.0  # the colour matters too
        label = LABELS[max(range(len(LABELS)), key=scores.__getitem__)]
        lines.append(",".join([*(f"{v:.5f}" for v in row), COLOURS[colour], label]))
    path.write_text("\n".join(lines) + "\n")


def commands(tmp: Path, also: dict[str, str]) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Each arm's command line and extra environment."""
    csv = tmp / "data.csv"
    fit = [
        sys.executable, "-m", "mltrain", "fit", "dataset=csv", f"dataset.path={csv}",
        "dataset.target=label", "trainer.epochs=1", f"hydra.run.dir={tmp / 'run'}",
    ]  # fmt: skip
    arms = {"hand": ([sys.executable, str(tmp / "hand.py"), str(csv)], {}), "mltrain": (fit, {})}
    for name, checkout in also.items():  # its package, with its conf/ where mltrain.conf is looked up first
        shutil.copytree(Path(checkout) / "src" / "mltrain", tmp / name / "mltrain")
        shutil.copytree(Path(checkout) / "conf", tmp / name / "mltrain" / "conf", dirs_exist_ok=True)
        arms[name] = (fit, {"PYTHONPATH": str(tmp / name)})
    return arms


def cpu_seconds() -> float:
    """User + system CPU time of this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    """Seconds ``cmd`` took: wall-clock, or with ``CLOCK["cpu"]`` the CPU time it used."""
    clock = cpu_seconds if CLOCK["cpu"] else time.perf_counter
    start = clock()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    elapsed = clock() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return elapsed


def import_report(cmd: list[str], cwd: Path, top: int) -> None:
    """Parse ``-X importtime``: self and cumulative microseconds per module, nesting by indent.

    A module's line comes after those of the modules it imported, one indent level deeper.
    """
    done = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], cwd=cwd, capture_output=True, text=True)
    rows = []  # (self us, cumulative us, depth, module)
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|")
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        rows.append((int(self_us), int(cumulative_us), depth, name.strip()))
    print(f"\n-X importtime: {len(rows)} modules, {sum(r[0] for r in rows) / 1e6:.2f} s of imports in all")
    print("slowest top-level imports (cumulative):")
    for _, cumulative, _, name in sorted((r for r in rows if r[2] == 0), key=lambda r: -r[1])[:top]:
        print(f"  {cumulative / 1e6:6.3f} s  {name}")
    packages: dict[str, int] = {}
    for self_us, _, _, name in rows:
        packages[name.split(".")[0]] = packages.get(name.split(".")[0], 0) + self_us
    print("by package (self time summed over its modules):")
    for root, us in sorted(packages.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {us / 1e6:6.3f} s  {root}")
    loaded = [p for p in AVOIDABLE if p in packages]
    if not loaded:
        print(f"none of {', '.join(AVOIDABLE)} imported")
    for p in loaded:
        first = next(i for i, r in enumerate(rows) if r[3].split(".")[0] == p)
        chain, depth = [rows[first][3]], rows[first][2]
        for r in rows[first:]:  # the importers: each next line at a smaller depth
            if r[2] < depth:
                chain.append(r[3])
                depth = r[2]
        print(f"avoidable for a CSV run but imported: {p} ({packages[p] / 1e6:.2f} s)")
        print(f"  imported by: {' <- '.join(chain)}")


def report(times: dict[str, list[float]], repeats: int, unit: str) -> None:
    """Medians and minimums of each arm, and their ratios to the hand script's."""
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"{ROWS:,}-row CSV, 1 epoch, {repeats} interleaved runs each; {unit}")
    print(f"{'command':>8} {'median':>7} {'min':>7} {'max':>7} {'x hand':>7} {'min x':>6}  all runs")
    for name, t in times.items():
        ratios = f"{medians[name] / medians['hand']:>7.3f} {min(t) / min(times['hand']):>6.3f}"
        runs = " ".join(f"{v:.2f}" for v in t)
        print(f"{name:>8} {medians[name]:>7.3f} {min(t):>7.3f} {max(t):>7.3f} {ratios}  {runs}")
    ratio, by_min = medians["mltrain"] / medians["hand"], min(times["mltrain"]) / min(times["hand"])
    verdict = "meets" if ratio <= GOAL else "misses"
    print(f"mltrain / hand {ratio:.3f} (minimums {by_min:.3f}): {verdict} the goal of {GOAL:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs of each command")
    parser.add_argument("--top", type=int, default=12, help="rows of the import report")
    parser.add_argument("--no-importtime", action="store_true", help="skip the import report")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--also", action="append", default=[], metavar="NAME=DIR",
                        help="also time mltrain from the checkout DIR (its src/ and conf/)")  # fmt: skip
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS for both commands (torch's threads)")
    parser.add_argument("--cpu", action="store_true",
                        help="compare CPU seconds (user + system) instead of wall-clock seconds")  # fmt: skip
    args = parser.parse_args()
    CLOCK["cpu"] = args.cpu
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # inherited by every command
    tmp = Path(tempfile.mkdtemp(prefix="mltrain-startup-"))
    write_csv(tmp / "data.csv")
    (tmp / "hand.py").write_text(HAND_SCRIPT.format(features=FEATURES))
    arms = commands(tmp, dict(a.split("=", 1) for a in args.also))
    for cmd, env in arms.values():  # warm-up: page cache, .pyc files
        run_timed(cmd, tmp, env)
    times: dict[str, list[float]] = {name: [] for name in arms}
    names = list(arms)
    for r in range(args.repeats):
        for name in names if r % 2 == 0 else names[::-1]:  # ABBA: no arm always runs first
            cmd, env = arms[name]
            times[name].append(run_timed(cmd, tmp, env))
    report(times, args.repeats, "CPU seconds" if args.cpu else "whole-process seconds")
    if not args.no_importtime:
        import_report(arms["mltrain"][0], tmp, args.top)
    if args.keep:
        print(f"kept {tmp}")
    else:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
