"""Batch transform test data: a small frame with an id column the models do not take,
and readers of an output folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

ROWS, GROUP = 200, 50
FEATURES = ["a", "b", "c", "d"]


def frame(rows: int = ROWS, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    data.insert(0, "id", np.arange(rows, dtype=np.int64))
    return data


def read_output(folder: str | Path) -> pd.DataFrame:
    """The output's part files, in order, as one frame."""
    files = sorted(Path(folder).glob("part-*.parquet"))
    return pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)


def part_bytes(folder: str | Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(Path(folder).glob("part-*.parquet"))}
