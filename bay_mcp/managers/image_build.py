"""Build the Ship image, with a registry or without one.

Offline: a Debian root filesystem from packages (`debootstrap`), both venvs
installed into it by `pip` under `chroot` using the host's network and CA bundle,
imported as `bay-ship-base:<hash>`, and `ship/Dockerfile` built on top. The base is
cached by a hash of what goes into it, and the final image carries a label with
the hash of everything; a build whose hash matches the existing image is skipped.

Two Ship flavors: the default image (`ship:latest`), and the browser image
(`ship-browser:latest`), the default plus the lists in `BROWSER_LISTS` (Debian's
Chromium, fonts, Playwright in Ship's server venv). Each has its own base
(`bay-ship-base:browser-<hash>` for the browser) and its own hash label.

A third flavor is Bay itself (`bay-mcp:latest`, to run as a service): built from a
source checkout by `deploy/Dockerfile`, whose offline base (`bay-mcp-base:<hash>`)
holds Bay's pinned dependencies in the venv /opt/bay and the build backend beside it
(`deploy/bay-image/`); the project is then pip-installed from the sources on top, so
a change to the code rebuilds only that last step.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import shutil
import sys
import tarfile
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiodocker
from aiodocker.exceptions import DockerError

import bay_mcp
import ship
from bay_mcp.limits import BAY_IMAGE, BROWSER_IMAGE, DEFAULT_IMAGE

DEFAULT_TAG = DEFAULT_IMAGE
BROWSER_TAG = BROWSER_IMAGE
BASE_REPOSITORY = "bay-ship-base"
HASH_LABEL = "bay.ship.hash"
# Bump when the recipe below changes in a way the hashed files do not show.
RECIPE_VERSION = "2"
DEBIAN_SUITE = "bookworm"
# debootstrap lays down the base; apt then adds ship/requirements/debian.txt (what
# agents reach for) and npm ship/requirements/npm.txt, as the Dockerfile does.
DEBIAN_BASE = ("python3", "python3-venv", "ca-certificates")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
SANDBOX_UID = 1000
SANDBOX_USER = "shipyard"  # the name upstream clients and their agent docs assume
# What the browser flavor adds, in ship/requirements/: Debian packages (apt, with the
# default's) and Ship's server requirements (pip into /opt/ship, with server.txt).
BROWSER_DEBIAN = "debian-browser.txt"
BROWSER_SERVER = "server-browser.txt"
BROWSER_LISTS = (BROWSER_DEBIAN, BROWSER_SERVER)
BROWSER_BASE_PREFIX = "browser-"
# The Bay flavor: its tag, its bases' repository, what debootstrap lays down (tini is
# PID 1), and what of the checkout goes into the build (the context, all hashed).
BAY_TAG = BAY_IMAGE
BAY_BASE_REPOSITORY = "bay-mcp-base"
BAY_DEBIAN = (*DEBIAN_BASE, "tini")
BAY_DOCKERFILE = "deploy/Dockerfile"
BAY_REQUIREMENTS = "deploy/bay-image/requirements.txt"
BAY_BUILD_REQUIREMENTS = "deploy/bay-image/build.txt"
BAY_SOURCES = (
    BAY_DOCKERFILE, BAY_REQUIREMENTS, BAY_BUILD_REQUIREMENTS,
    "pyproject.toml", "README.md", ".gitignore", "bay_mcp", "rest", "ship",
)  # fmt: skip


class ImageBuildError(RuntimeError):
    """The image could not be built; the message says what to do."""


@dataclass(frozen=True)
class BuildPlan:
    tag: str
    offline: bool
    mirror: str
    context: Path
    image_hash: str
    base_tag: str | None
    browser: bool = False
    bay: bool = False


def ship_context() -> Path:
    """The Docker build context: the `ship` package directory with its Dockerfile."""
    return Path(ship.__file__).resolve().parent


def project_root() -> Path:
    """The source checkout Bay runs from: the Bay image's build context.

    Raises ImageBuildError when Bay was installed from a wheel (no checkout)."""
    root = Path(bay_mcp.__file__).resolve().parent.parent
    if not (root / BAY_DOCKERFILE).is_file():
        raise ImageBuildError(
            f"the Bay image is built from a source checkout of bay-mcp ({BAY_DOCKERFILE}); "
            f"{root} is not one: run bay-mcp from a clone of the repository"
        )
    return root


def _digest(*parts: bytes) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(len(part).to_bytes(8, "big"))
        hasher.update(part)
    return hasher.hexdigest()


def _context_files(context: Path, *, bay: bool = False) -> list[Path]:
    """What goes into the build context: Ship's package directory, or for Bay the
    files and trees of `BAY_SOURCES`; never bytecode."""
    roots = [context / name for name in BAY_SOURCES] if bay else [context]
    return sorted(
        path
        for root in roots
        for path in ([root] if root.is_file() else root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )


def base_hash(context: Path, mirror: str, *, browser: bool = False, bay: bool = False) -> str:
    """The hash of what goes into a flavor's base (the default's is what it always was)."""
    if bay:
        return _digest(
            RECIPE_VERSION.encode(),
            b"bay",
            DEBIAN_SUITE.encode(),
            mirror.encode(),
            " ".join(BAY_DEBIAN).encode(),
            (context / BAY_REQUIREMENTS).read_bytes(),
            (context / BAY_BUILD_REQUIREMENTS).read_bytes(),
        )
    requirements = context / "requirements"
    parts = [
        RECIPE_VERSION.encode(),
        DEBIAN_SUITE.encode(),
        mirror.encode(),
        " ".join(DEBIAN_BASE).encode(),
        (requirements / "debian.txt").read_bytes(),
        (requirements / "npm.txt").read_bytes(),
        (requirements / "server.txt").read_bytes(),
        (requirements / "kernel.txt").read_bytes(),
        (requirements / "egress.txt").read_bytes(),
    ]
    if browser:
        parts.append(b"browser")
        parts.extend((requirements / name).read_bytes() for name in BROWSER_LISTS)
    return _digest(*parts)


def base_tag(context: Path, mirror: str, *, browser: bool = False, bay: bool = False) -> str:
    """The tag a flavor's offline base is cached under."""
    if bay:
        return f"{BAY_BASE_REPOSITORY}:{base_hash(context, mirror, bay=True)[:16]}"
    prefix = BROWSER_BASE_PREFIX if browser else ""
    return f"{BASE_REPOSITORY}:{prefix}{base_hash(context, mirror, browser=browser)[:16]}"


