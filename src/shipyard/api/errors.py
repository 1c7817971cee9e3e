"""Turn every failure into a JSON body with a stable code: 4xx for the caller's mistakes."""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shipyard.errors import ShipyardError

log = logging.getLogger("shipyard.api")


def install_error_handlers(app: FastAPI) -> None:
    """Register handlers for Shipyard errors, bad payloads, HTTP errors and bugs."""

    @app.exception_handler(ShipyardError)
    async def shipyard_error(_request: Request, exc: ShipyardError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def bad_payload(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg')}"
            for err in exc.errors()
        )
        body = {
            "error": "invalid_input",
            "message": f"The request is not valid: {problems}.",
            "hint": "See /docs for the expected request body.",
        }
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        body = {"error": code, "message": str(exc.detail), "hint": None}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        incident = uuid.uuid4().hex[:12]
        log.exception("unexpected error %s", incident, exc_info=exc)
        body = {
            "error": "internal",
            "message": f"Unexpected server error (incident {incident}).",
            "hint": "The server log has the details under that incident id.",
        }
        return JSONResponse(body, status_code=500)
