"""The runner: values between steps, failures, gates, principal and build id, logs, records."""

from __future__ import annotations

import logging
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import shipyard
from shipyard.errors import AccessDenied, GateFailed, NotFound
from shipyard.pipeline import (
    Pipeline,
    PipelineFailed,
    Status,
    StepContext,
    step,
)
from shipyard.types import Ref
from shipyard.workspace import Workspace

FRAME = pd.DataFrame(
    {"a": [1, 2, None], "b": ["x", "y", "z"], "t": pd.to_datetime(["2024-01-01"] * 3, utc=True)},
    index=pd.Index([10, 20, 30], name="id"),
)
TABLE = pa.table({"n": pa.array([1, None, 3], pa.int32()), "s": ["a", "b", None]})
ARRAY = np.arange(12, dtype=np.float32).reshape(3, 4)
JSON_VALUE = {"ratio": 0.25, "names": ["a", "b"], "nested": {"ok": True, "none": None}}
PICKLED = ({"a", "b"}, Fraction(1, 3))


@step(outputs=("frame", "table", "array", "json_value", "pickled"))
def produce() -> tuple:
    return FRAME, TABLE, ARRAY, JSON_VALUE, PICKLED


@step
def consume(
    frame: pd.DataFrame, table: pa.Table, array: Any, json_value: dict, pickled: tuple
) -> dict:
    pd.testing.assert_frame_equal(frame, FRAME)
    assert table.equals(TABLE) and table.schema == TABLE.schema
    assert array.dtype == np.float32 and np.array_equal(array, ARRAY)
    assert json_value == JSON_VALUE and pickled == PICKLED
    return {"checked": 5}


def test_values_of_each_type_round_trip_between_steps(workspace: Workspace) -> None:
    run = workspace.pipelines.run(Pipeline("types", steps=[consume, produce]))
    assert run.status == Status.SUCCEEDED, run.log("consume")
    formats = {k: v.format for k, v in run.step("produce").outputs.items()}
    assert formats == {
        "frame": "parquet",
        "table": "parquet-arrow",
        "array": "npy",
        "json_value": "json",
        "pickled": "pickle",
    }
    assert run.outputs["consume"] == {"checked": 5}
    pd.testing.assert_frame_equal(run.outputs["frame"], FRAME)
    assert run.outputs["pickled"] == PICKLED
    assert sorted(run.outputs) == sorted([*formats, "consume"])
    with pytest.raises(KeyError, match="outputs: array"):
        run.outputs["missing"]


def test_values_that_parquet_or_npy_cannot_write_are_pickled(workspace: Workspace) -> None:
    @step(outputs=("int_columns", "objects", "nan"))
    def odd() -> tuple:
        return pd.DataFrame({1: [1]}), np.array([{"a": 1}], dtype=object), float("nan")

    run = workspace.pipelines.run(Pipeline("odd", steps=[odd]))
    assert {v.format for v in run.step("odd").outputs.values()} == {"pickle"}
    assert list(run.outputs["int_columns"].columns) == [1]
    assert np.isnan(run.outputs["nan"])


class Record:
    """A class step that reports what it saw of its context."""

    outputs = ("seen",)

    def run(self, context: StepContext) -> dict:
        context.logger.info("hello from %s", context.step)
        (context.scratch / "tmp.txt").write_text("scratch works")
        return {
            "principal": context.workspace.principal,
            "build_id": context.build_id,
            "params": dict(context.params),
            "scratch": (context.scratch / "tmp.txt").read_text(),
        }


@step
def also_seen(seen: dict, context: StepContext) -> str:
    return context.build_id


def test_steps_act_as_the_pipeline_principal_under_one_build_id(workspace: Workspace) -> None:
    pipeline = Pipeline("who", steps=[Record, also_seen], params={"k": 1})
    run = workspace.pipelines.run(pipeline, {"k": 2})
    seen = run.outputs["seen"]
    assert seen["principal"] == "pipeline" and workspace.principal != "pipeline"
    assert seen["build_id"] == run.build_id == run.outputs["also_seen"]
    assert run.build_id.startswith("build-") and seen["params"] == {"k": 2}
    assert seen["scratch"] == "scratch works"
    stored = workspace.metadata.get_version("pipeline_run", "who")
    assert stored.created_by == "pipeline" and stored.attributes["principal"] == "pipeline"
    assert stored.attributes["triggered_by"] == workspace.principal
    assert workspace.lineage(run.ref).build_id == run.build_id
    assert not list((workspace.settings.home / "tmp").glob("pipeline-*"))  # scratch removed


def test_the_build_id_setting_is_used_when_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_BUILD_ID", "ci-1234/5")
    with shipyard.connect(tmp_path / "ci") as ws:
        service = ws.pipelines
        run = service.run(Pipeline("ci", steps=[Record]))
        assert run.build_id == "ci-1234/5" == run.outputs["seen"]["build_id"]
        assert service.get_run("ci-1234/5").version == run.version
        assert service.run(Pipeline("ci", steps=[Record]), build_id="given").build_id == "given"


@step
def first(x: int) -> int:
    return x


@step
def explode(first: int) -> int:
    print("about to fail")
    raise ValueError(f"bad value {first}")


@step
def after(explode: int) -> int:
    return explode


def test_a_failing_step_stops_the_run_and_is_recorded(workspace: Workspace) -> None:
    service = workspace.pipelines
    run = service.run(Pipeline("fails", steps=[first, explode, after], params={"x": 3}))
    assert [s.status for s in run.steps] == ["succeeded", "failed", "not-run"]
    assert run.status == "failed" and run.failed_step == "explode" and run.exit_code == 1
    assert run.error == {
        "type": "ValueError",
        "message": "bad value 3",
        "hint": None,
        "gate": False,
    }
    log = run.log("explode")
    assert "about to fail" in log and "Traceback" in log and 'raise ValueError(f"bad value' in log
    assert run.step("explode").outputs == {} and run.step("after").started is None
    with pytest.raises(PipelineFailed, match="step 'explode' failed: ValueError: bad value 3"):
        run.check()
    assert service.get_run(run.build_id).failed_step == "explode"


