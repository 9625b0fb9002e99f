"""The sandbox's environment file: what login shells source."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

from ship.environment import ENV_FILE, write_env_file


def test_named_variables_are_written_quoted_and_private(tmp_path: Path) -> None:
    env = {"TOKEN": "s3cr3t 'quoted' $HOME", "OTHER": "x", "SHIP_USER_ENV": "TOKEN,MISSING"}
    written = write_env_file(tmp_path, env)
    assert written == tmp_path / ENV_FILE
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    text = written.read_text()
    assert "OTHER" not in text
    assert "MISSING" not in text
    echoed = subprocess.run(
        ["bash", "-c", f'. {written} && printf %s "$TOKEN"'],
        capture_output=True, text=True, check=True, env={},
    ).stdout  # fmt: skip
    assert echoed == "s3cr3t 'quoted' $HOME"


def test_no_names_removes_a_stale_file(tmp_path: Path) -> None:
    (tmp_path / ENV_FILE).write_text("export OLD=1\n")
    assert write_env_file(tmp_path, {"SHIP_USER_ENV": ""}) is None
    assert not (tmp_path / ENV_FILE).exists()
