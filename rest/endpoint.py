"""The `/v1` framework: a handler's `Call`, the `Endpoint` record, its Starlette route.

The route parses the path, query and body, replays idempotent requests, and maps a
handler's answer (or a `BayError`) to the response.

Handlers live in `rest/handlers/`, the table of endpoints in `rest/routes.py`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bay_mcp.bay import Bay
from bay_mcp.errors import BayError, ValidationFailed
from bay_mcp.services.idempotency import fingerprint
from rest.errors import error_response, internal_error_response

Result = Response | tuple[int, Any]


@dataclass
class Call:
    """One parsed request, as a handler sees it."""

    request: Request
    bay: Bay
    owner: str
    request_id: str
    params: dict[str, str]
    body: Any = None
    query: Any = None


Handler = Callable[[Call], Awaitable[Result]]


@dataclass(frozen=True)
class Endpoint:
    """One `/v1` operation; `handler.__name__` is its OpenAPI operationId, so renaming a
    handler changes the published document."""

    method: str
    path: str
    handler: Handler
    summary: str
    status: int = 200
    response: type[BaseModel] | Literal["binary", "empty"] | None = None
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    multipart: bool = False
    idempotent: bool = False
    errors: Sequence[int] = field(default=(400, 401, 404))


def dump(model: BaseModel) -> Any:
    """A model as the JSON a client gets: by alias, dates as ISO strings."""
    return model.model_dump(mode="json", by_alias=True)


# -- parsing ----------------------------------------------------------------------------


def _validation_failed(exc: ValidationError, where: str) -> ValidationFailed:
    fields = sorted({".".join(str(p) for p in err["loc"]) or where for err in exc.errors()})
    first = exc.errors()[0]
    location = ".".join(str(p) for p in first["loc"]) or where
    return ValidationFailed(
        f"invalid {where}: {location}: {first['msg']}",
        {"fields": fields, "field": location, "in": where},
    )


def _parse_query(request: Request, model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise _validation_failed(exc, "query") from exc


def _parse_body(raw: bytes, model: type[BaseModel]) -> BaseModel:
    try:
        data = json.loads(raw or b"{}")
    except ValueError as exc:
        raise ValidationFailed("the body is not valid JSON", {"fields": ["body"]}) from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _validation_failed(exc, "body") from exc


# -- the route --------------------------------------------------------------------------


def starlette_route(endpoint: Endpoint, bay: Bay) -> Route:
    """The Starlette route serving `endpoint` over `bay`."""

    async def handle(request: Request) -> Response:
        request_id: str = request.state.request_id
        try:
            raw = b"" if endpoint.multipart or endpoint.body is None else await request.body()
            call = Call(
                request=request,
                bay=bay,
                owner=request.state.owner,
                request_id=request_id,
                params={k: str(v) for k, v in request.path_params.items()},
                query=_parse_query(request, endpoint.query) if endpoint.query else None,
                body=_parse_body(raw, endpoint.body) if endpoint.body else None,
            )
            key = request.headers.get("idempotency-key")
            if endpoint.idempotent and key is not None:
                status, payload = await bay.idempotency.run(
                    call.owner,
                    key,
                    fingerprint(endpoint.method, request.url.path, raw),
                    lambda: _as_json(endpoint.handler(call)),
                )
                result: Result = (status, payload)
            else:
                result = await endpoint.handler(call)
        except BayError as exc:
            return error_response(exc, request_id)
        except Exception as exc:
            return internal_error_response(exc, request_id)
        if isinstance(result, Response):
            result.headers["X-Request-Id"] = request_id
            return result
        status, payload = result
        return JSONResponse(payload, status_code=status, headers={"X-Request-Id": request_id})

    return Route(endpoint.path, handle, methods=[endpoint.method])


async def _as_json(pending: Awaitable[Result]) -> tuple[int, Any]:
    result = await pending
    if isinstance(result, Response):
        raise TypeError("an idempotent endpoint must answer JSON")
    return result
