"""Async invocations: accepted over real HTTP (202), run by a worker from the durable
queue, output written once where the answer said; failures end in the dead letter with
their error at the failure location; webhooks signed; workers follow the queue."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.conftest import serving_in_thread
from tests.serving.async_helpers import COLUMNS, frame, make_endpoint, webhook_receiver

import shipyard
from shipyard.jobs.elastic import ElasticWorkers, async_handlers
from shipyard.jobs.worker import WorkerPool
from shipyard.serving.asynchronous.outputs import read_json

pytestmark = pytest.mark.filterwarnings("ignore:X has feature names:UserWarning")


def run_queue(home: Path) -> list[Any]:
    """Run every queued job of ``home`` here, one at a time; the jobs as they ended."""
    done = []
    with shipyard.connect(home) as ws:
        pool = WorkerPool(ws.runtime, async_handlers(ws.runtime, None), threads=0)
        while (job := pool.run_once()) is not None:
            done.append(job)
    return done


def arrow_stream(data: Any) -> bytes:
    table = pa.Table.from_pandas(data, preserve_index=False)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=1000)
    return sink.getvalue()


def test_json_arrow_and_parquet_inputs_give_the_models_predictions_once(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    secret = "s3cret-for-tests"
    import os

    os.environ["ASYNC_TEST_SECRET"] = secret
    with webhook_receiver() as (hook, received):
        model = make_endpoint(
            home, notify_success=f"{hook}/ok", notify_error=f"{hook}/err",
            secret_env="ASYNC_TEST_SECRET",
        )  # fmt: skip
        data = frame(2500, 7)
        parquet = tmp_path / "input.parquet"
        pq.write_table(
            pa.Table.from_pandas(data, preserve_index=False), parquet, row_group_size=700
        )
        with serving_in_thread(home) as (base, _app):
            url = f"{base}/endpoints/scores/async-invocations"
            small = data.head(40)
            answers = [
                httpx.post(url, json={"records": small.to_dict("records")}, timeout=30),
                httpx.post(
                    url,
                    content=arrow_stream(data),
                    headers={
                        "Content-Type": "application/vnd.apache.arrow.stream",
                        "X-Request-Id": "caller-7",
                    },
                    timeout=30,
                ),
                httpx.post(url, headers={"X-Shipyard-Input-Location": str(parquet)}, timeout=30),
            ]
            for answer in answers:
                assert answer.status_code == 202, answer.text
                assert answer.headers["Location"] == f"/jobs/{answer.json()['job_id']}"
            assert answers[1].json()["request_id"] == "caller-7"
            queued = httpx.get(f"{base}{answers[0].json()['status_url']}", timeout=10).json()
            assert queued["state"] == "queued" and queued["kind"] == "inference:scores"

            ended = run_queue(home)  # the invocations, then the webhooks they queued
            assert [j.kind for j in ended] == ["inference:scores"] * 3 + ["webhook"] * 3
            assert {j.state for j in ended} == {"succeeded"}, [j.error for j in ended]
            status = httpx.get(f"{base}/jobs/{answers[2].json()['job_id']}", timeout=10).json()
            assert status["state"] == "succeeded" and status["result"]["rows"] == 2500
            metrics = httpx.get(f"{base}/metrics", timeout=10).text
            assert 'shipyard_job_queue_depth{kind="inference:scores"} 0.0' in metrics

        expected = [small, data, data]
        for answer, rows in zip(answers, expected, strict=True):
            output = read_json(answer.json()["output_location"])
            assert output["predictions"] == model.predict(rows[COLUMNS]).tolist()
            assert output["rows"] == len(rows) and output["model"] == "clf@1"
        assert received.event.wait(0)
        assert sorted(b["job_id"] for b in received.bodies()) == sorted(
            a.json()["job_id"] for a in answers
        )
        for path, headers, body in received.posts:
            assert path == "/ok"
            mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            assert headers["X-Shipyard-Signature"] == f"sha256={mac}"
    outputs = list((home / "artifacts" / "async" / "scores").glob("*.out.json"))
    assert len(outputs) == 3


def test_bad_invocations_are_refused_at_once_and_bad_rows_end_in_the_dead_letter(
    tmp_path: Path,
) -> None:
    home = tmp_path / "ws"
    with webhook_receiver() as (hook, received):
        make_endpoint(home, notify_error=f"{hook}/err", max_attempts=2)
        with serving_in_thread(home) as (base, _app):
            url = f"{base}/endpoints/scores/async-invocations"
            nowhere = f"{base}/endpoints/nope/async-invocations"
            located = "X-Shipyard-Input-Location"
            refused = {
                "unknown endpoint": httpx.post(nowhere, json={"records": [{"a": 1}]}),
                "content type": httpx.post(url, content=b"a,b", headers={"Content-Type": "x/y"}),
                "empty": httpx.post(url, content=b"", headers={"Content-Type": "text/csv"}),
                "outside roots": httpx.post(url, headers={located: "/etc/passwd"}),
                "object store": httpx.post(url, headers={located: "s3://elsewhere/x.parquet"}),
            }
            for why, answer in refused.items():
                assert 400 <= answer.status_code < 500, (why, answer.text)
                assert answer.json()["message"], why
            assert refused["unknown endpoint"].status_code == 404
            assert refused["content type"].status_code == 415
            bad = httpx.post(url, json={"records": [{"a": 1.0, "b": "x"}]}, timeout=30)
            assert bad.status_code == 202
        ended, notified = run_queue(home)
        assert notified.kind == "webhook" and notified.state == "succeeded"
        # A bad row is the caller's: failed at once, not retried, the error where promised.
        assert ended.state == "failed" and ended.attempts == 1
        failure = read_json(bad.json()["failure_location"])
        assert failure["state"] == "failed" and failure["job_id"] == ended.id
        assert "missing column 'c' (float)" in failure["error"]["problems"]
        assert not Path(bad.json()["output_location"]).exists()
        (body,) = received.bodies()
        assert body["job_id"] == ended.id and body["failure_location"]


def test_a_try_past_its_timeout_fails_for_good_and_leaves_no_output(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    make_endpoint(home, timeout_seconds=0.000001)
    data = frame(120_000, 3)  # three record batches: the deadline is checked between them
    parquet = tmp_path / "big.parquet"
    pq.write_table(pa.Table.from_pandas(data, preserve_index=False), parquet)
    with serving_in_thread(home) as (base, _app):
        answer = httpx.post(
            f"{base}/endpoints/scores/async-invocations",
            headers={"X-Shipyard-Input-Location": str(parquet)},
            timeout=30,
        ).json()
    (ended,) = run_queue(home)
    assert ended.state == "failed" and "timeout" in ended.error
    assert not Path(answer["output_location"]).exists()
    assert read_json(answer["failure_location"])["error"]["error"] == "timed_out"
    leftovers = list(Path(answer["output_location"]).parent.glob(".tmp/*"))
    assert leftovers == []


def test_workers_follow_the_queue_from_none_to_most_and_back(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    model = make_endpoint(home)
    data = frame(50, 2)
    with shipyard.connect(home) as ws, serving_in_thread(home) as (base, _app):
        workers = ElasticWorkers(ws.runtime, most=2, poll=0.1, linger=0.5)
        with workers:
            time.sleep(0.5)
            assert workers.pool.live == 0  # nothing queued: no thread
            answers = [
                httpx.post(f"{base}/endpoints/scores/async-invocations",
                           json={"columns": data.to_dict("list")}, timeout=30).json()
                for _ in range(5)
            ]  # fmt: skip
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                states = [ws.runtime.jobs.get(a["job_id"]).state for a in answers]
                if states == ["succeeded"] * 5:
                    break
                time.sleep(0.1)
            assert states == ["succeeded"] * 5
            deadline = time.monotonic() + 10
            while workers.pool.live and time.monotonic() < deadline:
                time.sleep(0.1)
            assert workers.pool.live == 0
    expected = model.predict(data[COLUMNS]).tolist()
    assert all(read_json(a["output_location"])["predictions"] == expected for a in answers)


def test_the_async_config_is_checked_when_the_endpoint_is_made(tmp_path: Path) -> None:
    from shipyard.errors import InvalidInput

    for bad in ({"max_attempts": 0}, {"notify_error": "ftp://x"}, {"secret_env": "a b"},
                {"timeout_seconds": -1}, {"colour": "red"}):  # fmt: skip
        with pytest.raises(InvalidInput):
            make_endpoint(tmp_path / json.dumps(bad).replace("/", "_"), **bad)
    assert np.isfinite(1.0)


def test_a_job_that_expires_unclaimed_gets_its_failure_record_and_webhook(tmp_path: Path) -> None:
    from shipyard.serving.asynchronous.sweep import sweep

    home = tmp_path / "ws"
    with webhook_receiver() as (hook, received):
        make_endpoint(home, ttl_seconds=0.2, notify_error=f"{hook}/err")
        with serving_in_thread(home) as (base, _app):
            answer = httpx.post(
                f"{base}/endpoints/scores/async-invocations",
                json={"columns": frame(3, 1).to_dict("list")},
                timeout=30,
            ).json()
        time.sleep(0.5)
        with shipyard.connect(home) as ws:
            settled: set[int] = set()
            assert sweep(ws.runtime, ["inference:scores"], settled) == 1
            assert sweep(ws.runtime, ["inference:scores"], set()) == 0  # recorded once
            assert ws.runtime.jobs.get(answer["job_id"]).state == "expired"
        failure = read_json(answer["failure_location"])
        assert failure["state"] == "expired" and "expired" in failure["error"]["message"]
        (webhook,) = run_queue(home)
        assert webhook.kind == "webhook" and webhook.state == "succeeded"
        assert received.bodies()[0]["job_id"] == answer["job_id"]


def test_a_webhook_that_fails_or_cannot_be_reached_is_queued_again_after_a_backoff(
    tmp_path: Path,
) -> None:
    from shipyard.jobs.webhooks import notify

    with webhook_receiver(fail_first=1) as (hook, received), shipyard.connect(tmp_path) as ws:
        notify(ws.runtime, f"{hook}/err", {"job_id": 1, "state": "failed"}, {})
        pool = WorkerPool(ws.runtime, async_handlers(ws.runtime, []), threads=0)
        tried = pool.run_once()
        assert tried is not None and tried.state == "queued" and tried.attempts == 1
        assert "HTTP 503" in (tried.error or "") and tried.available_at > tried.created_at
        assert pool.run_once() is None  # not before its backoff
        assert received.posts == []
    with shipyard.connect(tmp_path) as ws:
        notify(ws.runtime, "http://127.0.0.1:9/nothing-listens", {"job_id": 2}, {})
        done = WorkerPool(ws.runtime, async_handlers(ws.runtime, []), threads=0).run_once()
        assert done is not None and done.state == "queued"  # unreachable: tried again later


def test_a_json_input_too_large_to_parse_whole_is_refused_at_once(tmp_path: Path) -> None:
    from shipyard.serving.asynchronous.inputs import MAX_JSON_BYTES

    home = tmp_path / "ws"
    make_endpoint(home)
    body = b'{"records": [' + b" " * MAX_JSON_BYTES + b"]}"
    with serving_in_thread(home) as (base, _app):
        answer = httpx.post(
            f"{base}/endpoints/scores/async-invocations",
            content=body,
            headers={"Content-Type": "application/json"},
            timeout=60,
        )
        with shipyard.connect(home) as ws:
            queued = ws.runtime.jobs.list(kind="inference:scores")
    assert answer.status_code == 413, answer.text
    assert "JSON lines" in answer.json()["hint"] and queued == []


def test_an_artifact_reference_needs_the_right_to_read_every_dataset(tmp_path: Path) -> None:
    """An artifact is read past every service's check, and a bad row's error shows its
    values: a caller who may invoke the endpoint but not read a dataset is refused (403)."""
    from shipyard.api.deps import get_principal

    home = tmp_path / "ws"
    make_endpoint(home)
    with shipyard.connect(home) as ws:
        rows = ws.datasets.register("secret", frame(5, 1))
        artifact = f"sha256:{rows.artifact}"
        ws.security.put_policy("invoke-only", {"Statement": [
            {"Effect": "Allow", "Action": "endpoints:Invoke", "Resource": "*"}]})  # fmt: skip
        ws.security.attach("invoke-only", principal="bob")
    with serving_in_thread(home) as (base, app):
        url = f"{base}/endpoints/scores/async-invocations"
        headers = {
            "X-Shipyard-Input-Location": artifact,
            "X-Shipyard-Input-Content-Type": "application/vnd.apache.parquet",
        }
        mine = httpx.post(url, headers=headers, timeout=30)
        app.dependency_overrides[get_principal] = lambda: "bob"
        try:
            bobs = httpx.post(url, headers=headers, timeout=30)
        finally:
            app.dependency_overrides.clear()
    assert mine.status_code == 202, mine.text
    assert bobs.status_code == 403, bobs.text
