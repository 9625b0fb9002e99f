"""The contract's error body, and the one place REST maps errors to responses."""

from __future__ import annotations

import logging
from typing import Any

from starlette.responses import JSONResponse

from bay_mcp.errors import BayError, InternalError, SessionNotReady, TooManyRequests, Unauthorized

log = logging.getLogger(__name__)


def error_body(error: BayError, request_id: str) -> dict[str, Any]:
    return {
        "error": {
            "code": error.code,
            "message": error.message,
            "request_id": request_id,
            "details": error.details,
        }
    }


def error_response(error: BayError, request_id: str) -> JSONResponse:
    body = error_body(error, request_id)
    headers = {"X-Request-Id": request_id}
    if isinstance(error, SessionNotReady | TooManyRequests):
        retry_ms = int(error.details.get("retry_after_ms", 1000))
        error.details.setdefault("retry_after_ms", retry_ms)
        headers["Retry-After"] = str(max(1, retry_ms // 1000))
    if isinstance(error, Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer realm="bay"'
    return JSONResponse(body, status_code=error.status, headers=headers)


def internal_error_response(exc: BaseException, request_id: str) -> JSONResponse:
    """A bug: logged with its traceback; the caller gets only the request id."""
    log.error("internal error on request %s", request_id, exc_info=exc)
    return error_response(
        InternalError(f"internal error; quote request id {request_id} when reporting it"),
        request_id,
    )