@step
def gate(first: int) -> None:
    if first > 2:
        raise GateFailed(f"{first} is above the limit", hint="lower x")


def test_a_gate_failure_is_told_apart_from_a_step_failure(workspace: Workspace) -> None:
    @step
    def publish(first: int) -> int:
        return first

    pipeline = Pipeline("gated", steps=[first, gate, publish], params={"x": 3})
    run = workspace.pipelines.run(pipeline)
    assert [s.status for s in run.steps] == ["succeeded", "gate-failed", "not-run"]
    assert run.status == "gate-failed" and run.exit_code == GateFailed.exit_code == 6
    assert run.error is not None and run.error["gate"] and run.error["hint"] == "lower x"
    with pytest.raises(GateFailed, match="gate step 'gate' failed: 3 is above the limit"):
        run.check()
    passed = workspace.pipelines.run(Pipeline("gated", steps=[first, gate], params={"x": 1}))
    assert passed.succeeded and passed.exit_code == 0
    passed.check()


def test_logs_capture_logging_stdout_and_stderr(workspace: Workspace) -> None:
    @step
    def chatty(context: StepContext) -> int:
        context.logger.info("via the step logger")
        logging.getLogger("some.library").info("via a library logger")
        logging.getLogger("some.library").debug("debug is left out")
        print("via print")
        print("via stderr", file=sys.stderr)
        return 1

    before = logging.getLogger().level
    run = workspace.pipelines.run(Pipeline("chatty", steps=[chatty]))
    log = run.log("chatty")
    for text in ("via the step logger", "via a library logger", "via print", "via stderr"):
        assert text in log
    assert "debug is left out" not in log and "INFO shipyard.pipeline.chatty.chatty" in log
    assert logging.getLogger().level == before


def test_records_are_stored_listed_and_found(workspace: Workspace) -> None:
    service = workspace.pipelines
    one = service.run(Pipeline("alpha", steps=[first], params={"x": 1}))
    two = service.run(Pipeline("beta", steps=[first], params={"x": 2}))
    three = service.run(Pipeline("alpha", steps=[first], params={"x": 3}))
    assert [r.version for r in service.list_runs("alpha")] == [2, 1]
    assert [r.build_id for r in service.list_runs()] == [three.build_id, two.build_id, one.build_id]
    assert len(service.list_runs(limit=2)) == 2
    found = service.get_run(two.build_id)
    assert (found.pipeline, found.params, found.status) == ("beta", {"x": 2}, "succeeded")
    assert found.step("first").duration is not None and found.step("first").log
    assert found.code_version.keys() >= {"commit", "dirty"}
    assert service.get_version("alpha").build_id == three.build_id
    assert service.get_version("alpha", 1).outputs["first"] == 1
    assert three.ref == Ref("pipeline_run", "alpha", 2)
    with pytest.raises(NotFound, match="No pipeline run with build id 'nope'"):
        service.get_run("nope")
    with pytest.raises(NotFound):
        service.get_run(one.build_id, pipeline="beta")


def test_an_interrupted_run_is_recorded_and_the_interrupt_raised(workspace: Workspace) -> None:
    @step
    def stop(first: int) -> int:
        raise KeyboardInterrupt

    @step
    def later(stop: int) -> int:
        return stop

    service = workspace.pipelines
    with pytest.raises(KeyboardInterrupt):
        service.run(Pipeline("stopped", steps=[first, stop, later], params={"x": 1}))
    run = service.get_version("stopped")
    assert [s.status for s in run.steps] == ["succeeded", "interrupted", "not-run"]
    assert run.status == "interrupted" and run.failed_step == "stop" and run.exit_code == 130


def test_a_step_that_calls_sys_exit_fails_without_ending_the_run(workspace: Workspace) -> None:
    @step
    def quits() -> int:
        sys.exit(3)

    run = workspace.pipelines.run(Pipeline("quits", steps=[quits]))
    assert run.status == "failed" and "sys.exit(3)" in str(run.error)


def test_bad_output_shapes_fail_the_step(workspace: Workspace) -> None:
    @step(outputs=("a", "b"))
    def wrong() -> int:
        return 1

    run = workspace.pipelines.run(Pipeline("shape", steps=[wrong]))
    assert run.status == "failed" and "declares outputs a, b" in str(run.error)


def test_a_principal_without_the_run_permission_is_refused(tmp_path: Path) -> None:
    with shipyard.connect(tmp_path / "guarded", principal="alice") as ws:
        service = ws.pipelines
        service.run(Pipeline("open", steps=[first], params={"x": 1}))  # unrestricted by default
        ws.security.put_policy(
            "only-features",
            {"Statement": [{"Effect": "Allow", "Action": "features:*", "Resource": "*"}]},
        )
        ws.security.attach("only-features", principal="alice")
        with pytest.raises(AccessDenied):
            service.run(Pipeline("open", steps=[first], params={"x": 1}))


def test_an_output_that_cannot_be_stored_fails_its_step(workspace: Workspace) -> None:
    @step
    def generator() -> object:
        return (i for i in range(3))

    run = workspace.pipelines.run(Pipeline("unstorable", steps=[generator]))
    assert run.status == "failed" and run.error is not None
    assert "pickle" in run.error["message"] and "Traceback" in run.log("generator")
