"""mltrain on real tables against scikit-learn: defaults, ``preset=tabular``, HistGradientBoosting, and
LogisticRegression or Ridge, on the same seeded splits (issue 24).

    pip install -e ".[bench]"                          # tabm, rtdl-num-embeddings, statsmodels' data sets
    python benchmarks/bench_tabular.py --threads 1 --jobs 2   # 10 tables, 1 split (docs/tabular.md: ~45 min)
    python benchmarks/bench_tabular.py --quick         # the 7 tables under 1,000 rows (~5 min)
    python benchmarks/bench_tabular.py --tables wine fair --seeds 3 --csv out.csv

Every table ships inside a pip package, nothing is downloaded: scikit-learn's bundled sets
(``load_*``) and statsmodels' (``statsmodels.api.datasets.*``). Numeric codes that name categories in the
data sets' own documentation are written as their text (``fair``'s occupations, ``anes96``'s education,
``grunfeld``'s firms are text already), so the tables have text columns as a user's CSV would;
``fertility`` has missing values; ``randhie`` has 20,190 rows.

Each split (seed s) holds out 25% of the rows as the test set (stratified for classes). mltrain runs the
way the docs tell a user to, as a subprocess on the training rows written to a CSV:
``mltrain fit dataset=csv dataset.path=train.csv dataset.target=T`` (+ ``loss=mse`` for regression,
``dataset.missing=impute`` where there are gaps), once as is (``defaults``) and once with
``preset=tabular``; the run then predicts the test CSV (``mltrain.api.load(run).predict``). scikit-learn
fits HistGradientBoosting (``hgb``) and LogisticRegression / Ridge (``linear``, with standard scaling) on
the same training rows, text columns one-hot encoded, gaps filled with the median (HGB takes them as they
are). Metric: accuracy for classes, R2 for regression, on the test rows. Wall time: the whole fit command
(start-up and writing the run included) or scikit-learn's fit, per split.

Win / tie / loss of each method against ``hgb``, per table: a paired comparison on the same test rows.
Each test row gives the method's and hgb's per-row score, correctness (0/1) for classes, the squared error
over the test target's variance for regression (their mean is 1 - R2); the difference, averaged over the
test rows of every split, is the difference of the two methods' scores, and its standard error is that
of a mean over those rows. A difference within twice its standard error (about a 95% band) or within
0.002 is a tie; beyond it, a win or a loss. The rows, not the seeds, give the spread: with 1-3 splits a
seed-to-seed standard deviation is itself too noisy to draw a band with (``sd`` is printed too).

Every process is given ``--threads`` threads (torch and scikit-learn's OpenMP); ``--jobs`` runs that many
fits side by side: keep ``jobs x threads`` at or under the cores, or the wall times mean nothing.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import math
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

METHODS = ("defaults", "preset", "hgb", "linear")
TIE = 0.002  # a difference this small is a tie whatever the spread


@dataclass
class Table:
    name: str
    frame: pd.DataFrame
    target: str
    task: str  # "classes" or "regression"
    source: str


def _sklearn(name: str) -> Callable[[], Table]:
    def load() -> Table:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, f"load_{name}")(as_frame=True)
        frame = bunch.frame.copy()
        regression = name == "diabetes"
        if not regression and name != "digits":
            frame["target"] = np.asarray(bunch.target_names)[frame["target"].to_numpy()]
        return Table(name, frame, "target", "regression" if regression else "classes", f"sklearn load_{name}")

    return load


def _statsmodels(name: str) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import statsmodels.api as sm

        return getattr(sm.datasets, name).load_pandas().data.copy()


OCCUPATIONS = {
    1: "student",
    2: "farming, semi-skilled, unskilled",
    3: "white collar",
    4: "teacher, nurse, artist, skilled",
    5: "managerial, business, sales",
    6: "professional, advanced degree",
}  # fmt: skip  (statsmodels' fair NOTE)
EDUCATION = {
    1: "1-8 grades",
    2: "some high school",
    3: "high school graduate",
    4: "some college",
    5: "college degree",
    6: "master's degree",
    7: "PhD",
}  # fmt: skip  (statsmodels' anes96 NOTE)


def fair() -> Table:
    """6,366 women: had an affair (affairs > 0) or not; occupations as text."""
    frame = _statsmodels("fair")
    frame["affair"] = np.where(frame.pop("affairs") > 0, "yes", "no")
    for column in ("occupation", "occupation_husb"):
        frame[column] = frame[column].astype(int).map(OCCUPATIONS)
    return Table("fair", frame, "affair", "classes", "statsmodels fair")


def anes96() -> Table:
    """944 voters of 1996: Clinton or Dole; education as text (logpopul, log of popul, left out)."""
    frame = _statsmodels("anes96").drop(columns=["logpopul"])
    frame["vote"] = np.where(frame["vote"] > 0, "Dole", "Clinton")
    frame["educ"] = frame["educ"].astype(int).map(EDUCATION)
    return Table("anes96", frame, "vote", "classes", "statsmodels anes96")


def grunfeld() -> Table:
    """220 firm-years: gross investment from firm value, capital stock, the firm (text, 11) and year."""
    frame = _statsmodels("grunfeld")
    frame["firm"] = frame["firm"].astype(str)
    return Table("grunfeld", frame, "invest", "regression", "statsmodels grunfeld")


def randhie() -> Table:
    """20,190 people of the RAND health insurance experiment: outpatient visits (a count) to regress."""
    frame = _statsmodels("randhie")
    frame["mdvis"] = frame["mdvis"].astype(float)
    return Table("randhie", frame, "mdvis", "regression", "statsmodels randhie")


def fertility() -> Table:
    """Countries' fertility rate in 2011 from the rates of 1960-1990, with gaps (and rows without a 2011)."""
    frame = _statsmodels("fertility")
    frame = frame[[str(y) for y in range(1960, 1991)] + ["2011"]].dropna(subset=["2011"])
    frame.columns = [f"y{c}" for c in frame.columns]
    return Table("fertility", frame.reset_index(drop=True), "y2011", "regression", "statsmodels fertility")


