"""Feature definitions: parsing, versioned apply, breaking changes with their users, search."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

import shipyard
from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.features.definitions import (
    Entity,
    Feature,
    FeatureService,
    FeatureView,
    Source,
    from_dict,
    parse_duration,
)
from shipyard.features.loader import load_definitions
from shipyard.features.registry import FeatureRegistry

AIRPORT = Entity("airport", join_keys=("origin",), description="An origin airport")


def weather(*features: Feature, **changes: object) -> FeatureView:
    fields: dict[str, object] = dict(
        entities=("airport",),
        source=Source(parquet="weather.parquet"),
        event_timestamp="time_hour",
        ttl=timedelta(hours=3),
        features=features or (Feature("temp", "float64"), Feature("wind_speed", "float64")),
        owner="ops",
        tags={"domain": "weather"},
        description="Hourly weather at the origin",
    )
    fields.update(changes)
    return FeatureView("weather", **fields)  # type: ignore[arg-type]


@pytest.fixture
def registry(workspace: shipyard.Workspace) -> FeatureRegistry:
    return FeatureRegistry(workspace.metadata, principal="tester")


def test_apply_creates_versions_and_reapply_is_unchanged(registry: FeatureRegistry) -> None:
    first = registry.apply([AIRPORT, weather()])
    assert [(str(a.ref), a.status) for a in first] == [
        ("entity:airport@1", "created"),
        ("feature_view:weather@1", "created"),
    ]
    again = registry.apply([weather(), AIRPORT])
    assert {a.status for a in again} == {"unchanged"}
    added = registry.apply(
        [
            weather(
                Feature("temp", "float64"),
                Feature("wind_speed", "float64"),
                Feature("visib", "float64"),
            )
        ]
    )
    assert [(str(a.ref), a.status) for a in added] == [("feature_view:weather@2", "updated")]
    stored = registry.view("weather")
    assert stored.version == 2 and stored.created_by == "tester"
    assert stored.definition.ttl == timedelta(hours=3)
    assert registry.view("weather", 1).definition.feature_names == ("temp", "wind_speed")


def test_breaking_change_is_refused_naming_what_breaks_and_who_uses_it(
    registry: FeatureRegistry, workspace: shipyard.Workspace
) -> None:
    service = FeatureService("delay", ("weather/temp", "weather/wind_speed"))
    registry.apply([AIRPORT, weather(), service])
    workspace.metadata.create_version(
        "model", "delay", created_by="pipeline", attributes={"feature_service": "delay@1"}
    )
    with pytest.raises(Conflict) as refused:
        registry.apply([weather(Feature("temp", "int64"))])
    message = str(refused.value)
    assert "feature temp changes type float64 -> int64" in message
    assert "feature wind_speed is removed" in message
    assert "delay" in message and "model:delay@1" in message
    assert registry.view("weather").version == 1  # nothing written
    forced = registry.apply([weather(Feature("temp", "int64"))], force=True)
    assert forced[0].status == "updated"


def test_changed_join_keys_are_breaking(registry: FeatureRegistry) -> None:
    registry.apply([AIRPORT, weather()])
    with pytest.raises(Conflict, match="join keys"):
        registry.apply([Entity("airport", join_keys=("faa",))])
    with pytest.raises(Conflict, match="entities change"):
        registry.apply([Entity("carrier", ("carrier",)), weather(entities=("airport", "carrier"))])
    assert registry.entity("airport").version == 1


def test_apply_is_checked_as_a_set_before_writing(registry: FeatureRegistry) -> None:
    with pytest.raises(InvalidInput, match="entity 'airport', which is not defined"):
        registry.apply([weather()])
    with pytest.raises(InvalidInput, match="no feature 'pressure'"):
        registry.apply([AIRPORT, weather(), FeatureService("s", ("weather/pressure",))])
    with pytest.raises(InvalidInput, match="no view 'route'"):
        registry.apply([AIRPORT, weather(), FeatureService("s", ("route/*",))])
    assert registry.views() == [] and registry.entities() == []


def test_search_by_tag_owner_and_text(registry: FeatureRegistry) -> None:
    carrier = Entity("carrier", ("carrier",))
    delays = FeatureView(
        "carrier_delays",
        ("carrier",),
        Source(sql="select 1"),
        "day",
        (Feature("late_rate", "float64", "Share of flights late by 15+ minutes"),),
        owner="analytics",
        tags={"domain": "delays", "tier": "gold"},
    )
    registry.apply([AIRPORT, carrier, weather(), delays])
    names = lambda found: [s.definition.name for s in found]  # noqa: E731
    assert names(registry.search(tag="domain=weather")) == ["weather"]
    assert names(registry.search(tag="tier")) == ["carrier_delays"]
    assert names(registry.search(owner="analytics")) == ["carrier_delays"]
    assert names(registry.search(text="LATE BY")) == ["carrier_delays"]
    assert names(registry.search(text="wind")) == ["weather"]
    assert names(registry.search(tag="domain=weather", owner="analytics")) == []
    with pytest.raises(NotFound, match="Known: carrier_delays, weather"):
        registry.view("nope")


def test_definitions_refuse_bad_input() -> None:
    with pytest.raises(InvalidInput, match="type 'float'"):
        Feature("temp", "float")
    with pytest.raises(InvalidInput, match="exactly one of dataset, parquet or sql"):
        Source(dataset="a", parquet="b")
    with pytest.raises(InvalidInput, match="ttl must be positive"):
        weather(ttl=timedelta(0))
    with pytest.raises(InvalidInput, match="declares a feature twice"):
        weather(Feature("a", "int64"), Feature("a", "int64"))
    with pytest.raises(InvalidInput, match="not a feature reference"):
        FeatureService("s", ("weather.temp",))
    with pytest.raises(InvalidInput, match="Unknown key"):
        from_dict("entity", {"name": "a", "join_keys": ["a"], "keys": 1})
    with pytest.raises(InvalidInput, match="missing the key 'join_keys'"):
        from_dict("entity", {"name": "a"})
    with pytest.raises(InvalidInput, match="not a duration"):
        parse_duration("7 days", "ttl")
    assert parse_duration("36h", "ttl") == timedelta(hours=36)
    assert parse_duration(90, "ttl") == timedelta(seconds=90)


def test_load_yaml_and_python_definitions(tmp_path: Path) -> None:
    (tmp_path / "defs.yaml").write_text(
        """
