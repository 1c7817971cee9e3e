"""Aliases and approvals in typed tables: statements per lookup, compare-and-set, one
transaction per registration (a killed process leaves all or nothing), and the
history that records stored before revision 0006 held."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.linear_model import LogisticRegression

import shipyard
from shipyard.errors import Conflict, NotFound
from shipyard.stores.metadata import migrate, open_metadata_store

FEATURES = ["a", "b"]


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    data = pd.DataFrame(rng.normal(size=(60, 2)), columns=FEATURES)
    data["y"] = data["a"] > 0
    return data


@pytest.fixture
def model(frame: pd.DataFrame) -> LogisticRegression:
    return LogisticRegression().fit(frame[FEATURES], frame["y"])


@contextmanager
def counted(engine: sa.Engine) -> Iterator[list[str]]:
    """The SQL statements run on ``engine`` inside the block (not BEGIN/COMMIT)."""
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def test_an_alias_lookup_is_at_most_two_statements(
    workspace: shipyard.Workspace, model: LogisticRegression, frame: pd.DataFrame
) -> None:
    pipeline = workspace.as_principal("pipeline")
    for _ in range(3):
        pipeline.models.register("delay", model, input_example=frame[FEATURES].head())
    pipeline.models.set_alias("delay", "production", 2)
    pipeline.models.set_alias("delay", "staging", 3)
    pipeline.models.set_tag("delay", 2, "owner", "ops")
    pipeline.models.approve("delay", 2, "fine")
    pipeline.models.get("delay", alias="production")  # policies cached, as a server has them
    with counted(workspace.metadata.engine) as statements:  # type: ignore[attr-defined]
        found = pipeline.models.get("delay", alias="production")
    assert (found.version, found.aliases, found.tags) == (2, ("production",), {"owner": "ops"})
    assert found.approval.status == "approved"
    assert len(statements) <= 2, statements


def test_listing_models_does_not_grow_with_other_models_aliases(
    workspace: shipyard.Workspace, model: LogisticRegression, frame: pd.DataFrame
) -> None:
    pipeline = workspace.as_principal("pipeline")
    for name in ("one", "two", "three"):
        pipeline.models.register(name, model, input_example=frame[FEATURES].head())
    pipeline.models.list()
    with counted(workspace.metadata.engine) as before:  # type: ignore[attr-defined]
        pipeline.models.list()
    for n in range(20):
        pipeline.models.set_alias("one", f"alias{n}", 1)
    with counted(workspace.metadata.engine) as after:  # type: ignore[attr-defined]
        listed = pipeline.models.list()
    assert len(after) == len(before) <= 2
    assert len(listed[[m.name for m in listed].index("one")].aliases) == 20


def test_a_move_against_a_stale_view_is_a_conflict(
    workspace: shipyard.Workspace, model: LogisticRegression, frame: pd.DataFrame
) -> None:
    pipeline = workspace.as_principal("pipeline")
    for _ in range(3):
        pipeline.models.register("delay", model, input_example=frame[FEATURES].head())
    pipeline.models.set_alias("delay", "production", 1, expected=None)
    pipeline.models.set_alias("delay", "production", 2, expected=1)
    with pytest.raises(Conflict, match="it is at 2, not at 1"):
        pipeline.models.set_alias("delay", "production", 3, expected=1)
    assert pipeline.models.get("delay", alias="production").version == 2
    history = [c.version for c in pipeline.models.alias_history("delay", "production")]
    assert history == [1, 2]


def test_registering_with_a_stale_alias_registers_nothing(
    workspace: shipyard.Workspace, model: LogisticRegression, frame: pd.DataFrame
) -> None:
    pipeline = workspace.as_principal("pipeline")
    example = frame[FEATURES].head()
    pipeline.models.register("delay", model, input_example=example, aliases=["production"])
    with pytest.raises(Conflict):
        pipeline.models.register(
            "delay", model, input_example=example, tags={"gate": "passed"},
            aliases=["production"], expected={"production": None},
        )  # fmt: skip
    assert [v.version for v in pipeline.models.versions("delay")] == [1]
    with pytest.raises(NotFound):
        workspace.metadata.get_lineage(shipyard.Ref("model", "delay", 2))


KILLED_REGISTRATION = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np, pandas as pd
    from sklearn.linear_model import LogisticRegression
    import shipyard

    home, step = sys.argv[1], sys.argv[2]
    ws = shipyard.connect(home, principal="pipeline")
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(40, 2)), columns=["a", "b"])
    model = LogisticRegression().fit(frame, frame["a"] > 0)
    store = ws.metadata
    original = getattr(type(store), step)

    def die_after(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)  # between the steps of the registration
        return result

    setattr(type(store), step, die_after)
    ws.models.register("delay", model, input_example=frame.head(), tags={"t": "1"},
                       aliases=["production"])
    """
)


