"""Batch transform of a model trained on feature views: its feature inputs come from the
offline point-in-time join at each row's time, at the view versions of its lineage.

The setup is the standard pipeline's in small: datasets for two views, entity rows joined
by the store, an imputing LogisticRegression fit on the joined frame, registered with
lineage naming the views and the time column it was trained with as a tag."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.batch.data import part_bytes, read_output

from shipyard.errors import InvalidInput

FEATURES = ["weather/temp", "carrier_daily/late_rate_7d"]
INPUTS = ["distance", "weather__temp", "carrier_daily__late_rate_7d"]
PINNED = {"weather": 1, "carrier_daily": 1}
START = datetime(2024, 1, 1)
FUTURE_ORIGIN = "XYZ"  # its only weather row is stamped an hour after the row asking


def weather(shift: float = 0.0) -> pd.DataFrame:
    """Hourly temperatures at three airports over four days, plus one row for
    FUTURE_ORIGIN an hour after the input's row for it, with a value no model forgets."""
    hours = pd.date_range(START, periods=96, freq="h")
    rng = np.random.default_rng(3)
    frames = [
        pd.DataFrame(
            {"origin": origin, "time_hour": hours, "temp": rng.normal(40 + 10 * i, 8, 96) + shift}
        )
        for i, origin in enumerate(["EWR", "JFK", "LGA"])
    ]
    future = pd.DataFrame(
        {"origin": [FUTURE_ORIGIN], "time_hour": [START + timedelta(hours=49)], "temp": [900.0]}
    )
    return pd.concat([*frames, future], ignore_index=True)


def carrier_daily() -> pd.DataFrame:
    days = pd.date_range(START, periods=4, freq="D")
    return pd.DataFrame({
        "carrier": np.repeat(["UA", "B6"], len(days)), "day_end": np.tile(days, 2),
        "late_rate_7d": [0.1, 0.3, 0.2, 0.5, 0.6, 0.4, 0.7, 0.2],
    })  # fmt: skip


def flights(rows: int, seed: int) -> pd.DataFrame:
    """Entity rows: an id, the join keys, the time, one plain input and the label."""
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({
        "flight_id": np.arange(rows, dtype=np.int64) + seed * 10_000,
        "origin": rng.choice(["EWR", "JFK", "LGA", "SFO"], rows),  # SFO: no weather at all
        "carrier": rng.choice(["UA", "B6"], rows),
        "event_timestamp": START + pd.to_timedelta(rng.integers(0, 96 * 60, rows), unit="min"),
        "distance": rng.uniform(100, 2500, rows),
    })  # fmt: skip
    data["late"] = np.where(rng.random(rows) < 0.4, "late", "on_time")
    return data


