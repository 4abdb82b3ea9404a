"""Whole-process time of a 1-epoch ``mltrain fit`` on a small CSV against a hand-written script.

    python benchmarks/bench_startup.py                  # 7 interleaved repeats, then an import-time report
    python benchmarks/bench_startup.py --repeats 3 --no-importtime
    python benchmarks/bench_startup.py --keep            # leave the temp dir (CSV, hand.py, run dirs)

Writes a seeded 2,400-row CSV (20 numeric features, one string categorical column, a string label) and a
hand-written script (``import torch`` and pandas, read the CSV, one-hot encode, standardise on the
training rows, one epoch of an MLP 128-128 with Adam at batch 64, print the validation accuracy) to a
temporary directory, then times ``python hand.py`` and
``python -m mltrain fit dataset=csv dataset.path=... dataset.target=label trainer.epochs=1`` as whole
processes, interleaved, and prints the medians and their ratio. The goal is at most 1.25x.

Then it runs the mltrain command once under ``python -X importtime`` and reports the slowest imports and
any heavy package (scikit-learn, matplotlib, scipy) that a CSV run should not load.
"""

from __future__ import annotations

import argparse
import random
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


def commands(tmp: Path) -> dict[str, list[str]]:
    csv = tmp / "data.csv"
    return {
        "hand": [sys.executable, str(tmp / "hand.py"), str(csv)],
        "mltrain": [
            sys.executable, "-m", "mltrain", "fit", "dataset=csv", f"dataset.path={csv}",
            "dataset.target=label", "trainer.epochs=1", f"hydra.run.dir={tmp / 'run'}",
        ],
    }  # fmt: skip


def run_timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs of each command")
    parser.add_argument("--top", type=int, default=12, help="rows of the import report")
    parser.add_argument("--no-importtime", action="store_true", help="skip the import report")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mltrain-startup-"))
    write_csv(tmp / "data.csv")
    (tmp / "hand.py").write_text(HAND_SCRIPT.format(features=FEATURES))
    cmds = commands(tmp)
    for cmd in cmds.values():  # warm-up: page cache, .pyc files
        run_timed(cmd, tmp)
    times: dict[str, list[float]] = {name: [] for name in cmds}
    names = list(cmds)
    for r in range(args.repeats):
        for name in names if r % 2 == 0 else names[::-1]:  # ABBA: neither always runs first
            times[name].append(run_timed(cmds[name], tmp))
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"{ROWS:,}-row CSV, 1 epoch, {args.repeats} interleaved runs each; whole-process seconds")
    print(f"{'command':>8} {'median':>7} {'min':>7} {'max':>7}")
    for name, t in times.items():
        print(f"{name:>8} {medians[name]:>7.3f} {min(t):>7.3f} {max(t):>7.3f}")
    ratio = medians["mltrain"] / medians["hand"]
    print(f"mltrain / hand {ratio:.3f}: {'meets' if ratio <= GOAL else 'misses'} the goal of {GOAL:.2f}x")
    if not args.no_importtime:
        import_report(cmds["mltrain"], tmp, args.top)
    if args.keep:
        print(f"kept {tmp}")
    else:
        import shutil

        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
