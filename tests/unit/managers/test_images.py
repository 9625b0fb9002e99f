"""The image provider: which images Bay builds itself, and what a missing one says."""

from __future__ import annotations

import pytest

from bay_mcp.errors import SessionNotReady
from bay_mcp.limits import BROWSER_IMAGE, DEFAULT_IMAGE
from bay_mcp.managers import images
from bay_mcp.managers.image_build import BuildPlan
from bay_mcp.managers.images import ImageProvider
from tests.fakes import FakeDriver


async def no_progress(message: str) -> None:
    pass


@pytest.mark.parametrize(
    ("image", "command"),
    [
        (DEFAULT_IMAGE, "`bay-mcp image build --offline`"),
        (BROWSER_IMAGE, "`bay-mcp image build --offline --browser`"),
    ],
)
async def test_a_missing_image_names_the_command_that_builds_it(image: str, command: str) -> None:
    provider = ImageProvider(FakeDriver(images=set()), auto_build=False, docker_host=None)
    with pytest.raises(SessionNotReady) as raised:
        await provider.ensure(image, no_progress)
    assert command in raised.value.message
    assert raised.value.details == {"image": image}


async def test_the_browser_image_is_built_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    driver = FakeDriver(images=set())
    built: list[BuildPlan] = []

    async def build_image(build: BuildPlan, *, docker_host: str | None = None) -> bool:
        built.append(build)
        driver.images.add(build.tag)
        return True

    monkeypatch.setattr(images, "build_image", build_image)
    provider = ImageProvider(driver, auto_build=True, docker_host=None)
    said: list[str] = []

    async def progress(message: str) -> None:
        said.append(message)

    await provider.ensure(BROWSER_IMAGE, progress)
    assert [(build.tag, build.browser) for build in built] == [(BROWSER_IMAGE, True)]
    assert said == [f"building the Ship image {BROWSER_IMAGE} (first use only, about four minutes)"]
    assert await driver.image_id(BROWSER_IMAGE) is not None
    await provider.close()


async def test_another_missing_image_is_never_built(monkeypatch: pytest.MonkeyPatch) -> None:
    async def build_image(build: BuildPlan, *, docker_host: str | None = None) -> bool:
        raise AssertionError("nothing is built")

    monkeypatch.setattr(images, "build_image", build_image)
    provider = ImageProvider(FakeDriver(images=set()), auto_build=True, docker_host=None)
    with pytest.raises(SessionNotReady) as raised:
        await provider.ensure("custom:1", no_progress)
    assert "is missing" in raised.value.message
