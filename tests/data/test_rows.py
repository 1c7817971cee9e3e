"""Row hashes and hash-based duplicate detection agree with pandas, collisions excluded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.data import rows
from shipyard.errors import InvalidInput


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3), st.sampled_from(["a", "b", None]), st.sampled_from([0.5, None])
        ),
        max_size=40,
    ),
    st.sampled_from(["first", "last"]),
)
def test_duplicated_matches_pandas(data, keep) -> None:  # type: ignore[no-untyped-def]
    frame = pd.DataFrame(data, columns=["i", "s", "f"]).astype({"i": "int64", "f": "float64"})
    expected = frame.duplicated(keep=keep).to_numpy()
    assert (rows.duplicated(frame, keep=keep) == expected).all()


def test_a_hash_collision_is_not_a_duplicate(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = pd.DataFrame({"a": [1, 2, 3, 1], "b": ["x", "y", "z", "x"]})
    monkeypatch.setattr(rows, "row_hashes", lambda f, c: np.zeros(len(f), dtype=np.uint64))
    assert rows.duplicated(frame).tolist() == [False, False, False, True]


def test_columns_and_bad_input() -> None:
    frame = pd.DataFrame({"a": [1, 1], "b": [1, 2]})
    assert rows.duplicated(frame, ["a"]).tolist() == [False, True]
    assert rows.duplicated(frame).tolist() == [False, False]
    with pytest.raises(InvalidInput, match="'c'"):
        rows.duplicated(frame, ["c"])
    with pytest.raises(InvalidInput, match="keep"):
        rows.duplicated(frame, keep="none")  # type: ignore[arg-type]
