"""``loss.class_weight=balanced`` on an imbalanced real table: macro-F1 and the rare class's recall, with and
without the weights, over several seeds (the figures in docs/training-options.md).

    python benchmarks/bench_class_weights.py                  # 5 seeds, bce and sparse categorical CE
    python benchmarks/bench_class_weights.py --seeds 2 --losses bce

Table: scikit-learn's breast cancer diagnoses with every benign row (357) and only ``--malignant`` of the
212 malignant ones (chosen with a fixed seed), written to a CSV in a temporary directory. Each run is
``mltrain fit dataset=csv ... loss=<loss> metric=[f1,recall] dataset.test_fraction=0.3 model.hidden=[16]
trainer.epochs=<--epochs> optimizer.lr=<--lr>``, once plain and once with ``loss.class_weight=balanced``;
the test split (30 %, stratified, scored once with the best epoch's weights) gives macro-F1 and macro
recall, and the rare class's validation recall is read from the run's classification report. Means over
the seeds are printed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer

import mltrain


def write_table(folder: Path, malignant: int) -> Path:
    frame = load_breast_cancer(as_frame=True).frame
    frame["diagnosis"] = np.where(frame.pop("target") == 0, "malignant", "benign")
    rng = np.random.default_rng(0)
    rare = rng.choice(np.flatnonzero(frame.diagnosis == "malignant"), malignant, replace=False)
    kept = np.sort(np.concatenate([np.flatnonzero(frame.diagnosis == "benign"), rare]))
    path = folder / "cancer_imbalanced.csv"
    frame.iloc[kept].to_csv(path, index=False)
    return path


def one_run(path: Path, loss: str, weighted: bool, seed: int, folder: Path, args: argparse.Namespace) -> dict:
    overrides = [
        "dataset=csv", f"dataset.path={path}", "dataset.target=diagnosis", f"loss={loss}",
        "metric=[f1,recall]", "dataset.test_fraction=0.3", "model.hidden=[16]",
        f"trainer.epochs={args.epochs}", f"optimizer.lr={args.lr}", f"seed={seed}",
        *(["loss.class_weight=balanced"] if weighted else []),
    ]  # fmt: skip
    run = mltrain.fit(*overrides, run_dir=folder / f"{loss}_{weighted}_{seed}")
    summary = json.loads((run.path / "summary.json").read_text())
    report = json.loads((run.path / "classification_report.json").read_text())
    rare = next(v for k, v in report.items() if "malignant" in str(k)) if isinstance(report, dict) else {}
    return {
        "test_f1": summary["test"]["test_f1"],
        "test_recall": summary["test"]["test_recall"],
        "val_malignant_recall": float(rare.get("recall", float("nan"))) if isinstance(rare, dict) else np.nan,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--malignant", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--losses", nargs="+", default=["bce", "sparse_categorical_crossentropy"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = write_table(folder, args.malignant)
        rows = f"357 benign + {args.malignant} malignant rows"
        print(
            f"breast cancer: {rows}; {args.seeds} seeds; test split 30 %; {args.epochs} epochs, lr {args.lr}"
        )
        print(f"{'loss':<33} {'class_weight':<13} {'test macro-F1':>13} {'test macro recall':>17} "
              f"{'val malignant recall':>20}")  # fmt: skip
        for loss in args.losses:
            for weighted in (False, True):
                rows = [one_run(path, loss, weighted, seed, folder, args) for seed in range(args.seeds)]
                mean = {k: statistics.mean(r[k] for r in rows) for k in rows[0]}
                print(f"{loss:<33} {'balanced' if weighted else 'none':<13} {mean['test_f1']:>13.4f} "
                      f"{mean['test_recall']:>17.4f} {mean['val_malignant_recall']:>20.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
