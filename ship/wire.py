"""Ship's side of the wire: request bodies parsed, answers and errors written, exceptions answered.

Bodies are parsed into the protocol's models; answers are serialised from them.

Errors have one shape: `{"error": {"code", "message", "details"}}`.
"""

from __future__ import annotations

import json
import logging
from typing import Any, TypeVar

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ship import protocol
from ship.errors import NotFound, ResourceExhausted, ShipError, ValidationFailed

log = logging.getLogger(__name__)

Parsed = TypeVar("Parsed", bound=protocol.Model)
Sent = TypeVar("Sent", bound=protocol.Model)


def reply(route: protocol.ShipRoute[Any, Sent], answer: Sent) -> JSONResponse:
    """`answer` as `route` answers it (the type checker holds it to the table's model)."""
    return JSONResponse(answer.wire())


def error_response(error: ShipError) -> JSONResponse:
    body = protocol.ErrorBody(
        error=protocol.ErrorInfo(code=error.code, message=error.message, details=error.details)
    )
    return JSONResponse(body.wire(), status_code=error.status)


async def parse_body(request: Request, route: protocol.ShipRoute[Parsed, Any]) -> Parsed:
    """The request's JSON body as `route`'s request model; ValidationFailed if it is not."""
    model = route.request
    assert model is not None, f"{route.method} {route.path} takes no JSON body"
    try:
        payload = await request.json()
    except json.JSONDecodeError as exc:
        raise ValidationFailed(f"request body is not valid JSON: {exc.msg}") from exc
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        fields = {".".join(str(p) for p in e["loc"]) or "body": e["msg"] for e in exc.errors()}
        raise ValidationFailed("request body does not validate", {"fields": fields}) from exc


def query_int(request: Request, name: str, default: int | None) -> int | None:
    """A non-negative integer query parameter; `default` when it is absent or empty."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValidationFailed(f"query parameter {name} must be an integer") from exc
    if value < 0:
        raise ValidationFailed(f"query parameter {name} must not be negative")
    return value


# -- exceptions as answers ---------------------------------------------------------------


async def on_ship_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ShipError)
    return error_response(exc)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(NotFound(f"no such endpoint: {request.url.path}"))
    error = ShipError(str(exc.detail))
    error.status = exc.status_code
    error.code = "method_not_allowed" if exc.status_code == 405 else "validation_error"
    return error_response(error)


async def on_unexpected(request: Request, exc: Exception) -> Response:
    if _out_of_processes(exc):
        log.warning("out of processes on %s %s: %s", request.method, request.url.path, exc)
        return error_response(
            ResourceExhausted(
                "the sandbox has no free processes or threads left (its pids limit): "
                "something in it is forking without end. Kill it (pkill), or stop the "
                "sandbox to start afresh; files are kept"
            )
        )
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(ShipError("internal error in Ship; see the container's log"))


def _out_of_processes(exc: BaseException) -> bool:
    """fork/clone/thread creation refused: EAGAIN, or Python's "can't start new thread"."""
    if isinstance(exc, BlockingIOError):
        return True
    return isinstance(exc, RuntimeError) and "can't start new thread" in str(exc)
