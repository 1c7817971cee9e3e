"""The worker's side of async inference: one job, one invocation, start to end.

The job's payload pins what the accepting server chose: the endpoint, the variant, the
model version, the input, the output and failure locations and the time the request
counts as made (enrichment reads online features as of then). Running it twice
therefore writes the same output to the same place (:mod:`.outputs`).

A try that fails with attempts left raises, and the job store queues it again after a
backoff. The last try (or one whose failure is the input's, a 4xx) also writes its
error to the failure location and notifies the endpoint's error webhook; a success
notifies the success webhook. Each try must end within the endpoint's
``timeout_seconds``, checked between record batches.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInput, ShipyardError
from shipyard.jobs.webhooks import notify
from shipyard.serving.asynchronous.inputs import batches, opened
from shipyard.serving.asynchronous.outputs import PredictionsJson, write_json, written_whole
from shipyard.serving.capture import CaptureWriter, RequestCapture
from shipyard.serving.inference import Predictor
from shipyard.serving.postprocess import apply as postprocess
from shipyard.serving.postprocess import needs_scores

if TYPE_CHECKING:
    from shipyard.runtime import Runtime
    from shipyard.stores.jobs import Job

LEASE = timedelta(seconds=60)
PROGRESS_EVERY = 1.0  # seconds between progress reports (a write each: not per small job)
PREDICTORS_KEPT = 8  # loaded models a worker process keeps between jobs


class TimedOut(InvalidInput):
    """A try ran past the endpoint's timeout_seconds: trying again would too."""

    code = "timed_out"
    http_status = 408


def run_async_inference(runtime: Runtime, job: Job) -> dict[str, Any]:
    """The job handler: predict, write the output, notify; the result names the output."""
    payload = job.payload
    try:
        result = _infer(runtime, job)
    except Exception as exc:
        if _last_try(job, exc):
            _record_failure(runtime, job, exc)
        raise
    notify(runtime, payload.get("notify_success"), _event(job, "succeeded", result), payload)
    return result


def _infer(runtime: Runtime, job: Job) -> dict[str, Any]:
    payload = job.payload
    workspace = runtime.workspace(runtime.settings.principal, source="worker")
    predictor = _predictor(workspace, payload["model"], int(payload["version"]))
    spec = payload.get("spec") or {}
    at = datetime.fromisoformat(payload["at"])
    deadline = time.monotonic() + float(payload["timeout_seconds"])
    header = {key: payload[key] for key in ("endpoint", "variant", "request_id", "inference_id")}
    header["model"] = f"{payload['model']}@{payload['version']}"
    source = payload["input"]
    rows = 0
    reported = time.monotonic()
    with (
        opened(workspace, source["location"]) as handle,
        written_whole(payload["output_location"]) as out,
    ):
        writer = PredictionsJson(out, header)
        for number, (columns, count) in enumerate(batches(handle, source["format"])):
            if time.monotonic() > deadline:
                raise TimedOut(
                    f"The invocation ran past its {payload['timeout_seconds']:g} s timeout "
                    f"after {rows:,} rows.",
                    hint="Raise the endpoint's async timeout_seconds, or send a smaller input.",
                )
            capture = _capture(runtime, payload, number, columns, at)
            predictions = _predict(runtime, predictor, spec, columns, count, at, capture)
            capture.done(payload["endpoint"], payload["variant"], 200)
            writer.add(predictions)
            rows += count
            if time.monotonic() - reported >= PROGRESS_EVERY:
                runtime.jobs.report_progress(job, {"batches": number + 1, "rows": rows})
                reported = time.monotonic()
        if rows == 0:
            raise InvalidInput("The input has no rows; send at least one.")
        writer.close()
    _capture_writer(runtime).flush()
    return {"output_location": payload["output_location"], "rows": rows, **header}