def image_hash(
    context: Path, offline: bool, mirror: str, *, browser: bool = False, bay: bool = False
) -> str:
    parts = [RECIPE_VERSION.encode(), b"offline" if offline else b"registry"]
    if browser:
        parts.append(b"browser")
    if bay:
        parts.append(b"bay")
    if offline:
        parts.append(base_hash(context, mirror, browser=browser, bay=bay).encode())
    for path in _context_files(context, bay=bay):
        parts.append(str(path.relative_to(context)).encode())
        parts.append(path.read_bytes())
    return _digest(*parts)


def plan(
    *,
    tag: str | None = None,
    offline: bool,
    mirror: str,
    browser: bool = False,
    bay: bool = False,
) -> BuildPlan:
    """What to build: a flavor's tag (default per flavor), hash and offline base.

    Raises ImageBuildError for both flavors at once, or for Bay outside a checkout."""
    if browser and bay:
        raise ImageBuildError("choose one flavor: --browser (a Ship image) or --bay (Bay's)")
    context = project_root() if bay else ship_context()
    return BuildPlan(
        tag=tag or (BAY_TAG if bay else BROWSER_TAG if browser else DEFAULT_TAG),
        offline=offline,
        mirror=mirror,
        context=context,
        image_hash=image_hash(context, offline, mirror, browser=browser, bay=bay),
        base_tag=base_tag(context, mirror, browser=browser, bay=bay) if offline else None,
        browser=browser,
        bay=bay,
    )


