"""Ship's start (`python -m ship`): as root it drops to the sandbox user (Docker); started
as that user already (a Kubernetes Pod's runAsUser) it seals itself instead."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest
import uvicorn

import ship.__main__ as ship_main
from ship.settings import ShipSettings

TOKEN = "unit-test-token-0123456789"


def _start(monkeypatch: pytest.MonkeyPatch, workspace: Path, euid: int) -> list[str]:
    """Run main() up to serving; the steps it took, in order."""
    steps: list[str] = []
    monkeypatch.chdir(workspace)  # main() changes directory: restored afterwards
    monkeypatch.setenv("SHIP_TOKEN", TOKEN)
    monkeypatch.setenv("SHIP_WORKSPACE", str(workspace))
    monkeypatch.setenv("SHIP_USER_ENV", "GREETING")
    monkeypatch.setenv("GREETING", "hello")
    for name in ("USER", "LOGNAME"):
        monkeypatch.setenv(name, "before")
    monkeypatch.setattr(os, "geteuid", lambda: euid)

    def drop(settings: ShipSettings) -> None:
        steps.append("drop_privileges")

    monkeypatch.setattr(ship_main, "drop_privileges", drop)
    monkeypatch.setattr(ship_main, "seal_process", lambda: steps.append("seal_process"))

    def spawn_kernel(settings: ShipSettings) -> None:
        # After the drop: the kernel must never run as root.
        steps.append("spawn_kernel")

    monkeypatch.setattr(ship_main, "spawn_kernel", spawn_kernel)
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: steps.append("serve"))
    ship_main.main()
    return steps


def test_start_as_root_drops_privileges(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert _start(monkeypatch, tmp_path, euid=0) == ["drop_privileges", "spawn_kernel", "serve"]


def test_start_as_the_sandbox_user_seals_without_dropping(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    steps = _start(monkeypatch, tmp_path, euid=1000)

    assert steps == ["seal_process", "spawn_kernel", "serve"]
    assert "SHIP_TOKEN" not in os.environ
    # The workspace is prepared as after a drop: the user's variables written to it.
    assert "GREETING=hello" in (tmp_path / ".bay_env.sh").read_text()


def test_a_cargo_helper_leaves_the_sandboxs_env_file_as_it_is(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".bay_env.sh").write_text("export GREETING=before\n")
    monkeypatch.setenv("SHIP_CARGO_HELPER", "1")
    assert _start(monkeypatch, tmp_path, euid=0) == ["drop_privileges", "serve"]
    assert (tmp_path / ".bay_env.sh").read_text() == "export GREETING=before\n"


def test_seal_process_makes_ship_non_dumpable_and_names_its_user() -> None:
    # In a child: a non-dumpable test runner would be a side effect on every later test.
    code = (
        "import ctypes, os; from ship.__main__ import seal_process; seal_process(); "
        "libc = ctypes.CDLL(None); print(libc.prctl(3, 0, 0, 0, 0), os.environ['USER'])"
    )
    env = {**os.environ, "USER": "before"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )

    dumpable, user = result.stdout.split()
    assert dumpable == "0"  # PR_GET_DUMPABLE
    assert user == pwd.getpwuid(os.getuid()).pw_name
