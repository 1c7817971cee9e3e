"""Experiment tracking through the workspace (``ws.runs``), on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.stores.tracking import RunInfo, TrackingStore, tracking_store_for
from shipyard.training.tracking import SearchSyntaxError, Tracker
from shipyard.training.tracking.search import Comparison, Junction, parse_filter, parse_order_by
from shipyard.training.tracking.writer import BatchWriter
from shipyard.workspace import Workspace

CHILD = textwrap.dedent(
    """
    import sys, shipyard
    home, url, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    ws = shipyard.connect(home, metadata_url=url)
    run = ws.runs.start_run("exit", "child")
    print(run.uid, flush=True)
    for i in range(10_000):
        run.log_metric("loss", float(i), step=i)
    if mode == "raise":
        raise RuntimeError("crashed on purpose")
    """
)


KILLED = textwrap.dedent(
    """
    import os, sys, time, shipyard
    home, url = sys.argv[1], sys.argv[2]
    ws = shipyard.connect(home, metadata_url=url)
    run = ws.runs.start_run("killed", "child", record={"seed": 1})
    run.log_params({"lr": 0.1})
    run.log_metric("loss", 0.5)
    print(run.uid, flush=True)
    time.sleep(float(sys.argv[3]))
    os._exit(9)  # no atexit, no flush: as if the process were killed
    """
)


class FakeFigure:
    def savefig(self, out: Any, format: str) -> None:
        out.write(f"figure as {format}".encode())


def test_round_trip_through_the_workspace(workspace: Workspace, tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(b"\x00\x01")
    (tmp_path / "model" / "conf").mkdir()
    (tmp_path / "model" / "conf" / "a.json").write_text("{}")
    (tmp_path / "report.txt").write_text("report")
    with workspace.runs.start_run("churn", "hgb", record={"seed": 7}) as run:
        run.log_params({"model": "hgb", "lr": 0.1, "layers": [1, 2]})
        run.log_param("learning rate", 0.1)
        run.log_metric("loss", 1.0)
        run.log_metric("loss", 0.5)  # steps count up from 0 when not given
        run.log_metrics({"auc": 0.75, "val auc": 0.7}, step=3)
        run.set_tags({"team": "fraud"})
        run.log_artifact(tmp_path / "report.txt")
        folder = run.log_artifact(tmp_path / "model")
        text = run.log_text("notes/summary.md", "# hi")
        run.log_dict("config.json", {"a": 1})
        figure = run.log_figure(FakeFigure(), "plots/roc.svg")
        run.note("first try")
    info = workspace.runs.get_run(run.uid)
    assert (info.experiment, info.name, info.status, info.record["seed"]) == (
        "churn",
        "hgb",
        "finished",
        7,
    )
    assert "packages_sha256" in info.record  # recorded by itself, beside what was given
    assert info.params == {"model": "hgb", "lr": "0.1", "layers": "[1, 2]", "learning rate": "0.1"}
    assert info.metrics == {"loss": 0.5, "auc": 0.75, "val auc": 0.7}
    assert info.tags == {"team": "fraud"} and info.notes == "first try"
    assert set(info.artifacts) == {
        "report.txt",
        "model/weights.bin",
        "model/conf/a.json",
        "notes/summary.md",
        "config.json",
        "plots/roc.svg",
    }
    assert folder == {p: info.artifacts[p] for p in ("model/conf/a.json", "model/weights.bin")}
    assert info.artifacts["notes/summary.md"] == text
    assert workspace.runs.artifact_bytes(run, "plots/roc.svg") == b"figure as svg"
    assert workspace.artifacts.get_bytes(figure) == b"figure as svg"
    restored = workspace.runs.download_artifact(run.uid, "model", tmp_path / "back")
    assert (restored / "conf" / "a.json").read_text() == "{}"
    history = workspace.runs.metric_history(run.uid, "loss")
    assert [(p.step, p.value) for p in history] == [(0, 1.0), (1, 0.5)]
    assert info.start_time <= info.end_time  # type: ignore[operator]
    assert workspace.runs.experiment("churn").created_by == workspace.principal
    found = workspace.runs.search("params.`learning rate` = '0.1' and metrics.\"val auc\" > 0.6")
    assert [r.uid for r in found] == [run.uid]
    with pytest.raises(NotFound, match=r"nothing\.txt"):
        workspace.runs.artifact_bytes(run, "nothing.txt")


def test_nested_runs(workspace: Workspace) -> None:
    with workspace.runs.start_run("sweep", "parent") as parent:
        with parent.start_child("lr=0.1") as first:
            first.log_metric("auc", 0.8)
        second = workspace.runs.start_run(name="lr=0.2", parent=parent.uid)
        second.end()
    assert second.experiment == "sweep" and first.parent == parent.uid
    children = workspace.runs.runs("sweep", parent=parent)
    assert {r.name for r in children} == {"lr=0.1", "lr=0.2"}
    assert all(r.parent == parent.uid for r in children)
    assert len(workspace.runs.runs("sweep")) == 3
    found = workspace.runs.search(f"attributes.parent_id = '{parent.uid}'", ["attributes.name"])
    assert [r.name for r in found] == ["lr=0.1", "lr=0.2"]


def test_a_failing_run_is_marked_failed_with_its_metrics_and_traceback(
    workspace: Workspace,
) -> None:
    with pytest.raises(ZeroDivisionError), workspace.runs.start_run("crash") as run:
        for step in range(5000):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
        1 / 0  # noqa: B018
    info = workspace.runs.get_run(run.uid)
    assert info.status == "failed" and info.end_time is not None
    assert info.tags["shipyard.error"] == "ZeroDivisionError: division by zero"
    assert "Traceback (most recent call last)" in info.notes and "1 / 0" in info.notes
    assert len(workspace.runs.metric_history(run, "loss")) == 5000
    with pytest.raises(KeyboardInterrupt), workspace.runs.start_run("crash") as stopped:
        raise KeyboardInterrupt
    assert workspace.runs.get_run(stopped.uid).status == "killed"


@pytest.mark.parametrize("mode", ["exit", "raise"])
def test_a_process_that_never_ends_its_run_loses_nothing(
    workspace: Workspace, metadata_url: str, mode: str
) -> None:
    home = str(workspace.settings.home)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, home, metadata_url, mode],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == (0 if mode == "exit" else 1), done.stderr
    info = workspace.runs.get_run(done.stdout.strip())
    history = workspace.runs.metric_history(info.uid, "loss")
    assert [p.value for p in history] == [float(i) for i in range(10_000)]
    assert info.metrics == {"loss": 9999.0}
    if mode == "exit":
        assert info.status == "finished"
    else:
        assert info.status == "failed" and "crashed on purpose" in info.tags["shipyard.error"]


def _written(store: TrackingStore, uid: str) -> RunInfo | None:
    try:
        return store.get_run(uid)
    except NotFound:
        return None


def test_a_killed_process_leaves_its_run_recorded_as_running(
    workspace: Workspace, metadata_url: str
) -> None:
    # The run's row waits for the writer's first batch, at most flush_interval (0.1 s)
    # after start_run; a process killed later than that leaves the run in the store.
    home = str(workspace.settings.home)
    done = subprocess.run(
        [sys.executable, "-c", KILLED, home, metadata_url, "0.5"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 9, done.stderr
    info = workspace.runs.get_run(done.stdout.strip())
    assert (info.status, info.name, info.record["seed"]) == ("running", "child", 1)
    assert (info.params, info.metrics) == ({"lr": "0.1"}, {"loss": 0.5})


def test_trackers_number_their_runs_apart(workspace: Workspace, metadata_url: str) -> None:
    other = Tracker(workspace.metadata, workspace.artifacts, principal="bo")
    runs = []
    for i in range(40):  # past the first block of ids on both sides
        for tracker in (workspace.runs, other):
            runs.append(tracker.start_run("two", f"r{i}"))
    assert len({run.id for run in runs}) == len(runs)
    for run in runs[::7]:
        run.note("written at once")  # the run's row goes first
        run.log_text("a.txt", "a")
    for run in runs:
        run.end()
    found = {r.uid: r for r in workspace.runs.runs("two")}
    assert len(found) == len(runs) and {r.status for r in found.values()} == {"finished"}
    assert found[runs[7].uid].notes == "written at once" and "a.txt" in found[runs[7].uid].artifacts
    fresh = workspace.runs.start_run("two")
    workspace.runs.note(fresh.uid, "by uid, before the writer ran")
    workspace.runs.set_tags(fresh.uid, {"t": "1"})
    assert (fresh.info().notes, fresh.info().tags) == ("by uid, before the writer ran", {"t": "1"})
    fresh.end()


def test_metrics_reach_the_database_without_a_flush(workspace: Workspace) -> None:
    run = workspace.runs.start_run("background")
    for step in range(10):
        run.log_metric("m", float(step))
    independent = tracking_store_for(workspace.metadata)  # reads without flushing the writer
    deadline = time.monotonic() + 10
    while (info := _written(independent, run.uid)) is None or info.metrics.get("m") != 9.0:
        assert time.monotonic() < deadline, "the background writer never flushed"
        time.sleep(0.05)
    assert info.status == "running"
    run.end()
    assert independent.get_run(run.uid).status == "finished"  # end() writes before it returns


# -- search ---------------------------------------------------------------------------------


def _value(run: RunInfo, operand: str) -> Any:
    source, key = operand.split(".", 1)
    if source == "attributes":
        return {"status": run.status, "name": run.name, "experiment": run.experiment}[key]
    return getattr(run, source).get(key)


def _cmp(operand: str, test: Callable[[Any], bool]) -> Callable[[RunInfo], bool]:
    return lambda run: (v := _value(run, operand)) is not None and test(v)


CASES: list[tuple[str, Callable[[RunInfo], bool]]] = [
    (
        "metrics.auc > 0.5 and params.model = 'hgb'",
        lambda r: _cmp("metrics.auc", lambda v: v > 0.5)(r) and r.params["model"] == "hgb",
    ),
    (
        "metrics.auc > 0.8 OR params.model = 'rf'",
        lambda r: _cmp("metrics.auc", lambda v: v > 0.8)(r) or r.params["model"] == "rf",
    ),
    (
        "(params.model = 'hgb' or params.model = 'rf') and metrics.loss <= 0.5",
        lambda r: r.params["model"] in ("hgb", "rf") and r.metrics["loss"] <= 0.5,
    ),
    (
        "params.model = 'hgb' or params.model = 'rf' and metrics.loss <= 0.5",
        lambda r: (
            r.params["model"] == "hgb" or (r.params["model"] == "rf" and r.metrics["loss"] <= 0.5)
        ),
    ),
    (
        "params.depth != '3' and tags.team = 'fraud'",
        lambda r: _cmp("params.depth", lambda v: v != "3")(r) and r.tags.get("team") == "fraud",
    ),
    (
        "params.model LIKE 'h%' or attributes.status = 'failed'",
        lambda r: r.params["model"].startswith("h") or r.status == "failed",
    ),
    (
        "params.model ILIKE 'h_b' and attributes.experiment = 's2'",
        lambda r: r.params["model"].lower() == "hgb" and r.experiment == "s2",
    ),
    (
        "metrics.auc >= 0.25 and metrics.auc < 0.75 and (tags.team != 'x' or metrics.loss > .9)",
        lambda r: (
            _cmp("metrics.auc", lambda v: 0.25 <= v < 0.75)(r)
            and (_cmp("tags.team", lambda v: v != "x")(r) or r.metrics["loss"] > 0.9)
        ),
    ),
    ("attributes.name LIKE 'r1%'", lambda r: r.name.startswith("r1")),
    ("(((metrics.loss > 0.9)))", lambda r: r.metrics["loss"] > 0.9),
    ("", lambda r: True),
]
ORDERS: list[list[str]] = [
    ["metrics.auc DESC"],
    ["metrics.loss"],
    ["params.depth desc", "metrics.auc ASC"],
    [],
]


def _python_order(runs: Sequence[RunInfo], order: list[str]) -> list[RunInfo]:
    rows = list(runs)  # already newest first: the final tie-breaker
    for term in reversed(parse_order_by(order)):
        operand = f"{term.source}.{term.key}"
        present = [r for r in rows if _value(r, operand) is not None]
        present.sort(key=lambda r: _value(r, operand), reverse=term.descending)
        rows = present + [r for r in rows if _value(r, operand) is None]
    return rows


def test_search_agrees_with_a_python_filter(workspace: Workspace) -> None:
    rng = random.Random(11)
    for i in range(200):
        with workspace.runs.start_run("s1" if i % 3 else "s2", f"r{i}") as run:
            params = {"model": rng.choice(["hgb", "rf", "HGB", "lr"]), "depth": rng.randint(1, 9)}
            if rng.random() < 0.2:
                del params["depth"]
            run.log_params(params)
            metrics = {"loss": rng.random()}
            if rng.random() < 0.85:
                metrics["auc"] = rng.random()
            run.log_metrics(metrics)
            if rng.random() < 0.7:
                run.set_tag("team", rng.choice(["fraud", "churn", "x"]))
            run.end(rng.choice(["finished", "finished", "failed", "killed"]))
    everything = workspace.runs.search(max_results=1000)
    assert len(everything) == 200
    for text, predicate in CASES:
        for order in ORDERS:
            expected = _python_order([r for r in everything if predicate(r)], order)
            got = workspace.runs.search(text, order_by=order, max_results=25)
            assert [r.name for r in got] == [r.name for r in expected[:25]], (text, order)
    middle = sorted(everything, key=lambda r: r.start_time)[100]
    since = workspace.runs.search(
        f"attributes.start_time >= '{middle.start_time.isoformat()}'", max_results=1000
    )
    assert {r.uid for r in since} == {
        r.uid for r in everything if r.start_time >= middle.start_time
    }
    epoch = middle.start_time.timestamp()
    assert len(workspace.runs.search(f"attributes.end_time < {epoch}", max_results=1000)) == len(
        [r for r in everything if r.end_time and r.end_time.timestamp() < epoch]
    )
    only_s2 = workspace.runs.search("metrics.loss > 0.5", experiment="s2", max_results=1000)
    assert {r.name for r in only_s2} == {
        r.name for r in everything if r.experiment == "s2" and r.metrics["loss"] > 0.5
    }


def test_parse_tree_and_precedence() -> None:
    tree = parse_filter(
        "metrics.a > 1 or params.b = 'x' and (tags.c LIKE 'y%' or metrics.d < -2e-3)"
    )
    assert isinstance(tree, Junction) and tree.op == "OR"
    first, second = tree.items
    assert first == Comparison("metrics", "a", ">", 1.0, 0)
    assert isinstance(second, Junction) and second.op == "AND"
    assert isinstance(second.items[1], Junction) and second.items[1].op == "OR"
    assert second.items[1].items[1] == Comparison("metrics", "d", "<", -0.002, 57)
    assert parse_filter("  ") is None
    assert parse_filter("tags.`a``b` == 'it''s'") == Comparison("tags", "a`b", "=", "it's", 0)


@pytest.mark.parametrize(
    ("text", "position", "expected"),
    [
        ("metrics.auc > ", 14, "a value"),
        ("metrics.auc >> 1", 13, "a value"),
        ("metrics.auc > 0.5 and", 21, "metrics.KEY"),
        ("(metrics.auc > 0.5", 18, "')' to close the '(' at position 0"),
        ("metrics.auc > 0.5)", 17, "AND, OR or the end"),
        ("params.model = 'hgb", 15, "a closing '"),
        ("params.model = hgb", 15, "a value"),
        ("params.depth > 3", 15, "a quoted string"),
        ("metrics.auc LIKE 'x'", 17, "a number"),
        ("status = 'finished'", 0, "did you mean attributes.status"),
        ("foo.bar = 1", 0, "metrics.KEY"),
        ("attributes.colour = 'x'", 0, "an attribute"),
        ("attributes.status = 'done'", 20, "a status"),
        ("attributes.start_time > 'yesterday'", 24, "a time"),
        ("metrics.auc @ 1", 12, "an operator"),
        ("metrics.auc = 1 and and", 20, "metrics.KEY"),
        ("metrics. `x` = 1", 9, "a key right after 'metrics.'"),
        ("tags.t LIKE 'x\\'", 12, "lone backslash"),
    ],
)
def test_syntax_errors_point_at_the_problem(text: str, position: int, expected: str) -> None:
    with pytest.raises(SearchSyntaxError) as info:
        parse_filter(text)
    assert isinstance(info.value, InvalidInput)
    assert info.value.position == position, info.value
    assert expected in str(info.value)
    assert f"position {position}" in info.value.message


def test_bad_order_terms(workspace: Workspace) -> None:
    with pytest.raises(SearchSyntaxError, match="ASC, DESC") as info:
        workspace.runs.search(order_by=["metrics.auc DOWN"])
    assert info.value.position == 12
    with pytest.raises(InvalidInput, match="an attribute"):
        workspace.runs.search(order_by="attributes.colour")
    with pytest.raises(InvalidInput, match="max_results"):
        workspace.runs.search(max_results=0)
    with pytest.raises(NotFound, match="nope"):
        workspace.runs.search(experiment="nope")


def test_compare(workspace: Workspace) -> None:
    uids = []
    for lr, auc in ((0.1, 0.8), (0.2, 0.9)):
        with workspace.runs.start_run("cmp") as run:
            run.log_params({"model": "hgb", "lr": lr})
            run.log_metric("auc", auc)
            run.set_tag("who", "ana")
        uids.append(run.uid)
    with workspace.runs.start_run("cmp") as other:
        other.log_metric("loss", 1.0)
    table = workspace.runs.compare([*uids, other.uid])
    assert table.runs == (*uids, other.uid)
    assert table.params == {
        "lr": {uids[0]: "0.1", uids[1]: "0.2", other.uid: None},
        "model": {uids[0]: "hgb", uids[1]: "hgb", other.uid: None},
    }
    assert workspace.runs.compare(uids).same_params == {"model": "hgb"}
    assert table.metrics["auc"] == {uids[0]: 0.8, uids[1]: 0.9, other.uid: None}
    assert table.metrics_table()[0] == {"metric": "auc", **table.metrics["auc"]}
    assert table.tags == {"who": {uids[0]: "ana", uids[1]: "ana", other.uid: None}}
    with pytest.raises(NotFound):
        workspace.runs.compare([uids[0], "f" * 32])


def test_an_ended_run_refuses_more(workspace: Workspace) -> None:
    run = workspace.runs.start_run("done")
    run.log_param("lr", 0.1)
    run.log_param("lr", "0.1")  # the same value again is fine
    with pytest.raises(Conflict, match="cannot become"):
        run.log_param("lr", 0.2)
    run.end()
    for attempt in (
        lambda: run.log_metric("m", 1.0),
        lambda: run.log_metrics({"m": 1.0}),
        lambda: run.log_params({"b": 1}),
        lambda: run.set_tag("t", "v"),
        lambda: run.log_bytes("x", b""),
        lambda: run.note("late"),
        lambda: run.end("failed"),
    ):
        with pytest.raises(Conflict, match=f"run {run.uid} .* has ended \\(finished\\)"):
            attempt()
    workspace.runs.set_tags(run.uid, {"reviewed": "yes"})  # annotating an ended run is fine
    workspace.runs.note(run, "looked at it")
    info = workspace.runs.get_run(run.uid)
    assert info.tags == {"reviewed": "yes"} and info.notes == "looked at it"


def test_bad_input_is_refused(workspace: Workspace) -> None:
    run = workspace.runs.start_run("bad")
    bad: list[Callable[[], object]] = [
        lambda: run.log_metric("", 1.0),
        lambda: run.log_metric("x" * 251, 1.0),
        lambda: run.log_metric("a\nb", 1.0),
        lambda: run.log_metric("m", math.nan),
        lambda: run.log_metric("m", math.inf),
        lambda: run.log_metric("m", "0.5"),  # type: ignore[arg-type]
        lambda: run.log_metric("m", None),  # type: ignore[arg-type]
        lambda: run.log_metric("m", 1.0, step=1.5),  # type: ignore[arg-type]
        lambda: run.log_metric("m", 1.0, step=2**63),
        lambda: run.log_metrics({"ok": 1.0, "m": float("-inf")}),
        lambda: run.log_params({3: "x"}),  # type: ignore[dict-item]
        lambda: run.set_tag("\x00", "x"),
        lambda: run.log_bytes("../escape", b""),
        lambda: run.log_bytes("/abs", b""),
        lambda: run.end("done"),  # type: ignore[arg-type]
        lambda: workspace.runs.start_run("has space"),
        lambda: workspace.runs.start_run("ok", "\t"),
        lambda: workspace.runs.start_run("ok", record={"x": object()}),
        lambda: run.log_figure(object()),
    ]
    for attempt in bad:
        with pytest.raises(InvalidInput):
            attempt()
    run.log_metric("ok", 2)  # ints are numbers
    run.end()
    info = workspace.runs.get_run(run.uid)
    assert info.metrics == {"ok": 2.0}  # nothing of the refused batch was written
    with pytest.raises(NotFound, match=r"f{32}"):
        workspace.runs.get_run("f" * 32)
    with pytest.raises(NotFound):
        workspace.runs.start_run(parent="f" * 32)


# -- the writer on its own ---------------------------------------------------------------------


class FlakyStore:
    """Fails the first write, then records every batch."""

    supports_threads = True

    def __init__(self) -> None:
        self.batches: list[dict[str, Any]] = []
        self.fail_next = True

    def log_batch(self, **rows: Any) -> None:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("database went away")
        self.batches.append(rows)


def test_a_failed_write_keeps_its_rows_and_raises_on_flush() -> None:
    store = FlakyStore()
    writer = BatchWriter(store, interval=0.01, batch_size=10)  # type: ignore[arg-type]
    writer.add_metrics([(1, "m", s, float(s), 0.0) for s in range(25)])
    deadline = time.monotonic() + 5
    while writer.error is None and not store.batches:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    writer.add_metric((1, "m", 25, 25.0, 0.0))
    store.fail_next = True
    with pytest.raises(RuntimeError, match="went away"):
        writer.flush()
    writer.flush(ends=[(1, "finished", None)])  # type: ignore[list-item]
    written = [row[2] for batch in store.batches for row in batch["metrics"]]
    assert written == list(range(26)) and writer.pending() == 0
    assert store.batches[-1]["ends"] == [(1, "finished", None)]


def test_the_tracker_is_cheap_to_create(workspace: Workspace) -> None:
    assert isinstance(workspace.runs, Tracker) and workspace.runs is workspace.runs
    assert "active_runs=0" in repr(workspace.runs)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_starts_with_an_empty_queue() -> None:
    store = FlakyStore()
    store.fail_next = False
    writer = BatchWriter(store, interval=60, batch_size=10**6)  # type: ignore[arg-type]
    writer.add_metric((1, "m", 0, 0.0, 0.0))
    pid = os.fork()
    if pid == 0:  # the child: the parent's queued row is the parent's to write
        ok = writer.pending() == 0
        writer.add_metric((2, "m", 0, 0.0, 0.0))
        writer.flush()
        ok = ok and [row[0] for b in store.batches for row in b["metrics"]] == [2]
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    writer.flush()
    assert [row[0] for b in store.batches for row in b["metrics"]] == [1]


def test_a_run_started_by_hand_records_its_environment(workspace: Workspace) -> None:
    from shipyard._version import __version__

    with workspace.runs.start_run("manual", record={"seed": 11}) as run:
        run.log_metric("auc", 0.7)
    record = workspace.runs.get_run(run.uid).record
    assert record["seed"] == 11  # what the caller gives is kept
    assert record["shipyard"] == __version__ and record["python"]
    assert len(record["packages_sha256"]) == 64 and "commit" in record["code"]
    assert "packages" not in record  # the full list is the runner's: runs stay cheap
