"""X-Shipyard-Extra-Columns: a caller that sends every column it knows (a replay, whose
variants' models take different columns) asks the endpoint to drop what a model does not
take; by default an unknown column is still refused, as every problem is."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from tests.conftest import serving_in_thread
from tests.serving.async_helpers import COLUMNS, frame, make_endpoint

pytestmark = pytest.mark.filterwarnings("ignore:X has feature names:UserWarning")


def test_extra_columns_are_refused_by_default_and_dropped_when_asked(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    model = make_endpoint(home)
    rows = frame(5, 3)
    body = {"columns": {**rows.to_dict("list"), "gate": ["B12"] * 5, "tail": [1] * 5}}
    with serving_in_thread(home) as (base, _app):
        url = f"{base}/endpoints/scores/invocations"
        refused = httpx.post(url, json=body)
        ignored = httpx.post(url, json=body, headers={"X-Shipyard-Extra-Columns": "ignore"})
        strict = httpx.post(url, json=body, headers={"X-Shipyard-Extra-Columns": "refuse"})
        wrong = httpx.post(url, json=body, headers={"X-Shipyard-Extra-Columns": "keep"})
        lacking = httpx.post(
            url,
            json={"columns": {"a": [1.0], "gate": ["B"]}},
            headers={"X-Shipyard-Extra-Columns": "ignore"},
        )
        app = _app
        app.state.serving.capture.flush()
    assert refused.status_code == 422 and "unknown column(s) 'gate', 'tail'" in refused.text
    assert strict.status_code == 422
    assert ignored.status_code == 200, ignored.text
    assert ignored.json()["predictions"] == model.predict(rows[COLUMNS]).tolist()
    assert wrong.status_code == 400 and "X-Shipyard-Extra-Columns" in wrong.json()["message"]
    # Dropping extras never fills a missing column: still every problem, in one 422.
    assert lacking.status_code == 422 and "missing column 'b'" in lacking.text
    from shipyard.serving.capture import read_capture

    captured = read_capture(home, "scores", columns=["request_id", "input", "status"]).to_pylist()
    kept = [r for r in captured if r["request_id"] == ignored.json()["request_id"]]
    assert kept and '"gate"' not in kept[0]["input"]  # the capture holds what the model took
