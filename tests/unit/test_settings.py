"""Settings: defaults that work on a laptop, a config file and BAY_* variables over
them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bay_mcp.settings import BaySettings, resolve_instance_id


@pytest.fixture(autouse=True)
def _no_settings_from_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets: none of the BAY_* variables the test run itself has."""
    for name in os.environ:
        if name.upper().startswith("BAY_"):
            monkeypatch.delenv(name)


def _config(tmp_path: Path, text: str, name: str = "bay.toml") -> Path:
    config = tmp_path / name
    config.write_text(text)
    return config


def test_env_overrides_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(
        tmp_path,
        'output_limit_chars = 5000\nlocal_owner = "from-file"\n'
        '[[profiles]]\nid = "tiny"\nmemory_mb = 256\ncapabilities = ["python"]\n',
    )
    monkeypatch.setenv("BAY_CONFIG_FILE", str(config))
    monkeypatch.setenv("BAY_OUTPUT_LIMIT_CHARS", "7000")
    monkeypatch.setenv("BAY_DATA_DIR", str(tmp_path / "data"))
    settings = BaySettings()
    assert settings.output_limit_chars == 7000
    assert settings.local_owner == "from-file"
    assert settings.data_dir == tmp_path / "data"
    [profile] = settings.profiles
    assert (profile.id, profile.memory_mb, profile.capabilities) == ("tiny", 256, ["python"])


def test_defaults_work_on_a_laptop() -> None:
    settings = BaySettings()
    profile, browsing = settings.profiles
    assert profile.id == "python-default"
    assert profile.image == "ship:latest"
    assert (profile.cpus, profile.memory_mb, profile.idle_timeout_seconds) == (1.0, 1024, 600)
    assert profile.capabilities == ["python", "shell", "filesystem"]
    assert (browsing.id, browsing.image) == ("browser-python", "ship-browser:latest")
    assert browsing.capabilities == ["python", "shell", "filesystem", "browser"]
    assert browsing.pool_size == 0
    assert settings.database_path.name == "bay.db"


def test_a_missing_config_file_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BAY_CONFIG_FILE", str(tmp_path / "nope.toml"))
    with pytest.raises(ValueError, match="not a file"):
        BaySettings()


def test_the_instance_id_is_made_once(tmp_path: Path) -> None:
    settings = BaySettings(data_dir=tmp_path)
    first = resolve_instance_id(settings)
    assert first == resolve_instance_id(BaySettings(data_dir=tmp_path))
    assert resolve_instance_id(BaySettings(data_dir=tmp_path, instance_id="fixed")) == "fixed"
