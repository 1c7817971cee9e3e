"""The contract every online store passes (SQLite and Redis), plus key encoding and URLs."""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
import pytest

from shipyard.errors import BackendUnavailable, InvalidConfig, InvalidInput
from shipyard.stores.online import (
    MaterializeCheckpoint,
    OnlineStore,
    decode_entity_key,
    encode_entity_key,
    open_online_store,
)

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
REDIS_ENV, REQUIRE_ENV = "SHIPYARD_TEST_REDIS_URL", "SHIPYARD_TEST_REQUIRE_SERVICES"

WRITER = textwrap.dedent(
    """
    import sys, time
    from datetime import datetime, timedelta, UTC
    from pathlib import Path
    import pyarrow as pa
    from shipyard.stores.online import open_online_store

    url, worker, workers, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    store = open_online_store(url)
    while not go.exists():          # start together, to collide for real
        time.sleep(0.005)
    for i in range(30):
        minute = i * workers + worker
        ts = datetime(2024, 3, 1, tzinfo=UTC) + timedelta(minutes=minute)
        data = pa.table({"driver": list(range(10)), "ts": [ts] * 10, "speed": [float(minute)] * 10})
        store.write("trips", data, join_keys=["driver"], event_timestamp="ts", features=["speed"])
    store.close()
    """
)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@pytest.fixture
def store(online_url: str) -> Iterator[OnlineStore]:
    with open_online_store(online_url) as opened:
        yield opened


def table(**columns: Any) -> pa.Table:
    return pa.table(columns)


def write(
    store: OnlineStore,
    data: pa.Table,
    *,
    view: str = "trips",
    keys: tuple[str, ...] = ("driver",),
    features: tuple[str, ...] = ("speed",),
    created: str | None = None,
    checkpoint: MaterializeCheckpoint | None = None,
) -> int:
    return store.write(
        view,
        data,
        join_keys=keys,
        event_timestamp="ts",
        features=features,
        created_timestamp=created,
        checkpoint=checkpoint,
    )


def speeds(store: OnlineStore, keys: list[Any], view: str = "trips") -> list[Any]:
    return [
        None if row is None else row.values["speed"] for row in store.read(view, keys, ["speed"])
    ]


# -- upserts ---------------------------------------------------------------------------


def test_read_returns_rows_in_the_order_asked_with_none_for_missing_keys(
    store: OnlineStore,
) -> None:
    write(store, table(driver=[1, 2, 3], ts=[at(0), at(1), at(2)], speed=[10.0, 20.0, 30.0]))
    assert speeds(store, [3, 99, 1, 3]) == [30.0, None, 10.0, 30.0]
    assert store.read("trips", [], ["speed"]) == []
    assert store.read("no-such-view", [1], ["speed"]) == [None]
    row = store.read("trips", [(2,)], ["speed", "unknown"])[0]
    assert row is not None
    assert row.values == {"speed": 20.0, "unknown": None}
    assert row.event_timestamp == at(1) and row.created_timestamp is None
    assert row.written_at.tzinfo is not None


def test_a_newer_row_wins_and_an_older_one_never_overwrites(store: OnlineStore) -> None:
    assert write(store, table(driver=[1], ts=[at(5)], speed=[50.0])) == 1
    assert write(store, table(driver=[1], ts=[at(1)], speed=[10.0])) == 0
    assert speeds(store, [1]) == [50.0]
    assert write(store, table(driver=[1], ts=[at(6)], speed=[60.0])) == 1
    assert speeds(store, [1]) == [60.0]


def test_within_one_write_the_newest_row_of_a_key_wins_whatever_its_position(
    store: OnlineStore,
) -> None:
    write(
        store,
        table(driver=[1, 1, 2, 2], ts=[at(2), at(1), at(1), at(2)], speed=[2.0, 1.0, 3.0, 4.0]),
    )
    assert speeds(store, [1, 2]) == [2.0, 4.0]


def test_created_time_breaks_ties_and_a_row_without_one_loses(store: OnlineStore) -> None:
    def put(speed: float, created: datetime | None) -> int:
        data = pa.table(
            {
                "driver": [1],
                "ts": [at(1)],
                "speed": [speed],
                "created": pa.array([created], pa.timestamp("us", "UTC")),
            }
        )
        return write(store, data, created="created")

    assert put(1.0, None) == 1
    assert put(2.0, at(3)) == 1  # a created time beats none
    assert put(3.0, at(2)) == 0  # an earlier created time loses
    assert put(4.0, at(3)) == 0  # equal is not newer
    assert put(5.0, None) == 0
    assert put(6.0, at(4)) == 1
    row = store.read("trips", [1], ["speed"])[0]
    assert row is not None and row.values["speed"] == 6.0 and row.created_timestamp == at(4)


