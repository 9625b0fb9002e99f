"""Ship's answers that are not results, as Bay's errors: each error code Ship can send
and the Bay error it becomes, a body of an unexpected shape, and the two transport
failures (a refused token, an unreachable runtime). Written once, for the client."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import ValidationError

from bay_mcp.errors import (
    BayError,
    CapabilityNotSupported,
    FileNotFound,
    InvalidPath,
    NotFound,
    QuotaExceeded,
    ResourceExhausted,
    SessionNotReady,
    ShipError,
    ValidationFailed,
)
from ship import protocol
from ship.protocol import ErrorCode

Answer = TypeVar("Answer", bound=protocol.Model)


def runtime_fault(message: str, details: dict[str, Any]) -> BayError:
    """A code that means Bay and Ship disagree (token, endpoint) or Ship broke."""
    return ShipError(f"the runtime failed: {message}", details)


# Every code Ship can send, and the Bay error it becomes (a unit test walks them all).
SHIP_ERRORS: dict[ErrorCode, type[BayError] | None] = {
    "validation_error": ValidationFailed,
    "invalid_path": InvalidPath,
    "file_not_found": FileNotFound,
    "quota_exceeded": QuotaExceeded,
    "resource_exhausted": ResourceExhausted,
    "capability_not_supported": CapabilityNotSupported,
    "process_not_found": NotFound,
    "unauthorized": None,
    "not_found": None,
    "method_not_allowed": None,
    "internal_error": None,
}


class NeverReached(Exception):
    """The request did not reach the session's Ship: safe to send again. `error` is
    what the caller gets when it cannot be."""

    def __init__(self, error: BayError) -> None:
        super().__init__(error.message)
        self.error = error


def refused() -> BayError:
    return runtime_fault(
        "it refused this session's token (its container was replaced, or it is not "
        "the sandbox's runtime)",
        {"ship_code": "unauthorized"},
    )


def unreachable(reason: str) -> SessionNotReady:
    return SessionNotReady(
        f"the runtime is not reachable ({reason}); retry shortly", {"retry_after_ms": 1000}
    )


def error_from(status: int, body: bytes) -> BayError:
    """The Bay error for one of Ship's error answers."""
    try:
        info = protocol.ErrorBody.model_validate_json(body).error
    except ValidationError:
        return ShipError(f"the runtime answered HTTP {status} with no error body")
    error_type = SHIP_ERRORS[info.code]
    details = {**info.details, "ship_code": info.code}
    if error_type is None:
        return runtime_fault(info.message, details)
    return error_type(info.message, info.details)


def parse(model: type[Answer], body: bytes, what: str) -> Answer:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise ShipError(f"the runtime answered {what} with an unexpected shape") from exc
