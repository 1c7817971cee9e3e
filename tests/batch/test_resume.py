"""A run that stops part way resumes from the last finished part, and the resumed output
is byte for byte the output of a run that was never interrupted: whether the run raised
(the caller's progress hook stands in for any failure between parts) or its process was
killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from tests.batch.data import GROUP, ROWS, part_bytes


class Stop(Exception):
    pass


def stop_after(rows: int) -> Any:
    def progress(done: int, total: int) -> None:
        if done >= rows:
            raise Stop(f"stopped after {done} rows")

    return progress


def test_a_failed_run_resumes_from_the_parts_it_finished(ws: Any, source: str, tmp_path: Path):
    whole = ws.batch.transform("model:delay@1", source, str(tmp_path / "whole"), join_source=True)
    output = str(tmp_path / "out")
    with pytest.raises(Stop):
        ws.batch.transform(
            "model:delay@1", source, output, join_source=True, progress=stop_after(2 * GROUP)
        )
    assert len(part_bytes(output)) == 2 and not (tmp_path / "out" / "_manifest.json").exists()
    failed = ws.runs.runs("batch-transform")
    assert sorted(r.status for r in failed) == ["failed", "finished"]

    seen: list[int] = []
    resumed = ws.batch.transform(
        "model:delay@1", source, output, join_source=True, progress=lambda d, t: seen.append(d)
    )
    assert resumed.resumed == 2 and seen == [2 * GROUP, 3 * GROUP, ROWS]
    assert resumed.digest == whole.digest
    assert part_bytes(output) == part_bytes(tmp_path / "whole")
    assert ws.runs.get_run(resumed.run).metrics["resumed_parts"] == 2


def test_a_part_file_cut_short_is_written_again(ws: Any, source: str, tmp_path: Path) -> None:
    output = tmp_path / "out"
    whole = ws.batch.transform("model:delay@1", source, str(output))
    (output / "_manifest.json").unlink()
    (output / "part-00001.parquet").write_bytes(b"PAR1 and then nothing")
    (output / ".part-00002.parquet.0123456789abcdef0123456789abcdef.tmp").write_bytes(b"half")
    again = ws.batch.transform("model:delay@1", source, str(output))
    assert again.resumed == 3 and again.digest == whole.digest
    assert not list(output.glob(".*.tmp"))


def test_a_killed_process_resumes(ws: Any, source: str, tmp_path: Path) -> None:
    whole = ws.batch.transform("model:delay@1", source, str(tmp_path / "whole"))
    output = str(tmp_path / "out")
    script = textwrap.dedent(f"""
        import os, signal, shipyard

        def progress(done, total):
            if done >= {2 * GROUP}:
                os.kill(os.getpid(), signal.SIGKILL)

        ws = shipyard.connect({str(ws.settings.home)!r})
        ws.batch.transform("model:delay@1", {source!r}, {output!r}, progress=progress)
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    killed = subprocess.run([sys.executable, "-c", script], env=env, timeout=120, check=False)
    assert killed.returncode == -signal.SIGKILL
    assert len(part_bytes(output)) == 2
    resumed = ws.batch.transform("model:delay@1", source, output)
    assert resumed.resumed == 2 and resumed.digest == whole.digest
    assert part_bytes(output) == part_bytes(tmp_path / "whole")
