"""The proxy's control API, for Bay only (a bearer token it was started with): register
sandboxes, read the egress log. It listens on the proxy's outside network, never on a
sandbox network's address."""

from __future__ import annotations

import hmac

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ship.egress.protocol import Health, Registrations, SandboxEgress
from ship.egress.state import EgressState

MAX_WAIT_S = 30.0


def control_app(state: EgressState, token: str) -> Starlette:
    expected = f"Bearer {token}".encode()

    def allowed(request: Request) -> bool:
        given = request.headers.get("authorization", "").encode()
        return hmac.compare_digest(given, expected)

    def refused() -> Response:
        return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401)

    def invalid(exc: ValidationError) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=400)

    async def health(request: Request) -> Response:
        return JSONResponse(Health(sandboxes=len(state)).model_dump(mode="json"))

    async def replace(request: Request) -> Response:
        if not allowed(request):
            return refused()
        try:
            registrations = Registrations.model_validate_json(await request.body())
        except ValidationError as exc:
            return invalid(exc)
        state.replace(registrations.sandboxes)
        return Response(status_code=204)

    async def put(request: Request) -> Response:
        if not allowed(request):
            return refused()
        try:
            sandbox = SandboxEgress.model_validate_json(await request.body())
        except ValidationError as exc:
            return invalid(exc)
        state.put(sandbox)
        return Response(status_code=204)

    async def remove(request: Request) -> Response:
        if not allowed(request):
            return refused()
        state.remove(request.path_params["address"])
        return Response(status_code=204)

    async def read_log(request: Request) -> Response:
        if not allowed(request):
            return refused()
        try:
            after = int(request.query_params.get("after", "0"))
            wait_s = min(float(request.query_params.get("wait", "0")), MAX_WAIT_S)
        except ValueError:
            return JSONResponse({"error": "after and wait are numbers"}, status_code=400)
        page = await state.read(after, wait_s)
        return JSONResponse(page.model_dump(mode="json"))

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/sandboxes", replace, methods=["PUT"]),
            Route("/sandboxes/{address}", put, methods=["PUT"]),
            Route("/sandboxes/{address}", remove, methods=["DELETE"]),
            Route("/log", read_log, methods=["GET"]),
        ]
    )
