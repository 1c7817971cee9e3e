"""Batch transform reads its input from and writes its output to s3:// (moto's server):
on the local engine, and from Dask worker processes, which reach the server through the
AWS variables they inherit."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.batch.data import GROUP, ROWS, frame


def test_s3_input_and_output_on_both_engines(ws: Any, s3_url: str) -> None:
    import fsspec

    pytest.importorskip("distributed")
    fs, root = fsspec.core.url_to_fs(s3_url)
    table = pa.Table.from_pandas(frame(), preserve_index=False)
    with fs.open(f"{root}/input/data.parquet", "wb") as handle:
        pq.write_table(table, handle, row_group_size=GROUP)

    local = ws.batch.transform("model:delay@1", f"{s3_url}/input/", f"{s3_url}/local")
    on_dask = ws.batch.transform(
        "model:delay@1", f"{s3_url}/input/", f"{s3_url}/dask", engine="dask", workers=2
    )
    assert (local.rows, local.parts) == (ROWS, 4) and on_dask.digest == local.digest
    for name in ("local", "dask"):
        fs.invalidate_cache()
        files = sorted(p.rsplit("/", 1)[-1] for p in fs.ls(f"{root}/{name}"))
        assert files == sorted(
            [*(f"part-{i:05d}.parquet" for i in range(4)), "_SUCCESS", "_manifest.json"]
        )
    assert fs.cat_file(f"{root}/dask/part-00002.parquet") == fs.cat_file(
        f"{root}/local/part-00002.parquet"
    )
    again = ws.batch.transform("model:delay@1", f"{s3_url}/input/", f"{s3_url}/dask")
    assert again.resumed == 4 and again.digest == local.digest
