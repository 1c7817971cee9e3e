"""Register the Wisconsin breast cancer data (it ships inside scikit-learn) as a dataset.

Usage: python examples/breast_cancer/prepare.py [WORKSPACE]
then:  shipyard --home WORKSPACE pipeline run examples/breast_cancer/pipeline.yaml
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from sklearn.datasets import load_breast_cancer

import shipyard


def tumours() -> pd.DataFrame:
    """One row per tumour: 30 measurements, an id, and the target ``malignant``."""
    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.rename(columns=lambda c: c.replace(" ", "_"))
    frame = frame.rename(columns={"target": "benign"})
    frame["malignant"] = frame.pop("benign") == 0  # scikit-learn codes benign as 1
    frame.insert(0, "tumour_id", [f"t{i:04d}" for i in range(len(frame))])
    return frame


def main(home: str) -> None:
    with shipyard.connect(Path(home)) as ws:
        version = ws.datasets.register(
            "tumours", tumours(), id_columns=["tumour_id"], target="malignant",
            description="Wisconsin diagnostic breast cancer data (scikit-learn)",
        )  # fmt: skip
        ws.quality.baseline(version.ref)
        print(f"registered {version.ref} ({version.rows} rows) and its baseline")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "breast-cancer-workspace")
