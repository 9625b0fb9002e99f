"""A sandbox an agent can work in, over MCP stdio: the tools it reaches for, packages
from the registries, a home that persists, and environment from the profile and the
sandbox (seen everywhere, shown nowhere)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from mcp import Client

from tests.integration.mcp.conftest import (
    BayServer,
    call,
    call_error,
    connected,
    new_sandbox,
    stdio_server,
    text_of,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
SECRET = f"tok-{secrets.token_hex(12)}"
PROFILES = [
    {
        "id": "agent",
        # This network inspects TLS: registries are reached through the host's CA bundle.
        "ca_bundle": str(HOST_CA),
        "env": {"PROFILE_ONLY": "from the profile", "SHARED": "profile"},
    },
]


@pytest.fixture(scope="module")
def server() -> Iterator[BayServer]:
    with stdio_server(PROFILES) as bay:
        yield bay


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(server: BayServer) -> AsyncIterator[Client]:
    async with connected(server) as session:
        yield session


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sandbox(client: Client) -> AsyncIterator[str]:
    sandbox_id = await new_sandbox(
        client, profile="agent", env={"SHARED": "sandbox", "SECRET_TOKEN": SECRET}
    )
    yield sandbox_id
    await call(client, "delete_sandbox", sandbox_id=sandbox_id)


async def sh(client: Client, sandbox_id: str, command: str, timeout: int = 60) -> str:
    result = await call(client, "shell_exec", sandbox_id=sandbox_id, command=command,
                        timeout=timeout)  # fmt: skip
    assert result.structured_content is not None
    assert result.structured_content["exit_code"] == 0, text_of(result)
    output: str = result.structured_content["output"]
    return output


async def test_the_tools_agents_reach_for_are_there(client: Client, sandbox: str) -> None:
    versions = await sh(client, sandbox, "node -e 'console.log(process.version)'; npm --version; "
                        "pnpm --version; uv --version; rg --version | head -1; jq --version; "
                        "sqlite3 --version; gcc --version | head -1; zip -v | head -2; "
                        "unzip -v | head -1; wget --version | head -1")  # fmt: skip
    for expected in ("v18.", "9.15.9", "uv ", "ripgrep", "jq-", "gcc", "Zip",
                     "UnZip", "Wget"):  # fmt: skip
        assert expected in versions, (expected, versions)
    health = await sh(client, sandbox, "curl -sf http://127.0.0.1:8123/health")
    assert '"status":"healthy"' in health
    git = await sh(
        client,
        sandbox,
        "mkdir -p repo && cd repo && git init -q && echo hi > a.txt && git add a.txt && "
        "git -c user.email=a@b -c user.name=agent commit -qm first && git log --oneline",
    )
    assert "first" in git
    assert (await sh(client, sandbox, "id -un; echo $HOME")).split() == ["shipyard", "/workspace"]


async def test_packages_install_from_the_registries(client: Client, sandbox: str) -> None:
    python = await sh(
        client, sandbox,
        "cd /workspace && uv venv -q venv && uv pip install -q --python venv six && "
        "venv/bin/python -c 'import six; print(six.__name__)'",
        timeout=180,
    )  # fmt: skip
    assert python.strip().endswith("six")
    node = await sh(
        client, sandbox,
        "mkdir -p js && cd js && npm install --no-fund --no-audit --silent is-number@7 && "
        "node -e \"console.log(require('is-number')(5))\"",
        timeout=180,
    )  # fmt: skip
    assert node.strip().endswith("true")
    # Caches stay on the tmpfs, never in the cargo.
    cached = await sh(client, sandbox, "ls /workspace; du -sm /tmp/.cache | cut -f1")
    assert ".cache" not in cached.split()
    assert ".npm" not in cached.split()


async def test_home_persists_across_a_stop(client: Client, sandbox: str) -> None:
    await sh(client, sandbox, "git config --global user.name 'Agent Smith' && "
             "echo 'export FROM_BASHRC=yes' >> ~/.bashrc")  # fmt: skip
    await call(client, "stop_sandbox", sandbox_id=sandbox)
    after = await sh(client, sandbox, "git config --global user.name; echo $FROM_BASHRC")
    assert after.split("\n")[:2] == ["Agent Smith", "yes"]


async def test_environment_reaches_every_process_and_no_output(
    client: Client, sandbox: str, server: BayServer
) -> None:
    code = (
        "import os, subprocess\n"
        "print(os.environ['SHARED'], os.environ['PROFILE_ONLY'])\n"
        "print(subprocess.run(['bash', '-c', 'echo child:$SHARED'], capture_output=True,"
        " text=True).stdout.strip())\n"
        "print(os.environ['SECRET_TOKEN'] == " + repr(SECRET) + ")"
    )
    python = await call(client, "python_exec", sandbox_id=sandbox, code=code)
    assert text_of(python).split("\n")[:3] == ["sandbox from the profile", "child:sandbox", "True"]
    shell = await sh(client, sandbox, 'echo "$SHARED $PROFILE_ONLY"; stat -c %a .bay_env.sh; '
                     'env -i bash -lc \'echo login:$SHARED\'')  # fmt: skip
    assert shell.split("\n")[:3] == ["sandbox from the profile", "600", "login:sandbox"]
    await call(client, "stop_sandbox", sandbox_id=sandbox)  # a new session: the same env
    assert (await sh(client, sandbox, "echo $SHARED")).strip() == "sandbox"
    view = await call(client, "get_sandbox", sandbox_id=sandbox)
    assert view.structured_content is not None
    assert view.structured_content["env"] == ["PROFILE_ONLY", "SECRET_TOKEN", "SHARED"]
    listed = await call(client, "list_sandboxes")
    # The value is in no response and no log line (the call above only compared it).
    for text in (str(view.structured_content), str(listed.structured_content),
                 server.stdout_log.read_text(), server.stderr_log.read_text()):  # fmt: skip
        assert SECRET not in text


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"PATH": "/evil"}, "'PATH'"),
        ({"HOME": "/"}, "'HOME'"),
        ({"SHIP_TOKEN": "x"}, "'SHIP_TOKEN'"),
        ({"1BAD": "x"}, "'1BAD'"),
        ({"bad-name": "x"}, "'bad-name'"),
    ],
)
async def test_bad_variable_names_are_refused_by_name(
    client: Client, server: BayServer, env: dict[str, str], names: str
) -> None:
    before = server.volumes()
    error = await call_error(client, "create_sandbox", profile="agent", env=env)
    assert names in error
    assert server.volumes() == before  # nothing half-created
