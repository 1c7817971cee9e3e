"""Content hashes, code versions and lineage records."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.errors import InvalidInput
from shipyard.lineage import (
    CodeVersion,
    Lineage,
    code_version,
    hash_file,
    hash_table,
    new_build_id,
)

FRAME = pd.DataFrame(
    {
        "carrier": ["UA", "AA", "B6", None],
        "delay": [1.5, -2.0, np.nan, 30.0],
        "n": [1, 2, 3, 4],
        "at": pd.to_datetime(["2013-01-01", "2013-01-02", "2013-01-03", "2013-01-04"], utc=True),
    }
)


def test_the_same_table_in_any_form_or_chunking_hashes_the_same() -> None:
    table = pa.Table.from_pandas(FRAME, preserve_index=False)
    expected = hash_table(FRAME)
    assert hash_table(table) == expected
    assert hash_table(table.to_batches(max_chunksize=1)) == expected
    assert hash_table(pa.Table.from_batches(table.to_batches(max_chunksize=3))) == expected
    assert hash_table(FRAME.set_axis([10, 11, 12, 13])) == expected  # the index is not content


def test_row_order_matters_unless_told_otherwise() -> None:
    shuffled = FRAME.iloc[[2, 0, 3, 1]]
    assert hash_table(shuffled) != hash_table(FRAME)
    assert hash_table(shuffled, order_matters=False) == hash_table(FRAME, order_matters=False)


@pytest.mark.parametrize(
    "change",
    [
        lambda f: f.assign(delay=f["delay"].fillna(0.0)),  # a null becomes a value
        lambda f: f.rename(columns={"n": "m"}),  # a name
        lambda f: f.assign(n=f["n"].astype("float64")),  # a type
        lambda f: f[["n", "carrier", "delay", "at"]],  # column order
        lambda f: f.iloc[:3],  # a row fewer
        lambda f: f.assign(carrier=["UA", "AA", "B6", "9E"]),
    ],
)
def test_any_change_of_content_changes_the_hash(change) -> None:  # type: ignore[no-untyped-def]
    assert hash_table(change(FRAME)) != hash_table(FRAME)


def test_swapping_values_between_columns_changes_the_hash() -> None:
    a = pd.DataFrame({"x": [1, 2], "y": [3, 4]})
    b = pd.DataFrame({"x": [3, 4], "y": [1, 2]})
    assert hash_table(a) != hash_table(b)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(-5, 5), st.text(max_size=3)), max_size=30), st.randoms())
def test_order_free_hash_ignores_permutations(rows, rnd) -> None:  # type: ignore[no-untyped-def]
    frame = pd.DataFrame(rows, columns=["i", "s"]).astype({"i": "int64", "s": "object"})
    permuted = frame.sample(frac=1.0, random_state=rnd.randint(0, 1000))
    assert hash_table(frame, order_matters=False) == hash_table(permuted, order_matters=False)


def test_nested_values_hash() -> None:
    table = pa.table({"tags": [["a", "b"], [], None]})
    assert hash_table(table) == hash_table(table.to_batches(max_chunksize=1))


def test_bad_tables_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot hash a int"):
        hash_table(42)
    with pytest.raises(InvalidInput, match="No file"):
        hash_file(tmp_path / "missing")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def test_code_version_of_a_clean_and_a_dirty_tree(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / "train.py").write_text("print(1)\n")
    _git(tmp_path, "add", "train.py")
    _git(tmp_path, "commit", "-qm", "first")
    clean = code_version(tmp_path)
    assert clean.in_git and len(clean.commit or "") == 40 and not clean.dirty
    (tmp_path / "train.py").write_text("print(2)\n")
    dirty = code_version(tmp_path / "train.py")
    assert dirty.commit == clean.commit and dirty.dirty and dirty.diff_hash
    (tmp_path / "train.py").write_text("print(3)\n")
    assert code_version(tmp_path).diff_hash != dirty.diff_hash


def test_code_version_outside_git_is_a_clean_answer(tmp_path: Path) -> None:
    assert code_version(tmp_path) == CodeVersion()


def test_build_ids_sort_by_time_and_are_unique() -> None:
    early = new_build_id(datetime(2026, 1, 1, tzinfo=UTC))
    late = new_build_id(datetime(2026, 6, 1, tzinfo=UTC))
    assert early.startswith("build-20260101T000000Z-") and early < late
    assert len({new_build_id() for _ in range(100)}) == 100


def test_lineage_records_round_trip_and_refuse_unknown_fields() -> None:
    record = Lineage(datasets=("dataset:a@1",), code=CodeVersion("c" * 40, True, "d" * 64))
    assert Lineage.from_dict(record.to_dict()) == record
    with pytest.raises(InvalidInput, match="colour"):
        Lineage.from_dict({"colour": "red"})


def test_nulls_do_not_make_the_hash_depend_on_chunking() -> None:
    table = pa.table(
        {
            "i": [1, None, 3, 4],
            "b": [True, None, False, True],
            "s": ["a", None, "c", "d"],
            "ts": pa.array([1, None, 3, 4], pa.timestamp("us", tz="UTC")),
            "d": pa.array(["x", None, "x", "y"]).dictionary_encode(),
        }
    )
    expected = hash_table(table)
    for size in (1, 2, 3):
        assert hash_table(table.to_batches(max_chunksize=size)) == expected
    # a null is not the fill value
    assert hash_table(pa.table({"i": [1, None]})) != hash_table(pa.table({"i": [1, 0]}))
