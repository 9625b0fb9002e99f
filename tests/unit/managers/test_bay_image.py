"""The Bay image's plan: its tag and base, what its hashes cover, its build context and
pinned lists (no Docker, no debootstrap)."""

from __future__ import annotations

import re
import shutil
import tarfile
import tomllib
from pathlib import Path
from typing import Any, cast

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import bay_mcp
from bay_mcp.limits import DEFAULT_MIRROR
from bay_mcp.managers import image_build
from bay_mcp.managers.image_build import (
    BASE_REPOSITORY,
    BAY_BASE_REPOSITORY,
    BAY_BUILD_REQUIREMENTS,
    BAY_DOCKERFILE,
    BAY_REQUIREMENTS,
    BAY_SOURCES,
    BAY_TAG,
    ImageBuildError,
    base_hash,
    image_hash,
    plan,
    project_root,
)

MIRROR = DEFAULT_MIRROR
ROOT = project_root()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of what the Bay image is built from, plus a file it is not."""
    for name in BAY_SOURCES:
        source = ROOT / name
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copyfile(source, target)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("def test_x() -> None: ...\n")
    return tmp_path


def hashes(root: Path) -> tuple[str, str]:
    return base_hash(root, MIRROR, bay=True), image_hash(root, True, MIRROR, bay=True)


def pins(path: Path) -> dict[str, str]:
    """name → version of a requirements file of `name==version` lines."""
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            name, _, version = text.partition("==")
            assert version, f"{path.name}: {text!r} is not pinned with =="
            found[canonicalize_name(name)] = version
    return found


def test_plan_tags_the_bay_image_and_a_base_repository_of_its_own() -> None:
    offline = plan(offline=True, mirror=MIRROR, bay=True)
    assert (offline.tag, offline.bay, offline.browser, offline.context) == (
        BAY_TAG,
        True,
        False,
        ROOT,
    )
    assert offline.base_tag == f"{BAY_BASE_REPOSITORY}:{base_hash(ROOT, MIRROR, bay=True)[:16]}"
    assert BAY_BASE_REPOSITORY != BASE_REPOSITORY  # Ship's stale-base cleanup never sees it
    registry = plan(offline=False, mirror=MIRROR, bay=True)
    assert registry.base_tag is None
    assert registry.image_hash != offline.image_hash
    assert plan(tag="bay:1", offline=False, mirror=MIRROR, bay=True).tag == "bay:1"
    assert offline.image_hash not in {
        plan(offline=True, mirror=MIRROR, browser=browser).image_hash for browser in (False, True)
    }


def test_one_flavor_at_a_time() -> None:
    with pytest.raises(ImageBuildError, match="one flavor"):
        plan(offline=True, mirror=MIRROR, browser=True, bay=True)


def test_outside_a_checkout_the_bay_image_cannot_be_planned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "site-packages" / "bay_mcp"
    package.mkdir(parents=True)
    monkeypatch.setattr(bay_mcp, "__file__", str(package / "__init__.py"))
    with pytest.raises(ImageBuildError, match="source checkout"):
        plan(offline=True, mirror=MIRROR, bay=True)


def test_the_base_hash_covers_the_pinned_lists_and_the_image_hash_everything(
    checkout: Path,
) -> None:
    base, image = hashes(checkout)
    for listed in (BAY_REQUIREMENTS, BAY_BUILD_REQUIREMENTS):
        path = checkout / listed
        original = path.read_text()
        path.write_text(original + "one-more==1.0\n")
        changed_base, changed_image = hashes(checkout)
        assert changed_base != base, listed
        assert changed_image != image, listed
        path.write_text(original)
    assert hashes(checkout) == (base, image)

    for source in ("bay_mcp/cli.py", "rest/routes.py", "ship/protocol.py", BAY_DOCKERFILE):
        code = checkout / source
        code_before = code.read_bytes()
        code.write_bytes(code_before + b"\n")
        changed_base, changed_image = hashes(checkout)
        assert changed_base == base, source
        assert changed_image != image, source
        code.write_bytes(code_before)
    assert hashes(checkout) == (base, image)


def test_bytecode_and_files_outside_the_sources_do_not_count(checkout: Path) -> None:
    before = hashes(checkout)
    (checkout / "bay_mcp" / "__pycache__").mkdir()
    (checkout / "bay_mcp" / "__pycache__" / "cli.cpython-311.pyc").write_bytes(b"\0")
    (checkout / "tests" / "test_x.py").write_text("changed\n")
    (checkout / "deploy" / "compose.yaml").write_text("services: {}\n")
    assert hashes(checkout) == before


def _copied_sources(dockerfile: str) -> list[str]:
    """The context paths every COPY of the Dockerfile reads (the last word is the target)."""
    sources: list[str] = []
    for line in dockerfile.splitlines():
        if match := re.match(r"COPY\s+(?!--from)(.+)$", line):
            sources += match.group(1).split()[:-1]
    return sources


def test_the_context_holds_what_the_dockerfile_copies_and_nothing_else() -> None:
    with tarfile.open(fileobj=image_build._context_tar(ROOT, bay=True), mode="r:gz") as tar:
        names = set(tar.getnames())
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    assert {name.split("/")[0] for name in names} == {name.split("/")[0] for name in BAY_SOURCES}
    assert not [name for name in names if name.startswith("deploy/") and name not in BAY_SOURCES]
    copied = _copied_sources((ROOT / BAY_DOCKERFILE).read_text())
    assert copied, "no COPY found in the Dockerfile"
    for source in copied:
        path = source.rstrip("/")
        assert path in names or any(name.startswith(f"{path}/") for name in names), source


def test_every_runtime_dependency_is_pinned_to_a_version_it_accepts() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pinned = pins(ROOT / BAY_REQUIREMENTS)
    for text in project["project"]["dependencies"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pinned, (
            f"{name} is not in {BAY_REQUIREMENTS}: run .venv/bin/python deploy/bay-image/lock.py"
        )
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{name}=={pinned[name]} does not satisfy {requirement}: relock"
        )
    extras = {
        canonicalize_name(Requirement(text).name)
        for texts in project["project"]["optional-dependencies"].values()
        for text in texts
    }
    runtime = {
        canonicalize_name(Requirement(text).name) for text in project["project"]["dependencies"]
    }
    assert not (extras - runtime) & set(pinned), "a test or bench extra is in the image's list"


def test_the_pinned_build_backend_is_the_one_the_project_asks_for() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pinned = pins(ROOT / BAY_BUILD_REQUIREMENTS)
    for text in project["build-system"]["requires"]:
        requirement = Requirement(text)
        version = pinned[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version), f"{requirement} vs {version}"
    assert project["build-system"]["build-backend"] == "hatchling.build"


class FakeImages:
    def __init__(self, tags: list[str]) -> None:
        self.tags = tags
        self.deleted: list[str] = []

    async def list(self, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
        [repository] = filters["reference"]
        return [{"RepoTags": [tag]} for tag in self.tags if tag.startswith(f"{repository}:")]

    async def delete(self, name: str) -> None:
        self.deleted.append(name)


class FakeEngine:
    def __init__(self, tags: list[str]) -> None:
        self.images = FakeImages(tags)


async def test_a_bay_build_removes_only_its_own_stale_bases() -> None:
    build = plan(offline=True, mirror=MIRROR, bay=True)
    assert build.base_tag is not None
    stale = f"{BAY_BASE_REPOSITORY}:0123456789abcdef"
    ship_bases = [f"{BASE_REPOSITORY}:0123456789abcdef", f"{BASE_REPOSITORY}:browser-0"]
    engine = FakeEngine([build.base_tag, stale, *ship_bases])
    await image_build._remove_stale_bases(cast(Any, engine), build)
    assert engine.images.deleted == [stale]


async def test_a_ship_build_leaves_the_bay_base_alone() -> None:
    bay_base = plan(offline=True, mirror=MIRROR, bay=True).base_tag
    assert bay_base is not None
    engine = FakeEngine([bay_base])
    await image_build._remove_stale_bases(cast(Any, engine), plan(offline=True, mirror=MIRROR))
    assert engine.images.deleted == []
