#!/usr/bin/env python3
"""Export the real data sets shipped in data/ from scikit-learn.

Writes data/iris.csv, data/wine.csv, data/breast_cancer.csv and data/digits.csv
(relative to the repository root, whatever the working directory): one header row
with the feature names and a last column `label`, then one row per sample.

* iris and breast_cancer use the class names (setosa, ...; malignant/benign) as labels;
  wine and digits use the integer targets.
* Floats are written in the shortest form that reads back to the same float64
  (Python's repr), integral values without a trailing ".0".

Usage:  python3 -m pip install scikit-learn && python3 scripts/export_datasets.py
The output is deterministic: running it again gives byte-identical files.
"""

import csv
import math
import pathlib

from sklearn import datasets

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "data"


def fmt(v: float) -> str:
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f"non-finite value {v!r}")
    if v.is_integer() and abs(v) < 2**53:
        return str(int(v))
    return repr(v)  # shortest round-trip representation


def export(name: str, bunch, label_names: bool) -> None:
    x, y = bunch.data, bunch.target
    if label_names:
        labels = [str(bunch.target_names[t]) for t in y]
    else:
        labels = [str(int(t)) for t in y]
    if getattr(bunch, "feature_names", None) is not None:
        header = [str(f) for f in bunch.feature_names]
    else:
        header = [f"f{j}" for j in range(x.shape[1])]
    assert "label" not in header
    path = OUT / f"{name}.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header + ["label"])
        for row, lab in zip(x, labels):
            w.writerow([fmt(v) for v in row] + [lab])
    print(f"{path.relative_to(ROOT)}: {x.shape[0]} rows, {x.shape[1]} features, "
          f"{len(set(labels))} classes")


def main() -> None:
    OUT.mkdir(exist_ok=True)
    export("iris", datasets.load_iris(), label_names=True)
    export("wine", datasets.load_wine(), label_names=False)
    export("breast_cancer", datasets.load_breast_cancer(), label_names=True)
    export("digits", datasets.load_digits(), label_names=False)


if __name__ == "__main__":
    main()