def _progress(message: str) -> None:
    print(f"[bay-mcp image] {message}", file=sys.stderr, flush=True)


async def _run(*argv: str, env: dict[str, str] | None = None, quiet: bool = False) -> str:
    """Run a command; its output goes to stderr (or is returned when `quiet`)."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE if quiet else sys.stderr,
        stderr=asyncio.subprocess.PIPE if quiet else sys.stderr,
        env=env,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        detail = (err or b"").decode(errors="replace").strip()
        raise ImageBuildError(f"`{' '.join(argv[:3])} …` failed (exit {proc.returncode}) {detail}")
    return (out or b"").decode(errors="replace").strip()


@asynccontextmanager
async def _engine(docker_host: str | None) -> AsyncIterator[aiodocker.Docker]:
    """The engine's API (DOCKER_HOST, or the local socket when None)."""
    engine = aiodocker.Docker(url=docker_host)
    try:
        yield engine
    finally:
        await engine.close()


async def _inspect(engine: aiodocker.Docker, tag: str) -> dict[str, Any] | None:
    try:
        details: dict[str, Any] = await engine.images.inspect(tag)
    except DockerError as exc:
        if exc.status == 404:
            return None
        raise ImageBuildError(f"inspecting {tag}: {exc.message}") from exc
    return details


async def _image_label(engine: aiodocker.Docker, tag: str) -> str | None:
    """The image's hash label, or None when the image does not exist."""
    details = await _inspect(engine, tag)
    labels = ((details or {}).get("Config") or {}).get("Labels") or {}
    label = labels.get(HASH_LABEL)
    return label if isinstance(label, str) else None


async def _image_id(engine: aiodocker.Docker, tag: str) -> str | None:
    details = await _inspect(engine, tag)
    return None if details is None else str(details["Id"])


async def _remove_image(engine: aiodocker.Docker, name: str, what: str) -> None:
    """Remove an image a rebuild replaced, so rebuilds do not pile up disk."""
    try:
        await engine.images.delete(name)
        _progress(f"removed {what} {name[:30]}")
    except DockerError as exc:
        _progress(f"kept {what} {name[:30]} (still in use?): {exc.message}")


def _context_tar(context: Path, *, bay: bool = False) -> io.BytesIO:
    """The build context as a gzipped tar in memory (small: sources and lists)."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for path in _context_files(context, bay=bay):
            tar.add(path, arcname=str(path.relative_to(context)))
    archive.seek(0)
    return archive


async def image_is_current(build: BuildPlan, docker_host: str | None = None) -> bool:
    async with _engine(docker_host) as engine:
        return await _image_label(engine, build.tag) == build.image_hash


def _check_tools(offline: bool) -> None:
    if not offline:
        return
    if os.geteuid() != 0:
        raise ImageBuildError(
            "the offline build runs debootstrap and chroot, which need root: run it as "
            "root, or build with a registry: bay-mcp image build (without --offline)"
        )
    for tool in ("debootstrap", "chroot", "tar", "docker"):
        if shutil.which(tool) is None:
            raise ImageBuildError(
                f"{tool} is not installed: apt-get install -y debootstrap (as root)"
            )


def _listed(path: Path) -> list[str]:
    """The names in a requirements list: one a line, `#` comments."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


async def _chroot(rootfs: Path, *argv: str) -> None:
    # A clean environment: the host's pip settings (index, cache) must not leak in.
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_CACHE_DIR": "1",
        "PIP_CERT": "/tmp/host-ca.crt",
        "npm_config_cafile": "/tmp/host-ca.crt",
        "npm_config_cache": "/tmp/npm-cache",
        "DEBIAN_FRONTEND": "noninteractive",
    }
    await _run("chroot", str(rootfs), *argv, env=env)


