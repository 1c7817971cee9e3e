"""Text that is not valid Unicode (a lone surrogate, as invalid UTF-8 bytes on a command
line become) is bad input at every entry point: a clear InvalidInput, never a crash of the
database driver and never tracking data lost at exit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import shipyard
from shipyard.errors import InvalidInput

BAD = "x\ud800"


@pytest.mark.parametrize(
    "call",
    [
        lambda ws: ws.datasets.register("d", pd.DataFrame({"a": [1]}), description=BAD),
        lambda ws: ws.features.get_online([{"origin": "x"}], [f"{BAD}/temp"]),
        lambda ws: ws.runs.start_run("e", BAD),
        lambda ws: ws.runs.start_run("e", "run").log_params({"p": BAD}),
        lambda ws: ws.runs.start_run("e", "run").set_tags({"t": BAD}),
        lambda ws: ws.runs.start_run("e", "run").log_metric(BAD, 1.0),
    ],
    ids=["description", "feature ref", "run name", "param", "tag", "metric key"],
)
def test_a_lone_surrogate_is_bad_input(call: Any, tmp_path: Path) -> None:
    with shipyard.connect(tmp_path / "home") as ws:
        with pytest.raises(InvalidInput, match=r"surrogate|not valid"):
            call(ws)
        assert ws.datasets.list() == []  # nothing half-written