def test_replaying_the_same_rows_changes_nothing(store: OnlineStore) -> None:
    data = table(driver=[1, 2], ts=[at(1), at(2)], speed=[1.0, 2.0])
    assert write(store, data) == 2
    first = store.read("trips", [1, 2], ["speed"])
    assert write(store, data) == 0
    assert store.read("trips", [1, 2], ["speed"]) == first  # written_at unchanged too


def test_a_newer_row_replaces_the_whole_record(store: OnlineStore) -> None:
    write(
        store, table(driver=[1], ts=[at(1)], speed=[1.0], brake=[True]), features=("speed", "brake")
    )
    write(store, table(driver=[1], ts=[at(2)], speed=[2.0]))
    row = store.read("trips", [1], ["speed", "brake"])[0]
    assert row is not None and row.values == {"speed": 2.0, "brake": None}


def test_a_record_batch_can_be_written(store: OnlineStore) -> None:
    batch = pa.record_batch({"driver": [7], "ts": [at(0)], "speed": [7.0]})
    assert write(store, batch) == 1  # type: ignore[arg-type]
    assert speeds(store, [7]) == [7.0]


# -- keys -------------------------------------------------------------------------------


def test_typed_keys_one_and_the_string_one_are_different_entities(store: OnlineStore) -> None:
    write(store, table(driver=[1], ts=[at(0)], speed=[1.0]))
    write(store, table(driver=["1"], ts=[at(0)], speed=[2.0]))
    assert speeds(store, [1, "1", 1.0, np.int64(1), True]) == [1.0, 2.0, 1.0, 1.0, None]


def test_composite_keys_read_as_tuples_or_mappings(store: OnlineStore) -> None:
    data = table(city=["NYC", "NYC", "SF"], driver=[1, 2, 1], ts=[at(0)] * 3, speed=[1.0, 2.0, 3.0])
    write(store, data, keys=("city", "driver"))
    assert speeds(store, [("SF", 1), ("NYC", 2), (1, "SF")]) == [3.0, 2.0, None]
    # Mappings are ordered by the join keys the view was written with; extra keys are ignored.
    assert speeds(store, [{"driver": 1, "city": "NYC", "other": 0}]) == [1.0]
    # ... or by the join keys given, even in a fresh store that has not cached them.
    rows = store.read(
        "trips", [{"driver": 2, "city": "NYC"}], ["speed"], join_keys=["city", "driver"]
    )
    assert rows[0] is not None and rows[0].values["speed"] == 2.0
    with pytest.raises(InvalidInput, match="lacks join key"):
        store.read("trips", [{"driver": 1}], ["speed"])


def test_read_refuses_a_single_key_or_feature_string(store: OnlineStore) -> None:
    with pytest.raises(InvalidInput, match="entity_keys must be a list"):
        store.read("trips", {"driver": 1}, ["speed"])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="features must be a list"):
        store.read("trips", [1], "speed")


# -- values and times -------------------------------------------------------------------


