"""The feature store end to end on real flights data: apply, time travel, materialize,
online reads with ttl statuses, feature-level access, HTTP and CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import shipyard
from shipyard.api.app import create_app
from shipyard.api.features import router as features_router
from shipyard.api.health import router as health_router
from shipyard.cli.main import main
from shipyard.errors import AccessDenied, Conflict, InvalidInput
from shipyard.quickstart.flights import load_tables

DEFINITIONS = """
entities:
  - {name: airport, join_keys: [origin], description: Origin airport}
  - {name: carrier, join_keys: [carrier]}
views:
  - name: weather
    entities: [airport]
    source: {dataset: weather}
    event_timestamp: time_hour
    ttl: 3h
    owner: ops
    tags: {domain: weather}
    description: Hourly weather at the origin airport
    features:
      - {name: temp, dtype: float64, description: Fahrenheit}
      - {name: wind_speed, dtype: float64}
      - {name: visib, dtype: float64}
  - name: carrier_daily
    entities: [carrier]
    source: {dataset: carrier_daily}
    event_timestamp: day_end
    ttl: 2d
    owner: analytics
    features:
      - {name: late_rate_7d, dtype: float64, description: Trailing 7-day late-arrival rate}
      - {name: flights_7d, dtype: int64}
services:
  - {name: delay, features: [weather/*, carrier_daily/late_rate_7d]}
"""


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return load_tables(every_nth_day=7)


@pytest.fixture
def ws(workspace: shipyard.Workspace, tables: dict[str, pd.DataFrame], tmp_path: Path) -> Any:
    workspace.datasets.register("weather", tables["weather"], time_column="time_hour")
    workspace.datasets.register("carrier_daily", tables["carrier_daily"], time_column="day_end")
    folder = tmp_path / "features"
    folder.mkdir()
    (folder / "flights.yaml").write_text(DEFINITIONS, encoding="utf-8")
    workspace.features.apply(folder)
    return workspace


def test_historical_matches_a_brute_force_as_of_lookup(
    ws: shipyard.Workspace, tables: dict[str, pd.DataFrame]
) -> None:
    rows = tables["flights"].sample(400, random_state=0)[
        ["flight_id", "origin", "carrier", "event_timestamp", "late"]
    ]
    rows = pd.concat([rows, rows.head(3)], ignore_index=True)  # duplicates stay duplicates
    got = ws.features.get_historical(rows, "delay")
    assert isinstance(got, pd.DataFrame)
    assert got["flight_id"].tolist() == rows["flight_id"].tolist()
    weather = tables["weather"]
    for _, row in got.sample(60, random_state=1).iterrows():
        seen = weather[
            (weather["origin"] == row["origin"])
            & (weather["time_hour"] <= row["event_timestamp"])
            & (weather["time_hour"] >= row["event_timestamp"] - timedelta(hours=3))
        ]
        expected = seen.sort_values("time_hour").iloc[-1]["temp"] if len(seen) else None
        actual = row["weather__temp"]
        assert (pd.isna(expected) and pd.isna(actual)) or expected == actual
    assert list(got.columns[-4:]) == [
        "weather__temp", "weather__wind_speed", "weather__visib", "carrier_daily__late_rate_7d",
    ]  # fmt: skip


def test_apply_checks_sources_and_refuses_breaking_changes(ws: shipyard.Workspace) -> None:
    from shipyard.features.definitions import Feature

    stored = ws.features.registry.view("weather").definition
    fewer = type(stored)(**{**stored.__dict__, "features": stored.features[:2]})
    with pytest.raises(
        Conflict, match=r"feature visib is removed.*services depending on it: delay"
    ):
        ws.features.apply([fewer])
    missing = type(stored)(**{**stored.__dict__, "features": (Feature("pressure_x", "float64"),)})
    with pytest.raises(InvalidInput, match="no column"):
        ws.features.apply([missing], force=True)
    bad_type = type(stored)(
        **{**stored.__dict__, "features": (*stored.features, Feature("origin", "float64"))}
    )
    with pytest.raises(InvalidInput, match="declared float64 but its source column is VARCHAR"):
        ws.features.apply([bad_type])
    info = ws.features.describe("weather")
    assert info["services"] == ["delay"] and info["version"] == 1
    assert [v.definition.name for v in ws.features.list_views(search="late-arrival")] == [
        "carrier_daily"
    ]


def test_materialize_and_read_online_with_ttl_statuses(ws: shipyard.Workspace) -> None:
    start = datetime(2013, 1, 1, tzinfo=UTC)
    middle = datetime(2013, 6, 30, tzinfo=UTC)
    ws.features.materialize(["weather", "carrier_daily"], start, middle)
    ws.features.materialize_incremental(["weather"], datetime(2013, 12, 31, 23, tzinfo=UTC))
    fresh = {f.view: f for f in ws.features.freshness()}
    assert fresh["weather"].materialized_until == datetime(2013, 12, 31, 23, tzinfo=UTC)
    assert fresh["carrier_daily"].materialized_until == middle
    result = ws.features.get_online(
        [{"origin": "JFK", "carrier": "UA"}, {"origin": "XXX", "carrier": "UA"}], "delay"
    )
    jfk, unknown = result.rows
    # Values from 2013 are far older than the 3 h ttl now: never served as present.
    assert set(jfk.statuses.values()) == {"outside_ttl"}
    assert all(v is None for v in jfk.values.values())
    assert jfk.event_timestamps["weather__temp"] is not None
    assert unknown.statuses["weather__temp"] == "missing"
    with pytest.raises(InvalidInput, match="keyed by carrier"):
        ws.features.get_online([{"origin": "JFK"}], ["carrier_daily/late_rate_7d"])


def test_online_value_within_ttl_is_present(online_url: str, tmp_path: Path) -> None:
    """On each online store: a fresh value is present, one older than the ttl is not."""
    with shipyard.connect(tmp_path / "home", online_url=online_url) as workspace:
        _fresh_and_stale(workspace)


def _fresh_and_stale(workspace: shipyard.Workspace) -> None:
    from shipyard.features.definitions import Entity, Feature, FeatureView, Source

    now = datetime.now(UTC).replace(microsecond=0)
    frame = pd.DataFrame(
        {
            "origin": ["JFK", "LGA"],
            "ts": [now - timedelta(minutes=5), now - timedelta(hours=5)],
            "temp": [51.0, 48.0],
        }
    )
    workspace.datasets.register("live_weather", frame, time_column="ts")
    view = FeatureView("live", ("airport",), Source(dataset="live_weather"), "ts",
                       (Feature("temp", "float64"),), ttl=timedelta(hours=1))  # fmt: skip
    workspace.features.apply([Entity("airport", ("origin",)), view])
    workspace.features.materialize(["live"], now - timedelta(days=1), now)
    rows = workspace.features.get_online([{"origin": "JFK"}, {"origin": "LGA"}], ["live/temp"]).rows
    assert (rows[0].values["live__temp"], rows[0].statuses["live__temp"]) == (51.0, "present")
    assert (rows[1].values["live__temp"], rows[1].statuses["live__temp"]) == (None, "outside_ttl")


def test_a_group_denied_one_sensitive_feature_reads_the_rest(
    ws: shipyard.Workspace, tables: dict[str, pd.DataFrame]
) -> None:
    ws.security.put_policy(
        "weather-readers",
        {"Version": "2026-11-01", "Statement": [
            {"Sid": "ReadAll", "Effect": "Allow", "Action": "features:Read*",
             "Resource": "shipyard:feature:*"},
            {"Sid": "NoVisibility", "Effect": "Deny", "Action": "*",
             "Resource": "shipyard:feature:weather/visib"},
        ]},
    )  # fmt: skip
    ws.security.attach("weather-readers", group="analysts")
    ws.security.add_to_group(ws.principal, "analysts")
    rows = tables["flights"].head(5)[["origin", "carrier", "event_timestamp"]]
    allowed = ws.features.get_historical(rows, ["weather/temp", "carrier_daily/late_rate_7d"])
    assert isinstance(allowed, pd.DataFrame) and len(allowed) == 5
    for read in (
        lambda: ws.features.get_historical(rows, ["weather/*"]),
        lambda: ws.features.get_historical(rows, "delay"),
        lambda: ws.features.get_online([{"origin": "JFK"}], ["weather/visib"]),
    ):
        with pytest.raises(AccessDenied, match=r"weather/visib.*NoVisibility"):
            read()
    ws.features.get_online([{"origin": "JFK"}], ["weather/temp"])  # the rest stays readable
    with pytest.raises(AccessDenied, match="features:Write"):
        ws.features.materialize(["weather"], datetime(2013, 1, 1, tzinfo=UTC), datetime.now(UTC))


def test_http_online_reads_freshness_metrics_and_denials(ws: shipyard.Workspace) -> None:
    ws.features.materialize(
        ["weather"], datetime(2013, 1, 1, tzinfo=UTC), datetime(2013, 12, 31, tzinfo=UTC)
    )
    client = TestClient(
        create_app(ws, routers=(health_router, features_router)), raise_server_exceptions=False
    )
    body = {"entities": [{"origin": "EWR"}], "features": ["weather/temp"]}
    answer = client.post("/features/online", json=body)
    assert answer.status_code == 200, answer.text
    [result] = answer.json()["results"]
    assert result["entity"] == {"origin": "EWR"}
    assert result["values"] == {"weather__temp": None}  # too old for the 3 h ttl: not served
    assert result["statuses"] == {"weather__temp": "outside_ttl"}
    assert result["event_timestamps"]["weather__temp"].startswith("2013-12-3")

    def refused(payload: dict[str, Any], status: int) -> dict[str, Any]:
        reply = client.post("/features/online", json=payload)
        assert reply.status_code == status, reply.text
        error: dict[str, Any] = reply.json()
        assert "results" not in error
        return error

    empty = refused({"entities": []}, 422)
    assert empty["error"] == "invalid_input"
    assert empty["message"].startswith("The request is not valid: body.entities: ")
    either = "Send either 'features' (a non-empty list) or 'service'."
    both = {"entities": [{"origin": "EWR"}], "features": ["weather/temp"], "service": "delay"}
    assert refused(both, 400) == {"error": "invalid_input", "message": either, "hint": None}
    assert refused({"entities": [{"origin": "EWR"}]}, 400)["message"] == either
    unknown = refused({**body, "features": ["nope/x"]}, 404)
    assert unknown["error"] == "not_found" and "nope" in unknown["message"]

    freshness = {v["view"]: v for v in client.get("/features/freshness").json()["views"]}
    assert set(freshness) == {"weather", "carrier_daily"}
    weather = freshness["weather"]
    assert weather["materialized_until"] == "2013-12-31T00:00:00+00:00"
    assert weather["last_event"].startswith("2013-12-3")
    assert freshness["carrier_daily"]["materialized_until"] is None
    metrics = client.get("/metrics").text
    [lag] = [
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith('shipyard_feature_view_lag_seconds{view="weather"} ')
    ]
    assert weather["lag_seconds"] > 10 * 365 * 86_400  # the last event is from 2013
    assert weather["lag_seconds"] <= lag <= weather["lag_seconds"] + 600  # asked a bit later
    deny = {"Effect": "Deny", "Action": "features:ReadOnline",
            "Resource": "shipyard:feature:weather/temp"}  # fmt: skip
    ws.security.put_policy("deny-temp", {"Version": "2026-11-01", "Statement": [deny]})
    ws.security.attach("deny-temp", principal=ws.principal)
    denied = refused(body, 403)
    assert denied["error"] == "access_denied" and "weather/temp" in denied["message"]


def test_cli_apply_list_show_materialize_online(
    tmp_path: Path, tables: dict[str, pd.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "cli-home"
    with shipyard.connect(home) as ws:
        ws.datasets.register("weather", tables["weather"], time_column="time_hour")
        ws.datasets.register("carrier_daily", tables["carrier_daily"], time_column="day_end")
    folder = tmp_path / "defs"
    folder.mkdir()
    (folder / "flights.yaml").write_text(DEFINITIONS, encoding="utf-8")
    run = lambda *args: main(["--home", str(home), *args])  # noqa: E731
    assert run("features", "apply", str(folder)) == 0
    assert "feature_view:weather@1" in capsys.readouterr().out
    assert run("features", "list", "--owner", "analytics", "--json") == 0
    assert [v["name"] for v in json.loads(capsys.readouterr().out)] == ["carrier_daily"]
    assert run("features", "list", "--tag", "domain=weather") == 0
    listed = capsys.readouterr().out
    assert "weather" in listed and "carrier_daily" not in listed
    assert run("features", "materialize", "weather", "--start", "2013-01-01", "--end",
               "2013-02-01") == 0  # fmt: skip
    capsys.readouterr()
    assert run("features", "show", "weather", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["materialized_until"].startswith("2013-02-01") and shown["services"] == ["delay"]
    assert run("features", "online", "--entity", '{"origin": "JFK"}', "--feature",
               "weather/temp") == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["results"][0]["statuses"]["weather__temp"]
    rows = tmp_path / "rows.parquet"
    tables["flights"].head(50).to_parquet(rows)
    out_file = tmp_path / "train.parquet"
    assert run("features", "historical", str(rows), "--service", "delay", "--output",
               str(out_file)) == 0  # fmt: skip
    assert len(pd.read_parquet(out_file)) == 50
    assert run("features", "materialize", "weather", "--end", "2013-02-01") == 2
    assert "Give --start" in capsys.readouterr().err
    assert run("features", "show", "nope") == 3


def test_online_reads_see_a_new_feature_as_soon_as_it_is_applied(ws: shipyard.Workspace) -> None:
    from shipyard.features.definitions import Feature

    before = ws.features.get_online([{"origin": "JFK"}], ["weather/*"]).rows[0]
    assert "weather__pressure" not in before.statuses
    stored = ws.features.registry.view("weather").definition
    features = (*stored.features, Feature("pressure", "float64"))
    more = type(stored)(**{**stored.__dict__, "features": features})
    ws.features.apply([more])
    after = ws.features.get_online([{"origin": "JFK"}], ["weather/*"]).rows[0]
    assert after.statuses["weather__pressure"] == "missing"  # not materialized yet


def test_applying_a_view_over_a_dataset_needs_reading_it(ws: shipyard.Workspace) -> None:
    """features:Apply alone does not let one publish a dataset's rows through a view."""
    ws.security.put_policy(
        "feature-author",
        {
            "Statement": [
                {"Effect": "Allow", "Action": ["features:*"], "Resource": "shipyard:feature:*"}
            ]
        },
    )
    ws.security.attach("feature-author", principal="erin")
    erin = ws.as_principal("erin")
    from shipyard.features.definitions import from_dict

    view = from_dict(
        "view",
        {
            "name": "weather_copy",
            "entities": ["airport"],
            "source": {"dataset": "weather"},
            "event_timestamp": "time_hour",
            "features": [{"name": "temp", "dtype": "float64"}],
        },
    )
    with pytest.raises(AccessDenied, match=r"datasets:Read.*weather"):
        erin.features.apply([view])
    ws.security.put_policy(
        "weather-data",
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "datasets:Read",
                    "Resource": "shipyard:dataset:weather",
                }
            ]
        },
    )
    ws.security.attach("weather-data", principal="erin")
    assert [a.ref.name for a in erin.features.apply([view])] == ["weather_copy"]
