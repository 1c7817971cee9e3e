"""Turn every failure into a JSON body with a stable code: 4xx for the caller's mistakes."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shipyard.errors import ShipyardError

log = logging.getLogger("shipyard.api")

# A body of many bad items must not become a message of as many problems.
PROBLEMS_SHOWN = 5


def install_error_handlers(app: FastAPI) -> None:
    """Register handlers for Shipyard errors, bad payloads, HTTP errors and bugs."""

    @app.exception_handler(ShipyardError)
    async def shipyard_error(_request: Request, exc: ShipyardError) -> JSONResponse:
        return error_response(exc.to_dict(), exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def bad_payload(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg')}"
            for err in errors[:PROBLEMS_SHOWN]
        )
        if len(errors) > PROBLEMS_SHOWN:
            problems += f"; and {len(errors) - PROBLEMS_SHOWN} more"
        body = {
            "error": "invalid_input",
            "message": f"The request is not valid: {problems}.",
            "hint": "See /docs for the expected request body.",
        }
        return error_response(body, 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        body = {"error": code, "message": str(exc.detail), "hint": None}
        return error_response(body, exc.status_code, exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        incident = uuid.uuid4().hex[:12]
        log.exception("unexpected error %s", incident, exc_info=exc)
        body = {
            "error": "internal",
            "message": f"Unexpected server error (incident {incident}).",
            "hint": "The server log has the details under that incident id.",
        }
        return error_response(body, 500)


def error_response(
    body: dict[str, Any], status: int, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The JSON error response; text the caller sent that is not valid Unicode is escaped."""
    safe = {key: _printable(value) for key, value in body.items()}
    return JSONResponse(safe, status_code=status, headers=headers)


def _printable(value: Any) -> Any:
    # A lone surrogate echoed from the request cannot be encoded: show it as \ud800.
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value
