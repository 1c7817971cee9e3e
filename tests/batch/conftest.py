"""Batch transform fixtures: a workspace with a classifier and a regressor registered, and
a small Parquet input of four row groups (so four parts)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.batch.data import FEATURES, GROUP, frame


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Any]:
    from sklearn.linear_model import LinearRegression, LogisticRegression

    import shipyard

    train = frame(400, seed=1)[FEATURES]
    labels = np.where(train.a + train.b > 0, "late", "on_time")
    with shipyard.connect(tmp_path / "home") as workspace:
        classifier = LogisticRegression().fit(train, labels)
        workspace.models.register("delay", classifier, input_example=train.head())
        regressor = LinearRegression().fit(train, train.a * 2 + train.c)
        workspace.models.register("minutes", regressor, input_example=train.head())
        yield workspace


@pytest.fixture
def source(tmp_path: Path) -> str:
    """A Parquet file of four row groups: four parts."""
    path = tmp_path / "input.parquet"
    pq.write_table(pa.Table.from_pandas(frame(), preserve_index=False), path, row_group_size=GROUP)
    return str(path)