def test_values_and_timestamps_round_trip_with_their_types(store: OnlineStore) -> None:
    paris = timezone(timedelta(hours=1))
    data = pa.table(
        {
            "driver": [1, 2],
            "ts": pa.array(
                [datetime(2024, 3, 1, 13, 0, tzinfo=paris), datetime(2024, 3, 1, 12, 0)],
                pa.timestamp("ns", "Europe/Paris"),
            ),
            "f_float": [float("nan"), math.inf],
            "f_int": [2**62, None],
            "f_bool": [True, False],
            "f_text": ["zürich ✓", None],
            "f_time": [datetime(2024, 1, 1, 8, 30, 0, 123456, tzinfo=UTC), None],
            "f_naive": pa.array([datetime(2024, 1, 1, 8, 30), None], pa.timestamp("us")),
            "f_date": [date(2024, 2, 29), None],
            "f_list": [[1.5, float("nan")], []],
            "f_struct": [{"a": 1, "b": "x"}, None],
            "f_bytes": [b"\x00\xff", None],
            "f_decimal": pa.array([Decimal("1.25"), None], pa.decimal128(5, 2)),
            "f_duration": pa.array([timedelta(seconds=90), None], pa.duration("us")),
        }
    )
    features = [n for n in data.schema.names if n.startswith("f_")]
    write(store, data, features=tuple(features))
    first, second = store.read("trips", [1, 2], features)
    assert first is not None and second is not None
    assert first.event_timestamp == datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    assert first.event_timestamp.utcoffset() == timedelta(0)
    assert first.values == {
        "f_float": None,
        "f_int": 2**62,
        "f_bool": True,
        "f_text": "zürich ✓",
        "f_time": datetime(2024, 1, 1, 8, 30, 0, 123456, tzinfo=UTC),
        "f_naive": datetime(2024, 1, 1, 8, 30, tzinfo=UTC),
        "f_date": date(2024, 2, 29),
        "f_list": [1.5, None],
        "f_struct": {"a": 1, "b": "x"},
        "f_bytes": b"\x00\xff",
        "f_decimal": Decimal("1.25"),
        "f_duration": timedelta(seconds=90),
    }
    assert second.values["f_float"] == math.inf and second.values["f_int"] is None
    assert second.values["f_list"] == []


def test_a_naive_event_time_is_taken_as_utc(store: OnlineStore) -> None:
    write(store, table(driver=[1], ts=[datetime(2024, 3, 1, 12, 0)], speed=[1.0]))
    row = store.read("trips", [1], ["speed"])[0]
    assert row is not None and row.event_timestamp == T0


def test_write_refuses_bad_tables(store: OnlineStore) -> None:
    good = {"driver": [1], "ts": [at(0)], "speed": [1.0]}
    with pytest.raises(InvalidInput, match="no column"):
        write(store, table(**good), features=("speed", "missing"))
    with pytest.raises(InvalidInput, match="Join key 'driver' is null"):
        write(store, table(**{**good, "driver": [None]}))
    with pytest.raises(InvalidInput, match="Event timestamp 'ts' is null"):
        write(store, pa.table({**good, "ts": pa.array([None], pa.timestamp("us"))}))
    with pytest.raises(InvalidInput, match="must hold timestamps"):
        write(store, table(**{**good, "ts": ["yesterday"]}))
    with pytest.raises(InvalidInput, match="feature view name"):
        write(store, table(**good), view="bad:name")
    assert store.read("trips", [1], ["speed"]) == [None]


# -- checkpoints, intervals, views --------------------------------------------------------


def test_a_checkpoint_is_stored_with_the_rows_and_cleared_on_finish(store: OnlineStore) -> None:
    assert store.get_checkpoint("trips") is None
    checkpoint = MaterializeCheckpoint(at(0), at(10), encode_entity_key([2]), 2)
    write(store, table(driver=[1, 2], ts=[at(1), at(2)], speed=[1.0, 2.0]), checkpoint=checkpoint)
    stored = store.get_checkpoint("trips")
    assert stored is not None and stored.updated_at is not None
    assert (stored.start, stored.end, stored.last_key, stored.rows) == (at(0), at(10), "[2]", 2)
    write(store, table(driver=[3], ts=[at(3)], speed=[3.0]))  # no checkpoint: the old one stays
    assert store.get_checkpoint("trips") == stored
    store.finish_materialization("trips", at(0), at(10), 3)
    assert store.get_checkpoint("trips") is None
    [interval] = store.materialized_intervals("trips")
    assert (interval.start, interval.end, interval.rows) == (at(0), at(10), 3)
    assert store.materialized_until("trips") == at(10)


def test_materialized_until_is_the_latest_end_of_the_completed_intervals(
    store: OnlineStore,
) -> None:
    assert store.materialized_until("trips") is None
    store.finish_materialization("trips", at(5), at(20), 1)
    store.finish_materialization("trips", at(0), at(5), 1)
    assert [i.start for i in store.materialized_intervals("trips")] == [at(0), at(5)]
    assert store.materialized_until("trips") == at(20)


