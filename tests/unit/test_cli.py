"""The `bay-mcp` command without Docker: key management and its argument checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bay_mcp.cli import main


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(args)
    out, err = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 1), out, err


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BAY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BAY_INSTANCE_ID", "bay-cli-test")
    return tmp_path


def test_keys_are_made_listed_with_expiry_and_revoked(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    code, key, err = run(["keys", "create", "--owner", "alice", "--expires-in", "30d"], capsys)
    assert code == 0
    assert key.strip().startswith("bay_")
    assert "expires" in err
    code, listed, _ = run(["keys", "list"], capsys)
    assert code == 0
    [line] = listed.splitlines()
    assert "alice" in line
    assert "active until" in line
    assert "last used never" in line
    assert key.strip() not in listed
    key_id = line.split()[0]
    assert run(["keys", "revoke", key_id], capsys)[0] == 0
    assert "revoked" in run(["keys", "list"], capsys)[1]
    code, _, err = run(["keys", "revoke", "key-nope"], capsys)
    assert code == 1
    assert "not found" in err


@pytest.mark.parametrize("bad", ["30", "d", "0d", "-1h", "3y", "1.5h"])
def test_a_bad_duration_is_refused_with_examples(
    capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    code, _, err = run(["keys", "create", "--owner", "alice", f"--expires-in={bad}"], capsys)
    assert code == 2
    assert "e.g. 90m, 12h, 30d, 4w" in err


def test_a_bad_owner_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["keys", "create", "--owner", "not valid!"], capsys)
    assert code == 1
    assert "owner must be" in err


def test_invalid_settings_say_what_is_wrong(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BAY_MAX_CONCURRENT_EXECS_PER_OWNER", "0")
    code, _, err = run(["keys", "list"], capsys)
    assert code == 2
    assert "invalid settings" in err
    assert "max_concurrent_execs_per_owner" in err


def test_the_stdio_server_is_built_without_the_database_or_docker_layers() -> None:
    # What runs before the first answer to a host: importing the stdio path and building
    # the MCP server (every tool's schema). SQLAlchemy and aiodocker (with aiohttp) cost
    # ~0.4 s to import here; they load beside the answer, in Bay's start.
    probe = (
        "import sys\n"
        "import bay_mcp.stdio\n"
        "from bay_mcp.mcp.server import create_mcp_server\n"
        "create_mcp_server(None, lambda ctx: 'x')\n"
        "print(sorted(m for m in ('sqlalchemy', 'aiodocker', 'aiohttp', 'sqlmodel') "
        "if m in sys.modules))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert loaded.stdout.strip() == "[]", loaded.stdout
