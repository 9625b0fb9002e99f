"""Makes sure a profile's image exists before a container is created from it.

The Ship images (the default one and the browser one) can be built on first use
(progress on stderr and to the waiting caller); any other missing image is an error
that says how to get it.
"""

from __future__ import annotations

import asyncio
import logging
import os

from bay_mcp.drivers import Driver
from bay_mcp.errors import SessionNotReady
from bay_mcp.limits import DEFAULT_MIRROR
from bay_mcp.managers import Progress
from bay_mcp.managers.image_build import (
    BROWSER_TAG,
    DEFAULT_TAG,
    ImageBuildError,
    build_image,
    plan,
)

log = logging.getLogger(__name__)

BUILD_COMMAND = "bay-mcp image build --offline"
BROWSER_BUILD_COMMAND = "bay-mcp image build --offline --browser"
# The images Bay knows how to build: whether each is the browser flavor, and how long
# a first build takes on two cores (2026-12-05: 142–159 s and 224 s; the browser's base
# adds Chromium and Playwright).
_FLAVORS = {DEFAULT_TAG: False, BROWSER_TAG: True}
_BUILD_TIME = {DEFAULT_TAG: "two to three minutes", BROWSER_TAG: "about four minutes"}


def build_command(image: str) -> str:
    """The command that builds `image` by hand (the default image's for unknown ones)."""
    return BROWSER_BUILD_COMMAND if image == BROWSER_TAG else BUILD_COMMAND


class ImageProvider:
    def __init__(self, driver: Driver, *, auto_build: bool, docker_host: str | None) -> None:
        self._driver = driver
        self._auto_build = auto_build
        # Building is the Docker image adapter's job (a Kubernetes driver pulls images
        # from a registry instead, with auto_build off).
        self._docker_host = docker_host
        self._builds: dict[str, asyncio.Task[None]] = {}

    def start_build_if_missing(self, image: str = DEFAULT_TAG) -> None:
        """Begin building a Ship image in the background (at server start, or first use)."""
        if self._auto_build and image in _FLAVORS and image not in self._builds:
            self._builds[image] = asyncio.create_task(
                self._build_missing(image), name=f"ship-image-build {image}"
            )

    async def _build_missing(self, image: str) -> None:
        if await self._driver.image_id(image) is not None:
            return
        log.warning("the Ship image %s is missing: building it now (%s)", image, _BUILD_TIME[image])
        # Offline (debootstrap) needs root; otherwise the Dockerfile's registry base.
        build = plan(offline=os.geteuid() == 0, mirror=DEFAULT_MIRROR, browser=_FLAVORS[image])
        await build_image(build, docker_host=self._docker_host)

    async def ensure(self, image: str, progress: Progress) -> None:
        if await self._driver.image_id(image) is not None:
            return
        if image not in _FLAVORS or not self._auto_build:
            raise SessionNotReady(
                f"the sandbox image {image} is missing: build it with "
                f"`{build_command(image)}` and call again",
                {"image": image},
            )
        self.start_build_if_missing(image)
        build = self._builds[image]
        await progress(f"building the Ship image {image} (first use only, {_BUILD_TIME[image]})")
        try:
            await asyncio.shield(build)
        except (ImageBuildError, OSError) as exc:
            if self._builds.get(image) is build:
                del self._builds[image]  # the next call may try again
            raise SessionNotReady(
                f"building the sandbox image {image} failed ({exc}); build it by hand with "
                f"`{build_command(image)}` and call again",
                {"image": image},
            ) from exc

    async def close(self) -> None:
        for image, build in self._builds.items():
            if build.done():
                continue
            build.cancel()
            try:
                await build
            except (asyncio.CancelledError, Exception):
                log.info("the background build of %s was stopped", image)