TABLES: dict[str, Callable[[], Table]] = {
    "breast_cancer": _sklearn("breast_cancer"),
    "wine": _sklearn("wine"),
    "iris": _sklearn("iris"),
    "digits": _sklearn("digits"),
    "diabetes": _sklearn("diabetes"),
    "anes96": anes96,
    "fair": fair,
    "grunfeld": grunfeld,
    "fertility": fertility,
    "randhie": randhie,
}
QUICK = ["breast_cancer", "wine", "iris", "diabetes", "anes96", "grunfeld", "fertility"]  # < 1,000 rows


def split(table: Table, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    index = np.arange(len(table.frame))
    labels = table.frame[table.target] if table.task == "classes" else None
    return train_test_split(index, test_size=0.25, random_state=seed, stratify=labels)


def score(table: Table, truth: pd.Series, predicted: np.ndarray) -> tuple[float, list[float]]:
    """``(accuracy or R2, per-row score)``: per row, 1 if right (classes) or minus the squared error over
    the test target's variance (regression), so a higher per-row score is better for both."""
    from sklearn.metrics import accuracy_score, r2_score

    if table.task == "classes":
        right = truth.astype(str).to_numpy() == pd.Series(predicted).astype(str).to_numpy()
        return float(accuracy_score(truth.astype(str), pd.Series(predicted).astype(str))), right.tolist()
    values = truth.to_numpy(dtype=float)
    per_row = -((values - predicted) ** 2) / values.var()
    return float(r2_score(truth, predicted)), per_row.tolist()


def run_mltrain(table: Table, train: pd.DataFrame, test: pd.DataFrame, preset: bool, threads: int,
                folder: Path) -> tuple[tuple[float, list[float]], float]:  # fmt: skip
    """``(test score, seconds)`` of ``mltrain fit`` on ``train`` (a subprocess, as a user runs it)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "train.csv"
    train.to_csv(data, index=False)
    args = ["dataset=csv", f"dataset.path={data}", f"dataset.target={table.target}",
            f"trainer.num_threads={threads}", f"hydra.run.dir={folder / 'run'}"]  # fmt: skip
    if preset:
        args.insert(0, "preset=tabular")
    if table.task == "regression":
        args.append("loss=mse")
    if train.drop(columns=[table.target]).isna().any().any():
        args.append("dataset.missing=impute")
    env = os.environ | {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mltrain", "fit", *args], cwd=folder, env=env,
                          capture_output=True, text=True)  # fmt: skip
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{table.name}: mltrain fit {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    from mltrain import api

    predicted = api.load(folder / "run").predict(test.drop(columns=[table.target]))["prediction"]
    return score(table, test[table.target], predicted.to_numpy()), seconds


def run_sklearn(
    table: Table, train: pd.DataFrame, test: pd.DataFrame, method: str
) -> tuple[tuple[float, list[float]], float]:
    """``(test score, seconds)`` of HistGradientBoosting or LogisticRegression / Ridge."""
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    x_train, x_test = train.drop(columns=[table.target]), test.drop(columns=[table.target])
    text = [c for c in x_train if not pd.api.types.is_numeric_dtype(x_train[c])]
    numeric = [c for c in x_train if c not in text]
    classes = table.task == "classes"
    if method == "hgb":
        encode = make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore", sparse_output=False), text), remainder="passthrough"
        )
        model = HistGradientBoostingClassifier if classes else HistGradientBoostingRegressor
        pipeline = make_pipeline(encode, model(random_state=0))
    else:
        encode = make_column_transformer(
            (make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            (OneHotEncoder(handle_unknown="ignore", sparse_output=False), text),
        )
        model = LogisticRegression(max_iter=2000) if classes else RidgeCV(alphas=np.logspace(-3, 3, 13))
        pipeline = make_pipeline(encode, model)
    start = time.perf_counter()
    pipeline.fit(x_train, train[table.target])
    seconds = time.perf_counter() - start
    return score(table, test[table.target], pipeline.predict(x_test)), seconds


def one(name: str, seed: int, method: str, threads: int, root: str) -> dict[str, object]:
    """One method on one split of one table (run in a worker process)."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    table = TABLES[name]()
    train_rows, test_rows = split(table, seed)
    train, test = table.frame.iloc[train_rows], table.frame.iloc[test_rows]
    if method in ("defaults", "preset"):
        folder = Path(root) / f"{name}_{seed}_{method}"
        (value, per_row), seconds = run_mltrain(table, train, test, method == "preset", threads, folder)
    else:
        (value, per_row), seconds = run_sklearn(table, train, test, method)
    return {"table": name, "seed": seed, "method": method, "score": value, "seconds": seconds,
            "per_row": per_row}  # fmt: skip


def verdict(differences: np.ndarray) -> tuple[str, float, float]:
    """``(win | tie | loss, mean difference, band)`` of per-row paired differences (method - hgb)."""
    mean = float(differences.mean())
    band = max(TIE, 2 * float(differences.std(ddof=1)) / math.sqrt(len(differences)))
    return ("tie" if abs(mean) <= band else "win" if mean > 0 else "loss"), mean, band


def summarise(results: list[dict[str, object]], names: list[str]) -> list[dict[str, object]]:
    """One row per table and method: mean score, its spread, mean seconds, and the verdict against hgb."""
    frame = pd.DataFrame(results)
    rows = []
    for name in names:
        table = TABLES[name]()
        part = frame[frame.table == name]
        hgb = part[part.method == "hgb"].set_index("seed")
        for method in METHODS:
            mine = part[part.method == method].set_index("seed")
            if mine.empty:
                continue
            seeds = [s for s in mine.index if s in hgb.index]
            paired = np.concatenate(
                [np.subtract(mine.per_row[s], hgb.per_row[s], dtype=float) for s in seeds]
            )
            outcome, difference, band = verdict(paired) if method != "hgb" else ("", 0.0, 0.0)
            rows.append({
                "table": name, "rows": len(table.frame), "task": table.task,
                "metric": "accuracy" if table.task == "classes" else "r2", "method": method,
                "score": round(float(mine.score.mean()), 4),
                "sd": round(float(mine.score.std(ddof=1)), 4) if len(mine) > 1 else 0.0,
                "seconds": round(float(mine.seconds.mean()), 1),
                "vs_hgb": outcome, "difference": round(difference, 4), "band": round(band, 4),
            })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", nargs="+", choices=list(TABLES), default=None)
    parser.add_argument("--seeds", type=int, default=1, help="splits per table (seeds 0..N-1)")
    parser.add_argument("--quick", action="store_true", help="1 split of each table under 1,000 rows")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--threads", type=int, default=2, help="threads of each fit")
    parser.add_argument("--jobs", type=int, default=1, help="fits run side by side")
    parser.add_argument("--csv", default="bench_tabular.csv", help="where the table is written")
    args = parser.parse_args()
    names = args.tables or (QUICK if args.quick else list(TABLES))
    seeds = range(1 if args.quick else args.seeds)
    methods = list(dict.fromkeys(["hgb", *args.methods]))
    work = [(n, s, m) for n in names for s in seeds for m in methods]
    results = []
    with tempfile.TemporaryDirectory() as root, concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(one, n, s, m, args.threads, root): (n, s, m) for n, s, m in work}
        for future in concurrent.futures.as_completed(futures):
            result = future.result()
            results.append(result)
            line = f"  {result['table']:<14} seed {result['seed']}  {result['method']:<8}"
            print(f"{line} {result['score']:.4f}  {result['seconds']:.1f}s", file=sys.stderr, flush=True)
    rows = summarise(results, names)
    with open(args.csv, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"| table | rows | metric | {' | '.join(m for m in METHODS if m in methods)} |")
    print("|---|---:|---|" + "---:|" * len([m for m in METHODS if m in methods]))
    for name in names:
        mine = {r["method"]: r for r in rows if r["table"] == name}
        first = next(iter(mine.values()))
        cells = []
        for method in [m for m in METHODS if m in mine]:
            r = mine[method]
            verdict_ = f" {r['vs_hgb']}" if r["vs_hgb"] else ""
            cells.append(f"{r['score']:.3f}{verdict_} ({r['seconds']:.0f} s)")
        print(f"| {name} | {first['rows']:,} | {first['metric']} | {' | '.join(cells)} |")
    for method in [m for m in methods if m != "hgb"]:
        verdicts = [r["vs_hgb"] for r in rows if r["method"] == method]
        print(f"{method} vs hgb: {verdicts.count('win')} wins, {verdicts.count('tie')} ties, "
              f"{verdicts.count('loss')} losses")  # fmt: skip
    print(f"wrote {args.csv}", file=sys.stderr)


if __name__ == "__main__":
    main()