entities:
  - {name: airport, join_keys: [origin]}
views:
  - name: weather
    entities: [airport]
    source: {parquet: weather.parquet}
    event_timestamp: time_hour
    ttl: 3h
    owner: ops
    tags: {domain: weather}
    features:
      - {name: temp, dtype: float64, description: Fahrenheit}
services:
  - {name: delay, features: [weather/*, carrier_delays/late_rate]}
""",
        encoding="utf-8",
    )
    (tmp_path / "more.py").write_text(
        "from shipyard.features.definitions import *\n"
        "carrier = Entity('carrier', ('carrier',))\n"
        "delays = FeatureView('carrier_delays', ('carrier',), Source(sql='select 1'), 'day',"
        " (Feature('late_rate', 'float64'),))\n",
        encoding="utf-8",
    )
    found = load_definitions(tmp_path)
    assert sorted((type(d).__name__, d.name) for d in found) == [
        ("Entity", "airport"), ("Entity", "carrier"), ("FeatureService", "delay"),
        ("FeatureView", "carrier_delays"), ("FeatureView", "weather"),
    ]  # fmt: skip
    view = next(d for d in found if d.name == "weather")
    assert isinstance(view, FeatureView) and view.ttl == timedelta(hours=3)
    (tmp_path / "bad.yaml").write_text("views: [{name: x}]\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"bad\.yaml.*missing the key"):
        load_definitions(tmp_path)
    with pytest.raises(InvalidInput, match="No such file"):
        load_definitions(tmp_path / "absent")
