"""The MCP Inspector (npm `@modelcontextprotocol/inspector`, pinned in this folder's
package-lock.json, installed by scripts/ensure-inspector) against the real `bay-mcp`
over stdio: its CLI lists the prompts and the resource templates and gets a prompt; its
connection CLI (`mcpdo`) completes a profile and a sandbox id."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.databases import server_database_env
from tests.integration.mcp.conftest import BAY_MCP, BayServer, stdio_server

HERE = Path(__file__).parent
ROOT = HERE.parents[2]
BIN = HERE / "node_modules" / ".bin"
TEMPLATE = "cargo://{sandbox_id}/{+path}"


@pytest.fixture(scope="module")
def installed() -> None:
    subprocess.run([str(ROOT / "scripts" / "ensure-inspector")], check=True, timeout=600)


@pytest.fixture(scope="module")
def server() -> Iterator[BayServer]:
    with stdio_server() as made:
        yield made


def server_env(server: BayServer) -> list[str]:
    """The server's settings as the Inspector's `-e KEY=VALUE` options (it hands a stdio
    server only these and a few safe variables)."""
    env = {
        "BAY_DATA_DIR": str(server.data_dir),
        "BAY_INSTANCE_ID": server.instance_id,
        "BAY_PROFILES": json.dumps(server.profiles),
        "BAY_AUTO_BUILD_IMAGE": "false",
        **server_database_env(server.data_dir),
    }
    for name in ("DOCKER_HOST", "PYTHONPATH"):  # the engine; the code under test
        if name in os.environ:
            env[name] = os.environ[name]
    return [option for name, value in env.items() for option in ("-e", f"{name}={value}")]


def run(
    server: BayServer,
    command: list[str],
    env: dict[str, str] | None = None,
    *,
    parse: bool = True,
    check: bool = True,
) -> Any:
    """One Inspector command, in the server's data directory (the Inspector keeps its
    catalog and client settings there, not in $HOME): its JSON result when `parse`."""
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=server.data_dir,
        env={
            **os.environ,
            "MCP_CATALOG_PATH": str(server.data_dir / "inspector-catalog.json"),
            "MCP_CLIENT_CONFIG_PATH": str(server.data_dir / "inspector-client.json"),
            **(env or {}),
        },
    )
    assert done.returncode == 0 or not check, (
        f"{command}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    )
    return json.loads(done.stdout) if parse else None


def inspect(server: BayServer, method: str, *options: str) -> Any:
    """One `mcp-inspector --cli` call on a fresh `bay-mcp` over stdio: its result."""
    cli = [str(BIN / "mcp-inspector"), "--cli", *server_env(server), "--format", "json"]
    answer = run(server, [*cli, "--quiet", "--method", method, *options, "--", BAY_MCP])
    assert set(answer) == {"result"}, answer  # --format json: {"result": <the result>}
    return answer["result"]


@contextmanager
def connection(server: BayServer) -> Iterator[Callable[..., Any]]:
    """`mcpdo` (the Inspector's connection CLI: its one-shot CLI has no completions) on
    a private daemon connected to one `bay-mcp` over stdio; stopped after."""
    daemon = {
        "MCP_INSPECTOR_DAEMON_DIR": str(server.data_dir / "mcpdo"),
        "MCP_INSPECTOR_DAEMON_TOKEN": secrets.token_urlsafe(24),
    }
    mcpdo = str(BIN / "mcpdo")
    try:  # a connect that fails half-way may have started the daemon: stopped all the same
        run(server, [mcpdo, "connect", *server_env(server), "--", BAY_MCP], daemon, parse=False)
        # An ad-hoc connection is named by its command.
        named = [mcpdo, "--format", "json", "--connection", BAY_MCP]
        yield lambda *command: run(server, [*named, *command], daemon)
    finally:
        # Not checked: after a failed connect there may be no daemon to stop.
        run(server, [mcpdo, "daemon", "stop"], daemon, parse=False, check=False)


def completion(answer: Any) -> list[str]:
    """The values of a completion as mcpdo prints it."""
    found = answer.get("completion", answer) if isinstance(answer, dict) else answer
    assert isinstance(found, dict), answer
    assert "values" in found, answer
    values: list[str] = found["values"]
    return values


def test_the_inspector_lists_prompts_and_templates_and_gets_a_prompt(
    installed: None, server: BayServer
) -> None:
    listed = inspect(server, "prompts/list")
    assert "prompts" in listed, listed
    names = {prompt["name"] for prompt in listed["prompts"]}
    assert {"analyse_data_file", "start_web_app", "reproduce_bug"} <= names
    assert all(prompt["icons"] for prompt in listed["prompts"])

    templates = inspect(server, "resources/templates/list")
    assert [t["uriTemplate"] for t in templates["resourceTemplates"]] == [TEMPLATE], templates

    got = inspect(
        server,
        "prompts/get",
        "--prompt-name",
        "reproduce_bug",
        "--prompt-args",
        "repository_url=https://example.org/a.git",
        "description=it crashes",
    )
    assert "git clone --depth 50 https://example.org/a.git" in json.dumps(got)


def test_the_inspector_completes_a_profile_and_a_sandbox_id(
    installed: None, server: BayServer
) -> None:
    with connection(server) as mcpdo:
        profiles = mcpdo(
            "prompts/complete",
            "--complete-ref-type",
            "ref/prompt",
            "--complete-ref",
            "reproduce_bug",
            "--complete-arg-name",
            "profile",
            "--complete-arg-value",
            "python-o",
        )
        assert completion(profiles) == ["python-only"]
        made = mcpdo("tools/call", "create_sandbox")
        sandbox_id = json.dumps(made).split("sandbox-", 1)[1][:12]
        ids = mcpdo(
            "prompts/complete",
            "--complete-ref-type",
            "ref/resource",
            "--complete-ref",
            TEMPLATE,
            "--complete-arg-name",
            "sandbox_id",
            "--complete-arg-value",
            "sandbox-",
        )
        assert completion(ids) == [f"sandbox-{sandbox_id}"]
