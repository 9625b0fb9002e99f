"""Ship's errors: values with a code and an HTTP status, answered once in `wire.py`.

Their codes are the protocol's `ErrorCode`s (`ship/protocol.py`), which Bay maps.
"""

from __future__ import annotations

from typing import Any

from ship.protocol import ErrorCode


class ShipError(Exception):
    code: ErrorCode = "internal_error"
    status = 500

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ValidationFailed(ShipError):
    code = "validation_error"
    status = 400


class InvalidPath(ShipError):
    code = "invalid_path"
    status = 400


class FileNotFound(ShipError):
    code = "file_not_found"
    status = 404


class Unauthorized(ShipError):
    code = "unauthorized"
    status = 401


class NotFound(ShipError):
    code = "not_found"
    status = 404


class ResourceExhausted(ShipError):
    """The sandbox hit its own limits (processes, threads): the caller's code did it."""

    code = "resource_exhausted"
    status = 503


class QuotaExceeded(ShipError):
    code = "quota_exceeded"
    status = 429


class CapabilityMissing(ShipError):
    """The image lacks what the call needs (the browser is only in the browser image)."""

    code = "capability_not_supported"
    status = 501


class ProcessNotFound(ShipError):
    code = "process_not_found"
    status = 404
