"""The MCP Inspector CLI (npm `@modelcontextprotocol/inspector`, pinned in this folder's
package-lock.json, installed by scripts/ensure-inspector) against the real `bay-mcp`
over stdio: it lists the prompts and the resource templates, gets a prompt, and
completes a sandbox id and a profile."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.databases import server_database_env
from tests.integration.mcp.conftest import BAY_MCP, BayServer, stdio_server

HERE = Path(__file__).parent
ROOT = HERE.parents[2]
INSPECTOR = HERE / "node_modules" / ".bin" / "mcp-inspector"
TEMPLATE = "cargo://{sandbox_id}/{+path}"


@pytest.fixture(scope="module")
def installed() -> None:
    subprocess.run([str(ROOT / "scripts" / "ensure-inspector")], check=True, timeout=600)


@pytest.fixture(scope="module")
def server() -> Iterator[BayServer]:
    with stdio_server() as made:
        yield made


def inspect(server: BayServer, method: str, *options: str) -> Any:
    """One Inspector CLI call on a fresh `bay-mcp` (its own stdio process, the server's
    data directory): the result as JSON."""
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
    pairs = [option for name, value in env.items() for option in ("-e", f"{name}={value}")]
    done = subprocess.run(
        [
            str(INSPECTOR),
            "--cli",
            *pairs,
            "--format",
            "json",
            "--quiet",
            "--method",
            method,
            *options,
            "--",
            BAY_MCP,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=server.data_dir,
        # The Inspector keeps its catalog and client settings here, not in $HOME.
        env={
            **os.environ,
            "MCP_CATALOG_PATH": str(server.data_dir / "inspector-catalog.json"),
            "MCP_CLIENT_CONFIG_PATH": str(server.data_dir / "inspector-client.json"),
        },
    )
    assert done.returncode == 0, f"{method}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout)


def test_the_inspector_lists_prompts_templates_and_completes(
    installed: None, server: BayServer
) -> None:
    prompts = inspect(server, "prompts/list")["prompts"]
    names = {prompt["name"] for prompt in prompts}
    assert {"analyse_data_file", "start_web_app", "reproduce_bug"} <= names
    assert all(prompt["icons"] for prompt in prompts)

    templates = inspect(server, "resources/templates/list")["resourceTemplates"]
    assert [template["uriTemplate"] for template in templates] == [TEMPLATE]

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

    profiles = inspect(
        server,
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
    assert json.dumps(profiles).count("python-only") == 1, profiles

    made = inspect(server, "tools/call", "--tool-name", "create_sandbox")
    sandbox_id = made["structuredContent"]["id"]
    ids = inspect(
        server,
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
    assert sandbox_id in json.dumps(ids), ids
