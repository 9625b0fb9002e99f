"""Bay's errors: values with a code (the `/v1` contract's) and an HTTP status.

Raised where the problem is found; each surface maps them once (MCP: a tool error
whose text is the message; REST: the contract's error body).
"""

from __future__ import annotations

from typing import Any


class BayError(Exception):
    code = "internal_error"
    status = 500

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}


class ValidationFailed(BayError):
    code = "validation_error"
    status = 400


class InvalidPath(BayError):
    code = "invalid_path"
    status = 400


class CapabilityNotSupported(BayError):
    code = "capability_not_supported"
    status = 400


class Unauthorized(BayError):
    code = "unauthorized"
    status = 401


class Forbidden(BayError):
    code = "forbidden"
    status = 403


class NotFound(BayError):
    code = "not_found"
    status = 404


class FileNotFound(BayError):
    code = "file_not_found"
    status = 404


class Conflict(BayError):
    code = "conflict"
    status = 409


class SandboxExpired(BayError):
    code = "sandbox_expired"
    status = 409


class SandboxTtlInfinite(BayError):
    code = "sandbox_ttl_infinite"
    status = 409


class PayloadTooLarge(BayError):
    """A request body or upload over its limit; details.limit_bytes says the limit."""

    code = "payload_too_large"
    status = 413


class QuotaExceeded(BayError):
    code = "quota_exceeded"
    status = 429


class TooManyRequests(BayError):
    """The owner is at a concurrency limit; details.retry_after_ms says when to retry."""

    code = "too_many_requests"
    status = 429


class InternalError(BayError):
    code = "internal_error"
    status = 500


class ShipError(BayError):
    """The runtime answered with an error or garbage, or could not be reached."""

    code = "ship_error"
    status = 502


class DriverError(BayError):
    """The container engine refused or failed (not the runtime's fault); the message
    says what the engine said."""

    code = "driver_error"
    status = 503


class ResourceExhausted(BayError):
    """The sandbox ran out of something it needs (processes, threads): its own code
    did it; the message says what ran out."""

    code = "resource_exhausted"
    status = 503


class SessionNotReady(BayError):
    code = "session_not_ready"
    status = 503


class Timeout(BayError):
    code = "timeout"
    status = 504