async def _install_ship(rootfs: Path, build: BuildPlan) -> None:
    """Ship's flavors: apt and npm lists, Ship's venv and the user's, the sandbox user."""
    requirements = build.context / "requirements"
    debian_lists = ["debian.txt", *([BROWSER_DEBIAN] if build.browser else [])]
    packages = [name for listed in debian_lists for name in _listed(requirements / listed)]
    _progress(f"apt-get install {len(packages)} packages …")
    await _chroot(rootfs, "apt-get", "update", "-q")
    await _chroot(rootfs, "apt-get", "install", "-y", "-q", "--no-install-recommends", *packages)
    node_packages = _listed(requirements / "npm.txt")
    _progress(f"npm install -g {' '.join(node_packages)} …")
    await _chroot(rootfs, "npm", "install", "-g", "--no-fund", "--no-audit", *node_packages)
    # One pip run per venv: the browser's requirements resolve together with Ship's.
    venvs = {
        "/opt/ship": ["server.txt", *([BROWSER_SERVER] if build.browser else [])],
        "/opt/python": ["kernel.txt"],
        # The egress proxy's own venv (ship/egress): mitmproxy's pins stay out of Ship's.
        "/opt/egress": ["egress.txt"],
    }
    copied = [name for names in venvs.values() for name in names]
    for name in copied:
        shutil.copyfile(requirements / name, rootfs / "tmp" / name)
    for venv, names in venvs.items():
        _progress(f"installing {' '.join(names)} into {venv} …")
        await _chroot(rootfs, "/usr/bin/python3", "-m", "venv", venv)
        files = [arg for name in names for arg in ("-r", f"/tmp/{name}")]
        await _chroot(rootfs, f"{venv}/bin/pip", "install", "-q", *files)
    # HOME is the workspace: dotfiles and `git config --global` persist with the files.
    await _chroot(
        rootfs, "useradd", "--uid", str(SANDBOX_UID), "--home-dir", "/workspace",
        "--no-create-home", "--shell", "/bin/bash", SANDBOX_USER,
    )  # fmt: skip
    await _run("chown", "-R", f"{SANDBOX_UID}:{SANDBOX_UID}", str(rootfs / "opt/python"))
    for name in copied:
        (rootfs / "tmp" / name).unlink()


async def _install_bay(rootfs: Path, build: BuildPlan) -> None:
    """Bay's flavor: its pinned dependencies in /opt/bay, the build backend beside it
    (where deploy/Dockerfile looks before installing either)."""
    copied = {"requirements.txt": BAY_REQUIREMENTS, "build.txt": BAY_BUILD_REQUIREMENTS}
    for name, source in copied.items():
        shutil.copyfile(build.context / source, rootfs / "tmp" / name)
    _progress(f"installing {BAY_REQUIREMENTS} into /opt/bay …")
    await _chroot(rootfs, "/usr/bin/python3", "-m", "venv", "/opt/bay")
    await _chroot(rootfs, "/opt/bay/bin/pip", "install", "-q", "-r", "/tmp/requirements.txt")
    _progress(f"installing {BAY_BUILD_REQUIREMENTS} into /opt/bay-build/backend …")
    await _chroot(
        rootfs, "/opt/bay/bin/pip", "install", "-q", "--target", "/opt/bay-build/backend",
        "-r", "/tmp/build.txt",
    )  # fmt: skip
    for name in copied:
        (rootfs / "tmp" / name).unlink()


