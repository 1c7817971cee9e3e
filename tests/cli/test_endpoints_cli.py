"""`shipyard endpoints` as a user runs it: create, show, list, weights, history, delete;
--json shapes (the same as the API's), and bad input as one line with its exit code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression

import shipyard
from shipyard.api.app import create_app
from shipyard.cli.main import main


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A workspace with model ``delay`` at versions 1 and 2 (``champion`` -> 2)."""
    folder = tmp_path / "home"
    X = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) % 3})
    model = LogisticRegression().fit(X, (X["a"] > 10).to_numpy())
    with shipyard.connect(folder) as ws:
        pipeline = ws.as_principal("pipeline")
        for _ in range(2):
            pipeline.models.register("delay", model, input_example=X.head())
        pipeline.models.set_alias("delay", "champion", 2)
    yield folder


def run(home: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--home", str(home), "endpoints", *args])
    out, err = capsys.readouterr()
    return code, out, err


def ok_json(home: Path, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code, out, err = run(home, capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_create_show_weights_history(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(home, capsys, "create", "delay-api", "--model", "delay@champion",
                         "--capture-rate", "0.5", "--no-batching")  # fmt: skip
    assert code == 0, err
    assert "model:delay@2" in out

    shown = ok_json(home, capsys, "show", "delay-api")
    assert shown["revision"] == 1
    assert (shown["capture_rate"], shown["batching"], shown["production"]) == (0.5, False, False)
    assert shown["created_from"] == "delay@champion"
    [primary] = shown["variants"]
    assert primary == {
        "name": "primary", "model": "model:delay@2", "weight": 1.0, "role": "primary",
        "share": 1.0, "created_from": "delay@champion",
    }  # fmt: skip

    with shipyard.connect(home) as ws:
        ws.endpoints.add_variant("delay-api", "challenger", "model:delay@1")
        ws.endpoints.add_variant("delay-api", "mirror", "delay@1", role="shadow")
    changed = ok_json(home, capsys, "weights", "delay-api", "primary=3", "challenger=1",
                      "--expected-revision", "3")  # fmt: skip
    shares = {v["name"]: v["share"] for v in changed["variants"]}
    assert shares == {"challenger": 0.25, "mirror": None, "primary": 0.75}

    code, out, _ = run(home, capsys, "show", "delay-api")
    assert code == 0 and "75.0%" in out and "25.0%" in out and "copies" in out

    listed = ok_json(home, capsys, "list")
    assert [e["name"] for e in listed] == ["delay-api"] and listed[0] == changed

    events = ok_json(home, capsys, "history", "delay-api")
    assert [e["event"] for e in events] == [
        "created", "variant_added", "variant_added", "weights_set"
    ]  # fmt: skip

    # The API answers the same JSON as the CLI.
    with shipyard.connect(home) as ws:
        assert events[-1]["by"] == ws.principal
        client = TestClient(create_app(ws))
        assert client.get("/endpoints/delay-api").json() == changed
        assert client.get("/endpoints").json() == listed
        missing = client.get("/endpoints/nope")
        assert missing.status_code == 404 and "delay-api" in missing.text

    code, out, err = run(home, capsys, "delete", "delay-api")
    assert code == 0 and "deleted" in out
    assert ok_json(home, capsys, "list") == []


@pytest.mark.parametrize(
    ("args", "exit_code", "says"),
    [
        (("show", "nope"), 3, "Endpoint 'nope' does not exist"),
        (("create", "e2", "--model", "delay"), 2, "names no version or alias"),
        (("create", "e2", "--model", "delay@7"), 3, "delay"),
        (("create", "e2", "--model", "delay@1", "--capture-rate", "2"), 2, "capture rate"),
        (("create", "e", "--model", "delay@1"), 4, "exists already"),
        (("weights", "e", "primary"), 2, "is not VARIANT=WEIGHT"),
        (("weights", "e", "primary=-1"), 2, "finite number >= 0"),
        (("weights", "e", "ghost=1"), 2, "no variant 'ghost'"),
        (("weights", "e", "primary=0"), 2, "no primary variant"),
        (("weights", "e", "primary=2", "--expected-revision", "7"), 4, "not 7 as expected"),
        (("create", "p", "--model", "delay@1", "--production"), 5, "only the 'pipeline'"),
    ],
)
def test_bad_input_is_one_line_with_its_exit_code(
    home: Path,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    exit_code: int,
    says: str,
) -> None:
    assert run(home, capsys, "create", "e", "--model", "delay@1")[0] == 0
    code, _, err = run(home, capsys, *args)
    assert code == exit_code, err
    assert says in err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2
