"""A host's first launch: `scripts/run` as the MCP command, a fresh data directory and
no Ship image. The host gets its `initialize` answer at once; the image is built in
the background; the first exec waits for it with progress (or says when to retry),
and a later call runs."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.databases import server_database_env
from tests.integration.conftest import IMAGE, BayResources, docker
from tests.integration.mcp.conftest import text_of

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROOT = Path(__file__).resolve().parents[3]
SAVED = "ship:first-contact-saved"
INITIALIZE_WITHIN_S = 5.0
BUILD_WITHIN_S = 600.0


@pytest.fixture
def no_image() -> Iterator[None]:
    """ship:latest is gone for the test, and back (the same image) afterwards."""
    docker("tag", IMAGE, SAVED)
    docker("rmi", IMAGE)
    try:
        yield
    finally:
        if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True,
                          check=False).returncode != 0:  # fmt: skip
            docker("tag", SAVED, IMAGE)
        docker("rmi", SAVED, check=False)


class Fresh(BayResources):
    def __init__(self) -> None:
        self.instance_id = f"bay-test-{secrets.token_hex(4)}"
        self.data_dir = Path(tempfile.mkdtemp(prefix="bay-first-"))


async def test_a_first_launch_answers_at_once_and_builds_beside(no_image: None) -> None:
    fresh = Fresh()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(fresh.data_dir),
        "BAY_DATA_DIR": str(fresh.data_dir),
        "BAY_INSTANCE_ID": fresh.instance_id,
        "BAY_SETUP_LOG": str(fresh.data_dir / "setup.log"),
        **server_database_env(fresh.data_dir),
    }
    if "DOCKER_HOST" in os.environ:
        env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
    params = StdioServerParameters(command=str(ROOT / "scripts/run"), env=env, cwd=str(ROOT))
    messages: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    try:
        started = time.monotonic()
        async with Client(params, read_timeout_seconds=BUILD_WITHIN_S) as client:
            initialized = time.monotonic() - started
            assert initialized < INITIALIZE_WITHIN_S, f"initialize took {initialized:.1f} s"
            made = await client.call_tool("create_sandbox", {})
            assert not made.is_error, text_of(made)
            assert made.structured_content is not None
            sandbox_id = made.structured_content["id"]
            deadline = time.monotonic() + BUILD_WITHIN_S
            while True:
                ran = await client.call_tool(
                    "python_exec", {"sandbox_id": sandbox_id, "code": "print(6 * 7)"},
                    progress_callback=on_progress,
                )  # fmt: skip
                if not ran.is_error:
                    break
                # Still setting up: the error says so and when to retry.
                assert "retry" in text_of(ran).lower(), text_of(ran)
                assert time.monotonic() < deadline, "the image was never built"
                await asyncio.sleep(1)
            assert "42" in text_of(ran)
            # The build may well be done by the first call (a cached base builds in
            # seconds); when it was not, the call said what it was waiting for.
            assert all(m.startswith(("setting up", "starting", "running")) for m in messages), (
                messages
            )
            again = await client.call_tool("python_exec", {"sandbox_id": sandbox_id,
                                                           "code": "print('again')"})  # fmt: skip
            assert "again" in text_of(again)
            await client.call_tool("delete_sandbox", {"sandbox_id": sandbox_id})
        setup_log = (fresh.data_dir / "setup.log").read_text()
        assert "ship:latest built" in setup_log, setup_log[-2000:]
    finally:
        fresh.remove_all()
        shutil.rmtree(fresh.data_dir, ignore_errors=True)


async def test_a_failed_set_up_is_reported_on_every_call(tmp_path: Path) -> None:
    """A set-up that exits non-zero (as scripts/run starts it: a child the server
    inherits): every sandbox start says so, with the end of its log and the fix."""
    fresh = Fresh()
    log = tmp_path / "setup.log"
    launcher = tmp_path / "launch"
    launcher.write_text(
        "#!/usr/bin/env bash\n"
        f"( echo '[ensure-docker] no Docker engine answers here'; echo 3 > {log}.status ) "
        f"> {log} 2>&1 &\n"
        f"export BAY_SETUP_PID=$! BAY_SETUP_LOG={log} BAY_SETUP_STATUS={log}.status\n"
        f"exec {ROOT / '.venv/bin/bay-mcp'}\n"
    )
    launcher.chmod(0o755)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(fresh.data_dir),
        "BAY_DATA_DIR": str(fresh.data_dir),
        "BAY_INSTANCE_ID": fresh.instance_id,
        "BAY_AUTO_BUILD_IMAGE": "false",
        **server_database_env(fresh.data_dir),
    }
    try:
        async with Client(StdioServerParameters(command=str(launcher), env=env)) as client:
            made = await client.call_tool("create_sandbox", {})
            assert made.structured_content is not None
            sandbox_id = made.structured_content["id"]
            for _ in range(2):  # on every call, not only the first
                ran = await client.call_tool("python_exec", {"sandbox_id": sandbox_id,
                                                             "code": "1"})  # fmt: skip
                assert ran.is_error
                assert "setting up this machine failed (exit 3)" in text_of(ran)
                assert "no Docker engine answers here" in text_of(ran)
        assert fresh.containers() == []
    finally:
        fresh.remove_all()
        shutil.rmtree(fresh.data_dir, ignore_errors=True)
