"""The image build's plan: flavors, their hashes and tags (no Docker, no debootstrap)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any, cast

import pytest

from bay_mcp.limits import BROWSER_IMAGE, DEFAULT_IMAGE, DEFAULT_MIRROR
from bay_mcp.managers import image_build
from bay_mcp.managers.image_build import (
    BASE_REPOSITORY,
    BROWSER_LISTS,
    BuildPlan,
    base_hash,
    base_tag,
    image_hash,
    plan,
    ship_context,
)

MIRROR = DEFAULT_MIRROR


def base_hash_before_flavors(context: Path, mirror: str) -> str:
    """The default base's hash as it was computed before the browser flavor existed."""
    hasher = hashlib.sha256()
    requirements = context / "requirements"
    for part in (
        b"2",
        b"bookworm",
        mirror.encode(),
        b"python3 python3-venv ca-certificates",
        *(
            (requirements / name).read_bytes()
            # egress.txt: the egress proxy's venv, in the default base since issue 29.
            for name in ("debian.txt", "npm.txt", "server.txt", "kernel.txt", "egress.txt")
        ),
    ):
        hasher.update(len(part).to_bytes(8, "big"))
        hasher.update(part)
    return hasher.hexdigest()


@pytest.fixture
def context(tmp_path: Path) -> Path:
    """A copy of Ship's requirement lists, to change without touching the real ones."""
    shutil.copytree(ship_context() / "requirements", tmp_path / "requirements")
    return tmp_path


def test_the_default_base_hash_is_unchanged_by_the_flavors() -> None:
    context = ship_context()
    assert image_build.RECIPE_VERSION == "2"  # a bump is meant to change it
    expected = base_hash_before_flavors(context, MIRROR)
    assert base_hash(context, MIRROR) == expected
    assert base_hash(context, MIRROR, browser=False) == expected
    assert base_tag(context, MIRROR) == f"{BASE_REPOSITORY}:{expected[:16]}"


def test_the_browser_base_hash_differs_and_covers_the_browser_lists(context: Path) -> None:
    default = base_hash(context, MIRROR)
    browser = base_hash(context, MIRROR, browser=True)
    assert browser != default
    for name in BROWSER_LISTS:
        listed = context / "requirements" / name
        original = listed.read_text()
        listed.write_text(original + "one-more-package\n")
        assert base_hash(context, MIRROR, browser=True) != browser, name
        assert base_hash(context, MIRROR) == default, f"{name} changed the default base"
        listed.write_text(original)
    assert base_hash(context, MIRROR, browser=True) == browser


def test_a_change_to_the_default_lists_changes_both_flavors(context: Path) -> None:
    default = base_hash(context, MIRROR)
    browser = base_hash(context, MIRROR, browser=True)
    with (context / "requirements" / "debian.txt").open("a") as listed:
        listed.write("one-more-package\n")
    assert base_hash(context, MIRROR) != default
    assert base_hash(context, MIRROR, browser=True) != browser


def test_the_browser_lists_name_chromium_and_playwright() -> None:
    requirements = ship_context() / "requirements"
    assert "chromium" in (requirements / "debian-browser.txt").read_text().split()
    assert any(
        line.startswith("playwright==")
        for line in (requirements / "server-browser.txt").read_text().splitlines()
    )


def test_the_image_hash_covers_the_flavor(context: Path) -> None:
    for offline in (True, False):
        assert image_hash(context, offline, MIRROR) != image_hash(
            context, offline, MIRROR, browser=True
        )


def test_plan_tags_each_flavor_and_its_own_base() -> None:
    default = plan(offline=True, mirror=MIRROR)
    browser = plan(offline=True, mirror=MIRROR, browser=True)
    assert (default.tag, default.browser) == (DEFAULT_IMAGE, False)
    assert (browser.tag, browser.browser) == (BROWSER_IMAGE, True)
    assert default.base_tag == f"{BASE_REPOSITORY}:{base_hash(default.context, MIRROR)[:16]}"
    assert browser.base_tag == (
        f"{BASE_REPOSITORY}:browser-{base_hash(browser.context, MIRROR, browser=True)[:16]}"
    )
    assert default.image_hash != browser.image_hash
    custom = plan(tag="mine:1", offline=False, mirror=MIRROR, browser=True)
    assert (custom.tag, custom.base_tag, custom.browser) == ("mine:1", None, True)
    assert custom.image_hash == image_hash(custom.context, False, MIRROR, browser=True)


class FakeImages:
    def __init__(self, tags: list[str]) -> None:
        self.tags = tags
        self.deleted: list[str] = []

    async def list(self, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
        assert filters == {"reference": [BASE_REPOSITORY]}
        return [{"RepoTags": [tag]} for tag in self.tags]

    async def delete(self, name: str) -> None:
        self.deleted.append(name)


class FakeEngine:
    def __init__(self, tags: list[str]) -> None:
        self.images = FakeImages(tags)


@pytest.mark.parametrize("browser", [False, True])
async def test_stale_base_cleanup_keeps_both_flavors_current_bases(browser: bool) -> None:
    build: BuildPlan = plan(offline=True, mirror=MIRROR, browser=browser)
    current = [base_tag(build.context, MIRROR), base_tag(build.context, MIRROR, browser=True)]
    stale = [f"{BASE_REPOSITORY}:0123456789abcdef", f"{BASE_REPOSITORY}:browser-0123456789abcdef"]
    engine = FakeEngine([*current, *stale])
    await image_build._remove_stale_bases(cast(Any, engine), build)
    assert engine.images.deleted == stale