def _predict(
    runtime: Runtime,
    predictor: Predictor,
    spec: dict[str, Any],
    columns: dict[str, Any],
    rows: int,
    at: datetime,
    capture: RequestCapture,
) -> Any:
    """One batch through the stages the real-time route runs: check, enrich, model,
    postprocess."""
    plan = predictor.enrichment
    if plan is not None:
        plan.check_request(columns)
    arrays = predictor.request_schema.convert(columns, rows)
    capture.checked(arrays)
    if plan is not None:
        policies = spec.get("on_missing") or {}
        enriched = plan.enrich(runtime.online, arrays, rows, now=at, policies=policies)
        arrays = {**arrays, **enriched.arrays}
        capture.enriched(enriched, arrays)
    if needs_scores(spec):
        scores = predictor.predict_proba(arrays)
        step = spec.get("postprocess") or {"kind": "predict"}
        predictions = postprocess(step, scores, predictor.loaded.classes)
        capture.predicted(predictor, predictions, scores)
    else:
        predictions = predictor.predict(arrays)
        capture.predicted(predictor, predictions)
    return predictions


def _capture(
    runtime: Runtime, payload: Any, number: int, columns: Any, at: datetime
) -> RequestCapture:
    """The batch's capture: the invocation's request id, with ``#N`` past the first batch
    (monitoring joins ground truth on it), sampled at the endpoint's rate."""
    request_id = payload["request_id"] if number == 0 else f"{payload['request_id']}#{number}"
    capture = RequestCapture(_capture_writer(runtime), request_id, payload.get("key"))
    capture.endpoint(payload.get("spec") or {})
    capture.model = f"{payload['model']}@{payload['version']}"
    capture.columns = columns
    if payload.get("stated_time"):
        capture.at = at
    capture.parsing()
    return capture


def _last_try(job: Job, exc: Exception) -> bool:
    caller_error = isinstance(exc, ShipyardError) and 400 <= exc.http_status < 500
    return caller_error or job.attempts >= job.max_attempts


def _record_failure(runtime: Runtime, job: Job, exc: Exception) -> None:
    """The error, at the failure location and to the error webhook; best effort, the
    job's own record keeps the error whatever happens here."""
    payload = job.payload
    error = exc.to_dict() if isinstance(exc, ShipyardError) else {"error": type(exc).__name__}
    error.setdefault("message", str(exc))
    document = {**_event(job, "failed", {}), "error": error}
    try:
        write_json(payload["failure_location"], document)
    except Exception:  # the job store has the error; the file is a convenience
        import logging

        logging.getLogger(__name__).warning("could not write %s", payload["failure_location"])
    notify(runtime, payload.get("notify_error"), document, payload)


def _event(job: Job, state: str, result: dict[str, Any]) -> dict[str, Any]:
    payload = job.payload
    return {
        "job_id": job.id,
        "state": state,
        "endpoint": payload["endpoint"],
        "inference_id": payload["inference_id"],
        "request_id": payload["request_id"],
        "output_location": payload["output_location"] if state == "succeeded" else None,
        "failure_location": payload["failure_location"] if state != "succeeded" else None,
        "rows": result.get("rows"),
        "time": datetime.now(UTC).isoformat(),
    }


_lock = threading.Lock()
_predictors: OrderedDict[tuple[str, str, int], Predictor] = OrderedDict()
_writers: dict[str, CaptureWriter] = {}


def _predictor(workspace: Any, model: str, version: int) -> Predictor:
    """The model version loaded for serving, kept for the next jobs (the last few used)."""
    from shipyard.serving.loading import load_predictor

    key = (str(workspace.settings.home), model, version)
    with _lock:
        found = _predictors.get(key)
        if found is not None:
            _predictors.move_to_end(key)
            return found
    found = load_predictor(workspace, model, version)
    with _lock:
        _predictors[key] = found
        while len(_predictors) > PREDICTORS_KEPT:
            _predictors.popitem(last=False)
    return found


def _capture_writer(runtime: Runtime) -> CaptureWriter:
    """One capture writer per home in this process, as a serving process has."""
    home = str(runtime.settings.home)
    with _lock:
        found = _writers.get(home)
        if found is None:
            from pathlib import Path

            found = _writers[home] = CaptureWriter(Path(home) / "capture")
        return found
