"""Every error Shipyard raises on purpose, in one hierarchy.

    ShipyardError                     500  exit 1
    ├── InvalidInput                  400  exit 2
    │   └── InvalidConfig             400  exit 2
    ├── Unauthenticated               401  exit 5
    ├── AccessDenied                  403  exit 5
    ├── NotFound                      404  exit 3
    ├── Conflict                      409  exit 4
    │   └── AlreadyExists             409  exit 4
    ├── GateFailed                    422  exit 6
    ├── IntegrityError                500  exit 9
    │   └── CorruptArtifact           500  exit 9
    └── BackendUnavailable            503  exit 7
        └── SchemaOutOfDate           503  exit 8

Each class carries its HTTP status, a stable machine-readable ``code`` and a
CLI exit code; every instance has a message that says what was wrong and an
optional ``hint`` that says how to fix it. Clients map ``code`` back to a class
through :data:`ERRORS_BY_CODE`, a closed table: never by importing a name
taken from a payload.
"""

from __future__ import annotations

from typing import Any


class ShipyardError(Exception):
    """Base of every error Shipyard raises on purpose."""

    code = "error"
    http_status = 500
    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} {self.hint}"
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """The JSON body the HTTP API sends for this error."""
        return {"error": self.code, "message": self.message, "hint": self.hint}


class InvalidInput(ShipyardError):
    """The caller passed something Shipyard cannot accept."""

    code = "invalid_input"
    http_status = 400
    exit_code = 2


class InvalidConfig(InvalidInput):
    """A setting (environment variable, shipyard.toml, override) is wrong."""

    code = "invalid_config"


class Unauthenticated(ShipyardError):
    """No valid credentials were presented."""

    code = "unauthenticated"
    http_status = 401
    exit_code = 5


class AccessDenied(ShipyardError):
    """The principal is not allowed to do this."""

    code = "access_denied"
    http_status = 403
    exit_code = 5


class NotFound(ShipyardError):
    """The named thing does not exist."""

    code = "not_found"
    http_status = 404
    exit_code = 3


class Conflict(ShipyardError):
    """The request conflicts with the current state."""

    code = "conflict"
    http_status = 409
    exit_code = 4


class AlreadyExists(Conflict):
    """Something with that identity exists already."""

    code = "already_exists"


class GateFailed(ShipyardError):
    """A guardrail (data check, leakage check, model gate) refused to pass."""

    code = "gate_failed"
    http_status = 422
    exit_code = 6


class IntegrityError(ShipyardError):
    """Stored data does not match what was recorded for it."""

    code = "integrity_error"
    exit_code = 9


class CorruptArtifact(IntegrityError):
    """An artifact's bytes do not hash to its address: truncated or tampered."""

    code = "corrupt_artifact"

    # Both replace the bad copy: a put of content whose address fails verification rewrites it.
    REPAIR_HINT = (
        "Register the original data again, or run "
        "`shipyard artifacts verify --repair-from PATH` with the original file(s)."
    )

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint or self.REPAIR_HINT)


class BackendUnavailable(ShipyardError):
    """A store or service Shipyard depends on cannot be reached."""

    code = "backend_unavailable"
    http_status = 503
    exit_code = 7


class SchemaOutOfDate(BackendUnavailable):
    """The metadata database's schema is older (or newer) than this Shipyard."""

    code = "schema_out_of_date"
    exit_code = 8


ERRORS_BY_CODE: dict[str, type[ShipyardError]] = {
    cls.code: cls
    for cls in (
        ShipyardError,
        InvalidInput,
        InvalidConfig,
        Unauthenticated,
        AccessDenied,
        NotFound,
        Conflict,
        AlreadyExists,
        GateFailed,
        IntegrityError,
        CorruptArtifact,
        BackendUnavailable,
        SchemaOutOfDate,
    )
}


def error_from_dict(body: dict[str, Any]) -> ShipyardError:
    """Rebuild an error from an HTTP body; unknown codes become ShipyardError."""
    cls = ERRORS_BY_CODE.get(str(body.get("error")), ShipyardError)
    return cls(str(body.get("message", "unknown error")), hint=body.get("hint"))
