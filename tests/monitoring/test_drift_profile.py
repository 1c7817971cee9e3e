"""The drift profile: shares of drifted windows, sudden and gradual onsets, time to drift."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from shipyard.monitoring.drift_profile import drift_profile, profile_png
from shipyard.stores.monitoring import SeriesPoint

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def ks(feature: str, hour: int, value: float) -> SeriesPoint:
    start = T0 + timedelta(hours=hour)
    return SeriesPoint("e", "primary", "input", "ks", feature, start, start + timedelta(hours=1),
                       value, 1e-9 if value >= 0.1 else 0.5, flagged=value >= 0.1,
                       detail={"threshold": 0.1})  # fmt: skip


def test_onsets_shares_and_time_to_drift(tmp_path: Path) -> None:
    sudden = [0.02] * 10 + [0.4] * 5 + [0.02] * 9  # jumps from nothing to 4x the threshold
    gradual = [0.02 * (1 + h // 3) for h in range(24)]  # creeps up, crosses at hour 12
    calm = [0.02] * 24
    points = [ks(name, h, v) for name, series in
              (("price", sudden), ("temp", gradual), ("city", calm))
              for h, v in enumerate(series)]  # fmt: skip
    found = drift_profile(points, deployments=[T0, T0 + timedelta(hours=20)])
    by = {f["feature"]: f for f in found["features"]}
    assert by["price"]["drifted"] == 5 and by["price"]["episodes"][0]["onset"] == "sudden"
    assert by["temp"]["episodes"][0]["onset"] == "gradual"
    assert by["temp"]["share_drifted"] == 12 / 24 and by["city"]["drifted"] == 0
    # Deployed at hour 0: price drifted 10 hours later, temp 12; since hour 20 only temp.
    assert by["price"]["first_after_deployment_hours"] == [10.0, None]
    assert by["temp"]["first_after_deployment_hours"] == [12.0, 0.0]
    summary = found["summary"]
    assert summary["most_drifting"] == ["input/temp", "input/price"]
    assert summary["sudden_episodes"] == 1 and summary["gradual_episodes"] == 1
    assert "hours after a deployment" in summary["advice"]
    png = profile_png(found, tmp_path / "profile.png", title="e")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_drift_says_so() -> None:
    found = drift_profile([ks("x", h, 0.01) for h in range(5)])
    assert (
        found["summary"]["most_drifting"] == []
        and "No feature drifted" in found["summary"]["advice"]
    )
