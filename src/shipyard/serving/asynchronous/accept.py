"""``POST /endpoints/{name}/async-invocations``: accept an invocation, queue it, answer 202.

The input comes by reference (``X-Shipyard-Input-Location``, checked by
:func:`~shipyard.serving.asynchronous.locations.check_reference`) or in the body, which
is spooled to a local file a chunk at a time as it arrives and then stored as an artifact:
at most a chunk of it is in memory, whatever its size (up to the
``max_async_request_bytes`` setting, 1 GiB by default). The variant and model version are
chosen now, as for a real-time request, and pinned in the job, as are the output and
failure locations the answer names.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shipyard.api.deps import get_runtime, get_workspace
from shipyard.errors import BackendUnavailable, InvalidInput, ShipyardError
from shipyard.jsonsafe import jsonable
from shipyard.serving.asynchronous.config import config_of, job_kind
from shipyard.serving.asynchronous.inputs import MAX_JSON_BYTES, input_format, too_large_for_json
from shipyard.serving.asynchronous.locations import check_reference, locations
from shipyard.serving.inference import JSON_TYPE
from shipyard.serving.multi_model import is_multi_model
from shipyard.serving.routing import choose_variant

if TYPE_CHECKING:
    from shipyard.serving.app import Serving

LOCATION_HEADER = "x-shipyard-input-location"
FORMAT_HEADER = "x-shipyard-input-content-type"
SPOOL_CHUNK = 1 << 20
# What a worker needs of the endpoint spec, pinned at acceptance like the model version.
SPEC_KEYS = (
    "postprocess",
    "on_missing",
    "capture_rate",
    "capture_parsed",
)  # bytes gathered before each write to the spool file


def async_routes(serving: Serving) -> list[Route]:
    async def accept(request: Request) -> JSONResponse:
        from shipyard.serving.app import (
            Caller,
            check_header,
            endpoint_resource,
            request_principal,
            stated_time,
        )

        name = request.path_params["name"]
        caller = Caller.of(request)
        try:
            check_header("X-Request-Id", caller.request_id)
            check_header("X-Shipyard-Key", caller.key)
            runtime = await get_runtime(request)
            principal = await request_principal(request)
            workspace = await get_workspace(request, runtime, principal)
            workspace.authorize("endpoints:Invoke", endpoint_resource(name))
            at = stated_time(caller.event_time, workspace, name)
            endpoint = serving.states.get(name)
            if is_multi_model(endpoint):
                raise InvalidInput(
                    f"Endpoint {name!r} serves many models; async invocations go to an "
                    "endpoint with variants.",
                    hint="Create an endpoint for the model and invoke that one.",
                )
            variant = choose_variant(endpoint, caller.target, key=caller.key)
            config = config_of(endpoint.spec)
            source = await _input(request, workspace, config)
            inference = uuid.uuid4().hex
            where = locations(runtime.settings, config, name, inference)
            payload = {
                "endpoint": name,
                "variant": variant.name,
                "model": variant.model,
                "version": variant.version,
                "spec": {k: endpoint.spec.get(k) for k in SPEC_KEYS},
                "input": source,
                "inference_id": inference,
                "request_id": caller.request_id or inference,
                "key": caller.key,
                "at": (at or datetime.now(UTC)).isoformat(),
                "stated_time": at is not None,
                "output_location": where.output,
                "failure_location": where.failure,
                "timeout_seconds": config.timeout_seconds,
                "notify_success": config.notify_success,
                "notify_error": config.notify_error,
                "secret_env": config.secret_env,
            }
            job = await anyio.to_thread.run_sync(
                lambda: runtime.jobs.enqueue(
                    job_kind(name),
                    payload,
                    created_by=principal,
                    max_attempts=config.max_attempts,
                    ttl=timedelta(seconds=config.ttl_seconds),
                )
            )
        except ShipyardError as exc:
            return JSONResponse(jsonable(exc.to_dict()), status_code=exc.http_status)
        answer = {
            "job_id": job.id,
            "inference_id": inference,
            "request_id": payload["request_id"],
            "state": job.state,
            "variant": variant.name,
            "model": f"{variant.model}@{variant.version}",
            "output_location": where.output,
            "failure_location": where.failure,
            "status_url": f"/jobs/{job.id}",
        }
        return JSONResponse(answer, status_code=202, headers={"Location": f"/jobs/{job.id}"})

    return [Route("/endpoints/{name}/async-invocations", accept, methods=["POST"])]


async def _input(request: Request, workspace: Any, config: Any) -> dict[str, Any]:
    """The job's input: the reference the caller gave, or the body stored as an artifact."""
    reference = request.headers.get(LOCATION_HEADER)
    if reference is not None:
        location = check_reference(workspace.settings, config, reference)
        named = location
        if not location.startswith("dataset:"):  # artifacts, files, URLs: raw bytes
            _may_read_any_artifact(workspace)
        if location.startswith("dataset:"):  # the caller must be able to read it
            workspace.datasets.get(location.removeprefix("dataset:"))
            named = "dataset.parquet"  # a dataset version is stored as Parquet
        kind = input_format(request.headers.get(FORMAT_HEADER), named)
        return {"location": location, "format": kind}
    kind = input_format(request.headers.get("content-type"))
    digest, size = await _store_body(request, workspace)
    if kind == JSON_TYPE and size > MAX_JSON_BYTES:  # the worker would refuse it: say so now
        raise too_large_for_json(size)
    return {"location": f"sha256:{digest}", "format": kind, "bytes": size}


def _may_read_any_artifact(workspace: Any) -> None:
    """A reference other than a dataset version (an artifact, a file, a URL) is read
    directly, past every check a service makes, and a bad row's error shows its values:
    allowed only to a caller who may read every dataset (the rows the store holds)."""
    from shipyard.data.datasets import READ, dataset_resource

    for name in workspace.metadata.list_names("dataset"):
        workspace.authorize(READ, dataset_resource(name))


async def _store_body(request: Request, workspace: Any) -> tuple[str, int]:
    """Spool the body to a local file as it arrives, then store that as an artifact."""
    spool = Path(workspace.settings.home) / "tmp" / f"async-body-{uuid.uuid4().hex}"
    spool.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    try:
        with spool.open("wb") as out:
            async for piece in _gathered(request.stream()):
                size += len(piece)
                await anyio.to_thread.run_sync(out.write, piece)
        if size == 0:
            raise InvalidInput(
                "The async invocation has no input.",
                hint="Send the input in the body, or name it in X-Shipyard-Input-Location.",
            )
        stored = await anyio.to_thread.run_sync(workspace.artifacts.put_file, spool)
    except OSError as exc:  # a full disk, or the artifact store away: the server's trouble
        raise BackendUnavailable(
            f"The async invocation's body could not be stored: {exc}",
            hint="Try again later; the server's disk or artifact store needs attention.",
        ) from None
    finally:
        spool.unlink(missing_ok=True)
    return stored.digest, size


async def _gathered(stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The stream's pieces joined into chunks of about SPOOL_CHUNK bytes."""
    pending: list[bytes] = []
    held = 0
    async for piece in stream:
        pending.append(piece)
        held += len(piece)
        if held >= SPOOL_CHUNK:
            yield b"".join(pending)
            pending, held = [], 0
    if pending:
        yield b"".join(pending)
