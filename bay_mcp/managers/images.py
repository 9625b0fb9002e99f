"""Makes sure a profile's image exists before a container is created from it.

The default image can be built on first use (progress on stderr and to the waiting
caller); any other missing image is an error that says how to get it.
"""

from __future__ import annotations

import asyncio
import logging
import os

from bay_mcp.adapters.image_build import (
    DEFAULT_TAG,
    ImageBuildError,
    build_image,
    plan,
)
from bay_mcp.drivers import Driver
from bay_mcp.errors import SessionNotReady
from bay_mcp.limits import DEFAULT_MIRROR
from bay_mcp.managers import Progress

log = logging.getLogger(__name__)

BUILD_COMMAND = "bay-mcp image build --offline"


class ImageProvider:
    def __init__(self, driver: Driver, *, auto_build: bool, docker_host: str | None) -> None:
        self._driver = driver
        self._auto_build = auto_build
        # Building is the Docker image adapter's job (a Kubernetes driver pulls images
        # from a registry instead, with auto_build off).
        self._docker_host = docker_host
        self._build: asyncio.Task[None] | None = None

    def start_build_if_missing(self) -> None:
        """Begin building the default image in the background (at server start)."""
        if self._auto_build and self._build is None:
            self._build = asyncio.create_task(self._build_default(), name="ship-image-build")

    async def _build_default(self) -> None:
        if await self._driver.image_id(DEFAULT_TAG) is not None:
            return
        log.warning("the Ship image %s is missing: building it now (about a minute)", DEFAULT_TAG)
        # Offline (debootstrap) needs root; otherwise the Dockerfile's registry base.
        await build_image(
            plan(offline=os.geteuid() == 0, mirror=DEFAULT_MIRROR), docker_host=self._docker_host
        )

    async def ensure(self, image: str, progress: Progress) -> None:
        if await self._driver.image_id(image) is not None:
            return
        if image != DEFAULT_TAG or not self._auto_build:
            raise SessionNotReady(
                f"the sandbox image {image} is missing: build it with `{BUILD_COMMAND}` "
                "and call again",
                {"image": image},
            )
        self.start_build_if_missing()
        assert self._build is not None
        await progress(f"building the Ship image {image} (first use only, about a minute)")
        try:
            await asyncio.shield(self._build)
        except (ImageBuildError, OSError) as exc:
            self._build = None  # the next call may try again
            raise SessionNotReady(
                f"building the sandbox image {image} failed ({exc}); build it by hand with "
                f"`{BUILD_COMMAND}` and call again",
                {"image": image},
            ) from exc

    async def close(self) -> None:
        if self._build is not None and not self._build.done():
            self._build.cancel()
            try:
                await self._build
            except (asyncio.CancelledError, Exception):
                log.info("the background image build was stopped")