async def _build_base(build: BuildPlan, docker_host: str | None) -> None:
    assert build.base_tag is not None
    workdir = Path(tempfile.mkdtemp(prefix="bay-image-base-", dir="/var/tmp"))
    rootfs = workdir / "rootfs"
    try:
        started = time.monotonic()
        _progress(f"debootstrap {DEBIAN_SUITE} (minbase) from {build.mirror} …")
        await _run(
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(BAY_DEBIAN if build.bay else DEBIAN_BASE)}",
            DEBIAN_SUITE,
            str(rootfs),
            build.mirror,
        )
        _progress(f"root filesystem ready in {time.monotonic() - started:.0f} s")
        # pip inside the chroot trusts only the CA bundle it is given: hand it the
        # host's, which also knows any TLS-inspecting proxy. Removed afterwards.
        shutil.copyfile(HOST_CA_BUNDLE, rootfs / "tmp/host-ca.crt")
        shutil.copyfile("/etc/resolv.conf", rootfs / "etc/resolv.conf")
        await (_install_bay if build.bay else _install_ship)(rootfs, build)
        (rootfs / "tmp/host-ca.crt").unlink()
        (rootfs / "etc/resolv.conf").write_text("")
        # Lean: no package lists, archives, caches or documentation in the image.
        for junk in ("var/lib/apt/lists", "var/cache/apt/archives", "tmp/npm-cache",
                     "root/.npm", "root/.cache", "usr/share/doc", "usr/share/man",
                     "usr/share/info"):  # fmt: skip
            shutil.rmtree(rootfs / junk, ignore_errors=True)
        _progress(f"importing the root filesystem as {build.base_tag} …")
        # The one use of the docker CLI: the engine's import-from-tar has no public call
        # in aiodocker. The CLI talks to the same engine (DOCKER_HOST).
        env = {**os.environ, **({"DOCKER_HOST": docker_host} if docker_host else {})}
        await _run(
            "bash",
            "-o",
            "pipefail",
            "-c",
            f"tar -C '{rootfs}' -c . | docker import - '{build.base_tag}' >/dev/null",
            env=env,
        )
        _progress(f"base image ready in {time.monotonic() - started:.0f} s")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def _remove_stale_bases(engine: aiodocker.Docker, build: BuildPlan) -> None:
    """Remove the bases no flavor uses now: Ship's keep each flavor's current base,
    Bay's (a repository of its own) keeps its current one."""
    if build.bay:
        repository, keep = BAY_BASE_REPOSITORY, {build.base_tag}
    else:
        repository = BASE_REPOSITORY
        keep = {base_tag(build.context, build.mirror, browser=flavor) for flavor in (False, True)}
    images = await engine.images.list(filters={"reference": [repository]})
    for image in images:
        for tag in image.get("RepoTags") or []:
            if tag not in keep:
                await _remove_image(engine, tag, "the outdated base image")


async def build_image(
    build: BuildPlan, *, force: bool = False, docker_host: str | None = None
) -> bool:
    """Build `build.tag`; return False when it was already current and not forced."""
    _check_tools(build.offline)
    async with _engine(docker_host) as engine:
        if not force and await _image_label(engine, build.tag) == build.image_hash:
            _progress(f"{build.tag} is up to date (hash {build.image_hash[:12]}); nothing to do")
            return False
        started = time.monotonic()
        build_args: dict[str, str] = {"BROWSER": "1"} if build.browser else {}
        if build.offline:
            assert build.base_tag is not None
            if force or await _inspect(engine, build.base_tag) is None:
                await _build_base(build, docker_host)
            else:
                _progress(f"reusing the base image {build.base_tag}")
            build_args["BASE_IMAGE"] = build.base_tag
        replaced = await _image_id(engine, build.tag)
        dockerfile = build.context / (BAY_DOCKERFILE if build.bay else "Dockerfile")
        _progress(f"building {build.tag} from {dockerfile} …")
        try:
            async for step in engine.images.build(
                fileobj=_context_tar(build.context, bay=build.bay),
                path_dockerfile=BAY_DOCKERFILE if build.bay else None,
                encoding="gzip",
                tag=build.tag,
                buildargs=build_args,
                labels={HASH_LABEL: build.image_hash},
                stream=True,
            ):
                if text := step.get("stream"):
                    print(text, end="", file=sys.stderr, flush=True)
        except DockerError as exc:
            raise ImageBuildError(f"building {build.tag} failed: {exc.message}") from exc
        if replaced is not None and replaced != await _image_id(engine, build.tag):
            await _remove_image(engine, replaced, "the replaced image")
        if build.offline:
            await _remove_stale_bases(engine, build)
    _progress(f"{build.tag} built in {time.monotonic() - started:.0f} s")
    return True