@pytest.mark.parametrize("step", ["create_version", "put_lineage"])
def test_a_registration_killed_midway_leaves_nothing(tmp_path: Path, step: str) -> None:
    home = tmp_path / "home"
    shipyard.connect(home).close()
    done = subprocess.run(
        [sys.executable, "-c", KILLED_REGISTRATION, str(home), step], timeout=120, check=False
    )
    assert done.returncode == -signal.SIGKILL
    with shipyard.connect(home, principal="pipeline") as ws:
        assert ws.metadata.list_names("model") == []
        assert ws.runtime.control.aliases("delay") == {}
        assert ws.metadata.list_names("model_tags") == []
        with pytest.raises(NotFound):
            ws.metadata.get_lineage(shipyard.Ref("model", "delay", 1))
        # and the next registration is version 1, whole
        frame = pd.DataFrame(np.random.default_rng(0).normal(size=(40, 2)), columns=["a", "b"])
        fitted = LogisticRegression().fit(frame, frame["a"] > 0)
        version = ws.models.register("delay", fitted, input_example=frame.head(),
                                     aliases=["production"])  # fmt: skip
        assert (version.version, version.aliases) == (1, ("production",))


def test_upgrading_keeps_alias_and_approval_history(metadata_url: str, tmp_path: Path) -> None:
    """Alias and review records stored at revision 0005 are the same history at head."""
    store = open_metadata_store(metadata_url)
    with store.transaction() as conn:
        migrate.upgrade_to(conn, "0005")
    for _ in (1, 2):
        store.create_version("model", "delay", created_by="pipeline", attributes={
            "flavor": "sklearn", "package": "0" * 64, "signature": {}})  # fmt: skip
    for moved in (1, 2, None, 2):
        store.create_version(
            "model_alias", "delay.production", created_by="pipeline",
            attributes={"model": "delay", "alias": "production", "version": moved},
        )  # fmt: skip
    store.create_version(
        "model_approval", "delay.2", created_by="alice",
        attributes={"model": "delay", "version": 2, "status": "approved", "comment": "ok"},
    )  # fmt: skip
    store.upgrade()
    store.close()
    with shipyard.connect(tmp_path / "home", metadata_url=metadata_url) as ws:
        assert ws.models.aliases("delay") == {"production": 2}
        history = ws.models.alias_history("delay", "production")
        assert [c.version for c in history] == [1, 2, None, 2]
        assert all(c.set_by == "pipeline" for c in history)
        approval = ws.models.approval("delay", 2)
        assert (approval.status, approval.by, approval.comment) == ("approved", "alice", "ok")
        assert ws.metadata.list_names("model_alias") == []  # moved, not copied
        assert ws.models.version_at("delay", "production", datetime.now(UTC)) == 2


@pytest.mark.skipif(os.name != "posix", reason="fork-free subprocesses only")
def test_ten_thousand_workspaces_open_no_connection(tmp_path: Path) -> None:
    import time

    with shipyard.open_runtime(tmp_path / "home") as runtime:
        pool = runtime.metadata.engine.pool  # type: ignore[attr-defined]
        before = pool.checkedout(), pool.size() if hasattr(pool, "size") else None
        started = time.perf_counter()
        made = [runtime.workspace(f"user{n}") for n in range(10_000)]
        elapsed = time.perf_counter() - started
        assert (pool.checkedout(), pool.size() if hasattr(pool, "size") else None) == before
        assert made[-1].principal == "user9999" and made[0].metadata is runtime.metadata
        assert made[0].as_principal("Bob").principal == "bob"
        assert elapsed < 5.0, f"10,000 workspaces took {elapsed:.2f} s"  # cheap, on a busy CI