def test_delete_view_removes_its_rows_checkpoint_and_intervals_only(store: OnlineStore) -> None:
    checkpoint = MaterializeCheckpoint(at(0), at(1), "[2]", 2)
    write(store, table(driver=[1, 2], ts=[at(0)] * 2, speed=[1.0, 2.0]), checkpoint=checkpoint)
    write(store, table(driver=[1], ts=[at(0)], speed=[9.0]), view="other")
    store.finish_materialization("other", at(0), at(1), 1)
    assert store.views() == ["other", "trips"]
    assert store.delete_view("trips") == 2
    assert speeds(store, [1, 2]) == [None, None]
    assert store.get_checkpoint("trips") is None
    assert store.views() == ["other"]
    assert speeds(store, [1], view="other") == [9.0]
    assert store.materialized_until("other") == at(1)
    assert store.delete_view("trips") == 0


def test_concurrent_reads_during_writes_see_whole_records(store: OnlineStore) -> None:
    write(
        store,
        table(driver=list(range(50)), ts=[at(0)] * 50, speed=[0.0] * 50, lap=[0] * 50),
        features=("speed", "lap"),
    )
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(100):
                for row in store.read("trips", list(range(50)), ["speed", "lap"]):
                    assert row is not None
                    assert row.values["speed"] == float(row.values["lap"])  # never half a record
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for lap in range(1, 21):
        data = table(
            driver=list(range(50)), ts=[at(lap)] * 50, speed=[float(lap)] * 50, lap=[lap] * 50
        )
        write(store, data, features=("speed", "lap"))
    for thread in threads:
        thread.join()
    assert errors == []
    assert speeds(store, [0, 49]) == [20.0, 20.0]


# -- backend specifics --------------------------------------------------------------------


def test_sqlite_writers_in_several_processes_queue_and_the_newest_row_wins(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'online.db'}"
    open_online_store(url).close()  # create the schema once, as the first opener would
    go, workers = tmp_path / "go", 3
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, url, str(w), str(workers), str(go)])
        for w in range(workers)
    ]
    time.sleep(1.0)
    go.touch()
    assert [p.wait(timeout=120) for p in procs] == [0] * workers
    with open_online_store(url) as store:
        assert speeds(store, list(range(10))) == [float(30 * workers - 1)] * 10


def test_sqlite_rolls_back_the_rows_when_the_checkpoint_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shipyard.stores.online.sqlite as sqlite_backend

    store = open_online_store(f"sqlite:///{tmp_path / 'online.db'}")

    def fail(*args: Any) -> str:
        raise RuntimeError("crash between the rows and the checkpoint")

    monkeypatch.setattr(sqlite_backend, "checkpoint_to_json", fail)
    checkpoint = MaterializeCheckpoint(at(0), at(1), "[1]", 1)
    with pytest.raises(RuntimeError, match="crash"):
        write(store, table(driver=[1], ts=[at(0)], speed=[1.0]), checkpoint=checkpoint)
    assert speeds(store, [1]) == [None]
    assert store.views() == []
    store.close()


