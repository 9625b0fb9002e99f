"""Ship's HTTP app: the protocol's routes mounted on their handlers, behind the token check.

Exceptions are answered in the protocol's error shape (`ship/wire.py`).

Every endpoint but `/health` and `/meta` requires `Authorization: Bearer <SHIP_TOKEN>`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from functools import partial

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Route

from ship import protocol
from ship.auth import BearerTokenMiddleware
from ship.errors import ShipError
from ship.handlers import HANDLERS
from ship.kernel_spawn import SpawnedKernel
from ship.runtime import Runtime
from ship.settings import ShipSettings
from ship.wire import on_http_error, on_ship_error, on_unexpected


def create_app(
    settings: ShipSettings,
    env: Mapping[str, str] | None = None,
    spawned: SpawnedKernel | None = None,
) -> Starlette:
    """Build the app; the kernel starts with the app's lifespan (adopting `spawned`, its
    process started ahead). `env` is the container's environment (default: this
    process's), of which user code gets all but `SHIP_*`."""
    runtime = Runtime(settings, env, spawned)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with runtime.running():
            yield

    routes = [
        Route(
            route.path,
            partial(HANDLERS[route], runtime),
            methods=[route.method],
            name=HANDLERS[route].__name__,
        )
        for route in protocol.ROUTES
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            ShipError: on_ship_error,
            HTTPException: on_http_error,
            Exception: on_unexpected,
        },
    )
    app.add_middleware(BearerTokenMiddleware, token=settings.token)
    app.state.kernel = runtime.kernel
    return app
