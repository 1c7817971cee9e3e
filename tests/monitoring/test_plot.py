"""Drift-over-time plots: the Plotly figure, the self-contained HTML and the matplotlib PNG."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import InvalidInput
from shipyard.monitoring.plot import (
    EMPTY_MESSAGE,
    TimelineEvent,
    drift_figure,
    drift_png,
    write_html,
)
from shipyard.monitoring.series import SeriesPoint

T0 = datetime(2024, 5, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
FEATURES = ("distance", "carrier")
DEPLOYED = "model:delay@3 deployed (canary)"
TIMELINE = (TimelineEvent(T0 + 12 * HOUR, DEPLOYED, "deployment"),)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FLAG = "#d62728"


def point(
    stage: str,
    metric: str,
    feature: str,
    hour: int,
    value: float,
    *,
    variant: str = "",
    p_value: float | None = None,
    flagged: bool = False,
    rows: int = 0,
    detail: dict[str, Any] | None = None,
) -> SeriesPoint:
    start = T0 + hour * HOUR
    return SeriesPoint(
        "delay",
        variant,
        stage,
        metric,
        feature,
        start,
        start + HOUR,
        value,
        p_value,
        flagged,
        rows,
        detail or {},
    )


def drifting() -> list[SeriesPoint]:
    """2 features over 24 hourly windows; both drift from hour 12 (the deployment) on."""
    points = []
    for hour in range(24):
        drift = hour >= 12
        points.append(
            point(
                "input",
                "ks",
                "distance",
                hour,
                0.3 if drift else 0.02,
                p_value=1e-9 if drift else 0.6,
                flagged=drift,
                rows=500,
            )
        )
        points.append(
            point("input", "js", "carrier", hour, 0.25 if drift else 0.01, flagged=drift, rows=500)
        )
    return points


def quality_and_outcome() -> list[SeriesPoint]:
    points = []
    for hour in range(24):
        points.append(
            point(
                "quality",
                "roc_auc",
                "",
                hour,
                0.8 - 0.01 * max(hour - 12, 0),
                detail={"low": 0.75, "high": 0.85},
            )
        )
        points.append(
            point("estimated", "roc_auc", "", hour, 0.79, detail={"low": 0.7, "high": 0.86})
        )
        for variant, rate in (("champion", 0.1), ("challenger", 0.12)):
            points.append(point("outcome", "on_time_rate", "", hour, rate, variant=variant))
    return points


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_html_is_self_contained_and_names_features_and_deployment(tmp_path: Path) -> None:
    figure = drift_figure(drifting(), TIMELINE, title="delay: drift over time")
    out = write_html(figure, tmp_path / "drift.html")

    assert out == tmp_path / "drift.html"
    html = out.read_text(encoding="utf-8")
    assert '<script src="http' not in html  # plotly.js inlined: opens offline
    for feature in FEATURES:
        assert feature in html
    assert DEPLOYED in html
    assert [path.name for path in tmp_path.iterdir()] == ["drift.html"]  # no temp file left


def test_flagged_points_are_filled_red() -> None:
    figure = drift_figure(drifting(), TIMELINE, title="delay")
    traces = [trace for trace in figure.data if trace.name == "distance ks"]

    assert len(traces) == 2  # the statistic and its p-value row, one legend entry
    assert [trace.showlegend for trace in traces] == [True, False]
    for trace in traces:
        colors = list(trace.marker.color)
        assert colors[:12] == [colors[0]] * 12 and colors[0] != FLAG
        assert colors[12:] == [FLAG] * 12


def test_panels_per_stage_p_value_on_log_axis_and_model_age() -> None:
    figure = drift_figure(drifting() + quality_and_outcome(), TIMELINE, title="delay")
    titles = [annotation.text for annotation in figure.layout.annotations]

    assert titles == [
        "timeline",
        "input: drift statistic",
        "input: p-value (log)",
        "quality: realized vs estimated",
        "outcome rates",
    ]
    assert figure.layout.yaxis3.type == "log"  # row 1 timeline, 2 statistic, 3 p-value
    names = {trace.name for trace in figure.data}
    assert {"carrier js", "roc_auc realized", "roc_auc estimated"} <= names
    assert {"on_time_rate [champion]", "on_time_rate [challenger]"} <= names
    assert any(trace.fill == "tonexty" for trace in figure.data)  # the interval band
    shapes = figure.layout.shapes  # the deployment's vertical line, through every row
    assert len(shapes) == len(titles) and {shape.x0 for shape in shapes} == {T0 + 12 * HOUR}
    hover = next(trace for trace in figure.data if trace.name == "distance ks").hovertext
    assert "unknown" in hover[0]
    assert f"model age: 5.0 h (since {DEPLOYED})" in hover[17]


def test_png_is_a_readable_image(tmp_path: Path) -> None:
    image = pytest.importorskip("matplotlib.image")
    out = drift_png(
        drifting() + quality_and_outcome(),
        TIMELINE,
        tmp_path / "drift.png",
        title="delay: drift over time",
    )

    width, height = png_size(out)
    assert width > 0 and height > 0
    pixels = image.imread(out)
    assert pixels.shape[:2] == (height, width)
    assert [path.name for path in tmp_path.iterdir()] == ["drift.png"]


def test_no_points_says_so_instead_of_failing(tmp_path: Path) -> None:
    figure = drift_figure([], title="delay")
    assert [annotation.text for annotation in figure.layout.annotations] == [EMPTY_MESSAGE]
    assert EMPTY_MESSAGE in write_html(figure, tmp_path / "empty.html").read_text()

    with_events = drift_figure([], TIMELINE, title="delay")
    assert EMPTY_MESSAGE in [annotation.text for annotation in with_events.layout.annotations]

    for events, name in (((), "empty.png"), (TIMELINE, "events.png")):
        width, height = png_size(drift_png([], events, tmp_path / name, title="delay"))
        assert width > 0 and height > 0


def test_a_missing_folder_is_refused_with_a_hint(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "drift.html"
    with pytest.raises(InvalidInput, match="does not exist") as raised:
        write_html(drift_figure([], title="delay"), missing)
    assert raised.value.hint and "mkdir -p" in raised.value.hint
    with pytest.raises(InvalidInput, match="does not exist"):
        drift_png(drifting(), TIMELINE, tmp_path / "nope" / "drift.png", title="delay")
    with pytest.raises(InvalidInput, match="is a folder"):
        drift_png([], [], tmp_path, title="delay")
    assert not (tmp_path / "nope").exists()


def test_bad_input_is_refused() -> None:
    with pytest.raises(InvalidInput, match="kind must be one of"):
        TimelineEvent(T0, "v3", "deploy")
    other = SeriesPoint("other", "", "input", "ks", "distance", T0, T0 + HOUR, 0.1)
    with pytest.raises(InvalidInput, match="one endpoint"):
        drift_figure([*drifting(), other], title="delay")
    naive = TimelineEvent(datetime(2024, 5, 1, 12), DEPLOYED, "deployment")
    with pytest.raises(InvalidInput, match="naive"):
        drift_figure(drifting(), [naive], title="delay")


def test_a_recomputed_window_replaces_its_point() -> None:
    first = point("input", "ks", "distance", 0, 0.1)
    again = point("input", "ks", "distance", 0, 0.4, flagged=True)
    (trace,) = drift_figure([first, again], title="delay").data
    assert list(trace.y) == [0.4]
    assert list(trace.marker.color) == [FLAG]