def test_redis_sends_rows_and_checkpoint_in_one_script_call(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_online_store(redis_url)
    client = store._client  # type: ignore[attr-defined]
    sent: list[tuple[Any, ...]] = []
    original = client.execute_command

    def spy(*args: Any, **options: Any) -> Any:
        sent.append(args)
        return original(*args, **options)

    monkeypatch.setattr(client, "execute_command", spy)
    checkpoint = MaterializeCheckpoint(at(0), at(1), "[2]", 2)
    write(store, table(driver=[1, 2], ts=[at(0)] * 2, speed=[1.0, 2.0]), checkpoint=checkpoint)
    writes = [args for args in sent if args[0] in ("EVALSHA", "EVAL")]
    assert len(writes) == 1 and len(sent) <= 2  # at most one more: SCRIPT LOAD
    assert any(str(arg).endswith("checkpoint:trips") for arg in writes[0])
    assert store.get_checkpoint("trips") is not None
    store.close()


def test_sqlite_data_outlives_the_store_and_memory_stores_work(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'online.db'}"
    with open_online_store(url) as store:
        write(store, table(driver=[1], ts=[at(0)], speed=[1.0]))
    with open_online_store(url) as store:
        assert speeds(store, [1]) == [1.0]
        assert store.location == str(tmp_path / "nested" / "online.db")
    with open_online_store("sqlite://") as memory:
        write(memory, table(driver=[1], ts=[at(0)], speed=[2.0]))
        assert speeds(memory, [1, 2]) == [2.0, None]


@pytest.mark.parametrize(
    "url",
    ["mysql://localhost/db", "", "online.db", "sqlite:", "sqlite://host/online.db", "sqlite:///"],
)
def test_bad_urls_are_refused_naming_the_setting(url: str) -> None:
    with pytest.raises(InvalidConfig, match="online_url") as caught:
        open_online_store(url)
    assert "sqlite:///PATH" in str(caught.value) and "redis://HOST:PORT/DB" in str(caught.value)


def test_a_redis_database_must_be_a_number() -> None:
    with pytest.raises(InvalidConfig, match="database 'cache'"):
        open_online_store("redis://127.0.0.1:6379/cache")


def test_a_missing_redis_client_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(InvalidConfig) as caught:
        open_online_store("redis://127.0.0.1:6379/0")
    assert caught.value.hint == "pip install 'shipyard[redis]'"


def test_an_unreachable_redis_is_backend_unavailable() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(BackendUnavailable, match=f"127.0.0.1:{port}"):
        open_online_store(f"redis://127.0.0.1:{port}/0")


def test_the_redis_location_hides_the_password(redis_url: str) -> None:
    from shipyard.stores.online.redis import RedisOnlineStore, parse_redis_url

    assert parse_redis_url("redis://h:1/2?prefix=p:&x=1") == ("redis://h:1/2?x=1", "p:")
    assert parse_redis_url("redis://h:1/2")[1] == "shipyard:"
    password = urlsplit(redis_url).password
    if not password:  # .ci/run starts Redis with requirepass and puts it in the URL
        message = f"this test needs a Redis with a password in {REDIS_ENV}"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{message} ({REQUIRE_ENV}=1 forbids skipping)")
        pytest.skip(message)
    hidden = redis_url.replace(f":{password}@", ":***@", 1)
    assert hidden != redis_url
    store = open_online_store(redis_url)  # the password is used...
    assert isinstance(store, RedisOnlineStore)
    write(store, table(driver=[1], ts=[at(0)], speed=[1.0]))
    assert speeds(store, [1]) == [1.0]
    assert store.location == hidden and password not in store.location  # ...and never shown
    store.close()
    # A wrong password is refused, naming where but not with which password.
    wrong = redis_url.replace(f":{password}@", ":not-the-password@", 1)
    with pytest.raises(BackendUnavailable) as caught:
        open_online_store(wrong)
    assert hidden.split("?")[0] in str(caught.value)
    assert "not-the-password" not in str(caught.value)


def test_an_unreachable_redis_does_not_show_the_password() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(BackendUnavailable) as caught:
        open_online_store(f"redis://alice:pa55word@127.0.0.1:{port}/0?prefix=x:")
    assert f"redis://alice:***@127.0.0.1:{port}/0" in str(caught.value)
    assert "pa55word" not in str(caught.value)
    with pytest.raises(InvalidConfig) as refused:
        open_online_store("redis://:pa55word@127.0.0.1:6379/cache")
    assert "pa55word" not in str(refused.value) and ":***@" in str(refused.value)


# -- entity keys ---------------------------------------------------------------------------


def test_entity_keys_are_typed_and_canonical() -> None:
    assert encode_entity_key([1]) == "[1]"
    assert encode_entity_key(["1"]) == '["1"]'
    assert encode_entity_key([1.0]) == encode_entity_key([np.int64(1)]) == "[1]"
    assert encode_entity_key([True]) == "[true]" != encode_entity_key([1])
    assert encode_entity_key([1.5, "a b", None]) == '[1.5,"a b",null]'
    assert encode_entity_key([Decimal("3")]) == "[3]"
    naive, paris = (
        datetime(2024, 1, 1, 12),
        datetime(2024, 1, 1, 13, tzinfo=timezone(timedelta(hours=1))),
    )
    assert encode_entity_key([naive]) == encode_entity_key([paris])
    assert encode_entity_key(["é"]) == '["\\u00e9"]'


def test_entity_keys_decode_to_their_values() -> None:
    values = (1, "JFK", 2.5, True, datetime(2024, 1, 1, tzinfo=UTC), date(2024, 1, 2), b"\x01")
    assert decode_entity_key(encode_entity_key(values)) == values


def test_entity_keys_refuse_nan_and_nested_values() -> None:
    with pytest.raises(InvalidInput, match="cannot be nan"):
        encode_entity_key([float("nan")])
    with pytest.raises(InvalidInput, match="single value"):
        encode_entity_key([[1, 2]])