def definitions(weather_dataset: str = "weather") -> list[Any]:
    from shipyard.features.definitions import Entity, Feature, FeatureView, Source

    return [
        Entity("airport", ("origin",)),
        Entity("carrier", ("carrier",)),
        FeatureView("weather", ("airport",), Source(dataset=weather_dataset), "time_hour",
                    features=(Feature("temp", "float64"),), ttl=timedelta(hours=3)),
        FeatureView("carrier_daily", ("carrier",), Source(dataset="carrier_daily"), "day_end",
                    features=(Feature("late_rate_7d", "float64"),), ttl=timedelta(days=2)),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def fws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A workspace holding the views and ``model:delay@1`` trained on them."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    import shipyard

    with shipyard.connect(tmp_path_factory.mktemp("enrich") / "home") as ws:
        ws.datasets.register("weather", weather(), time_column="time_hour")
        ws.datasets.register("carrier_daily", carrier_daily(), time_column="day_end")
        ws.features.apply(definitions())
        joined = ws.features.get_historical(flights(600, seed=1), FEATURES)
        assert isinstance(joined, pd.DataFrame)
        train = joined[INPUTS]
        model = make_pipeline(SimpleImputer(), LogisticRegression()).fit(train, joined["late"])
        ws.models.register(
            "delay", model, input_example=train.head(),
            lineage={"feature_views": ["carrier_daily@1", "weather@1"]},
            tags={"timestamp_column": "event_timestamp"},
        )  # fmt: skip
        yield ws


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    """The batch input: new entity rows, and one row for FUTURE_ORIGIN."""
    data = flights(150, seed=2)
    data.loc[7, ["origin", "event_timestamp"]] = [FUTURE_ORIGIN, START + timedelta(hours=48)]
    return data.drop(columns="late")


@pytest.fixture(scope="module")
def source(rows: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The input as Parquet of three row groups: three parts."""
    path = tmp_path_factory.mktemp("input") / "flights.parquet"
    pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), path, row_group_size=50)
    return str(path)


def store_join(ws: Any, rows: pd.DataFrame) -> pd.DataFrame:
    """The rows joined by the feature store itself, at the model's view versions."""
    joined = ws.features.get_historical(rows, FEATURES, versions=PINNED)
    assert isinstance(joined, pd.DataFrame)
    return joined


def test_predictions_are_the_model_s_on_the_store_s_point_in_time_join(
    fws: Any, rows: pd.DataFrame, source: str, tmp_path: Path
) -> None:
    result = fws.batch.transform("model:delay@1", source, str(tmp_path / "out"), join_source=True)
    assert (result.rows, result.parts) == (150, 3)
    out = read_output(tmp_path / "out")
    assert list(out.columns) == [*rows.columns, "prediction", "proba_late", "proba_on_time"]
    pd.testing.assert_frame_equal(out[list(rows.columns)], rows)  # the input, exactly as given
    model = fws.models.load("delay", 1)
    expected = store_join(fws, rows)[INPUTS]
    assert expected["weather__temp"].isna().any()  # SFO: missing features are nulls
    assert (out["prediction"].to_numpy() == model.predict(expected)).all()
    np.testing.assert_allclose(out["proba_late"], model.predict_proba(expected)[:, 0])
    record = fws.runs.get_run(result.run).record["batch_transform"]["enrichment"]
    assert record == {
        "feature_views": ["feature_view:carrier_daily@1", "feature_view:weather@1"],
        "datasets": ["dataset:carrier_daily@1", "dataset:weather@1"],
        "timestamp_column": "event_timestamp",
    }


def test_a_feature_stamped_after_the_row_s_time_is_never_used(
    fws: Any, rows: pd.DataFrame, source: str, tmp_path: Path
) -> None:
    fws.batch.transform("model:delay@1", source, str(tmp_path / "out"))
    proba = read_output(tmp_path / "out")["proba_late"][7]
    model = fws.models.load("delay", 1)
    row = store_join(fws, rows.iloc[[7]])[INPUTS]
    assert pd.isna(row["weather__temp"].iloc[0])  # nothing at or before its time
    assert proba == pytest.approx(model.predict_proba(row)[0, 0])
    peeked = row.assign(weather__temp=900.0)  # what a join ignoring time would have given
    assert abs(model.predict_proba(peeked)[0, 0] - proba) > 0.01


def test_the_view_versions_of_the_lineage_are_joined_not_the_latest(
    fws: Any, rows: pd.DataFrame, source: str, tmp_path: Path
) -> None:
    before = read_output_of(fws, source, tmp_path / "before")
    fws.datasets.register("weather_v2", weather(shift=60.0), time_column="time_hour")
    fws.features.apply(definitions("weather_v2"))
    assert fws.features.registry.view("weather").version == 2
    latest = fws.features.get_historical(rows, FEATURES)
    assert isinstance(latest, pd.DataFrame)
    model = fws.models.load("delay", 1)
    after = read_output_of(fws, source, tmp_path / "after")
    pd.testing.assert_frame_equal(after, before)
    assert not np.allclose(model.predict_proba(latest[INPUTS])[:, 0], after["proba_late"])


def read_output_of(ws: Any, source: str, folder: Path) -> pd.DataFrame:
    ws.batch.transform("model:delay@1", source, str(folder))
    return read_output(folder)


def test_missing_join_keys_or_time_are_named(fws: Any, rows: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "no_keys.parquet"
    rows.drop(columns=["carrier", "event_timestamp"]).to_parquet(path)
    with pytest.raises(InvalidInput, match=r"lacks column\(s\) 'carrier', 'event_timestamp'"):
        fws.batch.transform("model:delay@1", str(path), str(tmp_path / "out"))
    with_feature = tmp_path / "with_feature.parquet"
    rows.assign(weather__temp=1.0).to_parquet(with_feature)
    with pytest.raises(InvalidInput, match="'weather__temp', which the model reads from"):
        fws.batch.transform("model:delay@1", str(with_feature), str(tmp_path / "bad"))


def test_another_time_column_by_name_and_on_the_command_line(
    fws: Any, rows: pd.DataFrame, source: str, tmp_path: Path
) -> None:
    from shipyard.cli import main as cli_main

    renamed = tmp_path / "renamed.parquet"
    rows.rename(columns={"event_timestamp": "scheduled"}).to_parquet(renamed)
    args = ["--home", str(fws.settings.home), "batch-transform", "model:delay@1",
            "--input", str(renamed), "--output", str(tmp_path / "cli"),
            "--timestamp-column", "scheduled"]  # fmt: skip
    assert cli_main.main(args) == 0
    fws.batch.transform("model:delay@1", source, str(tmp_path / "default"))
    pd.testing.assert_frame_equal(read_output(tmp_path / "cli"), read_output(tmp_path / "default"))


def test_a_model_not_saying_its_time_column_needs_one(
    fws: Any, source: str, tmp_path: Path
) -> None:
    loaded = fws.models.load("delay", 1)
    fws.models.register(
        "untagged", loaded.model, input_example=loaded.example_frame,
        lineage={"feature_views": ["weather@1", "carrier_daily@1"]},
    )  # fmt: skip
    with pytest.raises(InvalidInput, match="needs each input row's time") as error:
        fws.batch.transform("model:untagged@1", source, str(tmp_path / "out"))
    assert error.value.hint and "timestamp_column" in error.value.hint


def test_dask_output_equals_local(fws: Any, source: str, tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    from shipyard.engines.dask_engine import DaskEngine

    local = fws.batch.transform("model:delay@1", source, str(tmp_path / "local"))
    with DaskEngine(workers=2, threads_per_worker=1, processes=False) as engine:
        on_dask = fws.batch.transform(
            "model:delay@1", source, str(tmp_path / "dask"), engine=engine
        )
    assert on_dask.digest == local.digest
    assert part_bytes(tmp_path / "dask") == part_bytes(tmp_path / "local")
