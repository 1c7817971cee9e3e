"""A monitoring run whose hours are profiled on Dask stores what the local run stores:
the same hour records (to the byte) and the same points, also when some hours were
profiled before and new files arrived since."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import serving_in_thread
from tests.monitoring.test_monitor_run import CITIES, HOUR1, HOUR2, frame, label, model, post

import shipyard
from shipyard.stores.control.base import Variant

pytest.importorskip("distributed")

START, END = HOUR1, HOUR2 + timedelta(hours=2)  # three hours, the last without capture


def capture(home: Path, hour_rows: int, seed: int) -> None:
    """Requests like training in hour 1 and drifted ones in hour 2, in new capture files."""
    with serving_in_thread(home) as (base, app):
        for i in range(hour_rows):
            assert post(base, frame(10, seed + i), HOUR1 + timedelta(minutes=i)).status_code == 200
            drifted = frame(10, seed + 50 + i, shift=1.0, cities=[*CITIES, "Gent"])
            assert post(base, drifted, HOUR2 + timedelta(minutes=i)).status_code == 200
        app.state.serving.capture.flush()


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """``before``: one capture session; ``after``: a second one added its files."""
    root = tmp_path_factory.mktemp("monitor-dask")
    home = root / "after"
    train = frame(2000, 1)
    with shipyard.connect(home) as ws:
        version = ws.models.register("m", model().fit(train, label(train, 1)),
                                     input_example=train.head(5))  # fmt: skip
        ws.monitoring.baseline("m@1", train)
        ws.runtime.control.create_endpoint(
            "e", {}, [Variant("primary", "m", version.version, 1.0)], by="pipeline"
        )
    capture(home, 12, 100)
    shutil.copytree(home, root / "before")
    capture(home, 8, 500)
    yield {"before": root / "before", "after": home}


@pytest.fixture(scope="module")
def dask_engine() -> Iterator[Any]:
    from shipyard.engines.dask_engine import DaskEngine

    with DaskEngine(workers=2, threads_per_worker=1, processes=False) as engine:
        yield engine


def copy(home: Path, to: Path) -> Path:
    shutil.copytree(home, to)
    return to


def stored(home: Path) -> tuple[list[str], list[str]]:
    """Every point (as JSON) and every hour record's artifact digest."""
    with shipyard.connect(home) as ws:
        points = ws.monitoring.points("e")
        records = [ws.runtime.monitoring.profile("e", "primary", "capture", hour) for hour in
                   (HOUR1, HOUR2, HOUR2 + timedelta(hours=1))]  # fmt: skip
    as_json = [json.dumps(dataclasses.asdict(p), default=str, sort_keys=True) for p in points]
    return as_json, [r.artifact if r is not None else "" for r in records]


def result(run: Any) -> dict[str, Any]:
    """A run's result, its violations in a set: a window read back from the store lists its
    stages in name order, one profiled in this run in capture order (local or not)."""
    found = run.to_dict()
    found["violations"] = sorted(json.dumps(v, sort_keys=True) for v in found["violations"])
    for window in found["windows"]:
        window["violations"] = sorted(json.dumps(v, sort_keys=True) for v in window["violations"])
    return found


def test_dask_stores_the_local_run_s_points_and_hours(
    homes: dict[str, Path], tmp_path: Path, dask_engine: Any
) -> None:
    local_home = copy(homes["after"], tmp_path / "a")
    dask_home = copy(homes["after"], tmp_path / "b")
    with shipyard.connect(local_home) as ws:
        local = ws.monitoring.run("e", start=START, end=END)
    with shipyard.connect(dask_home) as ws:
        on_dask = ws.monitoring.run("e", start=START, end=END, engine=dask_engine)
    assert result(on_dask) == result(local)
    assert not local.ok and local.windows[0].requests == 20 and local.windows[2].requests == 0
    points, hours = stored(dask_home)
    assert (points, hours) == stored(local_home)
    assert len(points) > 20 and hours[0] and hours[1] and not hours[2]


def test_new_files_in_a_stored_hour_merge_as_the_local_run_merges(
    homes: dict[str, Path], tmp_path: Path, dask_engine: Any
) -> None:
    """Hour 1 profiled from the first session's files; the second session's added since."""
    address = dask_engine.client.scheduler.address
    runs: list[Any] = []
    for name, engine in (("local", {}), ("dask", {"engine": "dask", "scheduler": address})):
        home = copy(homes["before"], tmp_path / name)
        with shipyard.connect(home) as ws:
            ws.monitoring.run("e", start=HOUR1)
        shutil.copytree(homes["after"] / "capture", home / "capture", dirs_exist_ok=True)
        with shipyard.connect(home) as ws:
            runs.append(ws.monitoring.run("e", start=START, end=END, **engine))
    assert result(runs[1]) == result(runs[0]) and runs[0].windows[0].requests == 20
    assert stored(tmp_path / "dask") == stored(tmp_path / "local")


def test_the_cli_runs_on_a_scheduler(
    homes: dict[str, Path], tmp_path: Path, dask_engine: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from shipyard.cli.main import main

    window = ["--start", START.isoformat(), "--end", END.isoformat(), "--json"]
    local_home = str(copy(homes["after"], tmp_path / "a"))
    dask_home = str(copy(homes["after"], tmp_path / "b"))
    assert main(["--home", local_home, "monitor", "run", "e", *window]) == 6
    local = json.loads(capsys.readouterr().out)
    address = dask_engine.client.scheduler.address
    on_dask = ["--engine", "dask", "--scheduler", address]
    assert main(["--home", dask_home, "monitor", "run", "e", *window, *on_dask]) == 6
    on_cluster = json.loads(capsys.readouterr().out)
    assert on_cluster["windows"][0]["requests"] == local["windows"][0]["requests"] == 20
    assert sorted(map(str, on_cluster["violations"])) == sorted(map(str, local["violations"]))
    bad = ["--engine", "local", "--workers", "0"]
    assert main(["--home", dask_home, "monitor", "run", "e", *window, *bad]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_a_busy_hour_split_into_parts_finds_what_the_local_run_finds(
    homes: dict[str, Path], tmp_path: Path, dask_engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each file its own part (a busy hour's files shared among the workers): the parts
    merge into the hour's record, which lists every file once."""
    from shipyard.monitoring import parallel

    monkeypatch.setattr(parallel, "PART_BYTES", 1)
    local_home = copy(homes["after"], tmp_path / "a")
    split_home = copy(homes["after"], tmp_path / "b")
    with shipyard.connect(local_home) as ws:
        local = ws.monitoring.run("e", start=START, end=END)
    with shipyard.connect(split_home) as ws:
        split = ws.monitoring.run("e", start=START, end=END, engine=dask_engine)
        record = ws.runtime.monitoring.profile("e", "primary", "capture", HOUR1)
    folder = f"date={HOUR1:%Y-%m-%d}/hour={HOUR1:%H}"
    files = sorted(p.name for p in (split_home / "capture").rglob("*.parquet") if folder in str(p))
    assert len(files) > 1 and record is not None and list(record.files) == files
    assert result(split) == result(local)
