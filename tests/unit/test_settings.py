"""Settings: defaults that work on a laptop, a config file and BAY_* variables over
them, and strictness: an unknown key in the file or a profile stops the start, naming
it, where it was and what is accepted; an unknown BAY_* variable is a warning."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from bay_mcp import cli
from bay_mcp.config_keys import ConfigError
from bay_mcp.settings import BaySettings, resolve_instance_id, unknown_environment


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


# Strict keys: the config file and profiles.


def test_an_unknown_key_in_the_config_file_stops_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, 'local_owner = "me"\noutput_limit_char = 5000\n')
    monkeypatch.setenv("BAY_CONFIG_FILE", str(config))

    with pytest.raises(ConfigError) as refused:
        BaySettings()

    message = str(refused.value)
    assert f"{config} (BAY_CONFIG_FILE), top level: unknown key 'output_limit_char'" in message
    assert "(did you mean 'output_limit_chars'?)" in message
    assert "accepted there: data_dir, instance_id," in message  # every setting, in order
    assert "local_owner" in message.split("accepted there:")[1]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "bay.toml",
            '[[profiles]]\nid = "python-default"\n'
            '[[profiles]]\nid = "tiny"\nidle_timout_seconds = 60\n',
        ),
        (
            "bay.yaml",
            "profiles:\n  - id: python-default\n  - id: tiny\n    idle_timout_seconds: 60\n",
        ),
    ],
)
def test_an_unknown_key_in_a_profile_names_the_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, text: str
) -> None:
    config = _config(tmp_path, text, name)
    monkeypatch.setenv("BAY_CONFIG_FILE", str(config))

    with pytest.raises(ConfigError) as refused:
        BaySettings()

    assert str(refused.value) == (
        f"{config} (BAY_CONFIG_FILE), profile 'tiny' (profiles[1]): unknown key "
        "'idle_timout_seconds' (did you mean 'idle_timeout_seconds'?); accepted there: id, "
        "image, cpus, memory_mb, pids_limit, network, egress, capabilities, idle_timeout_seconds, "
        "pause_after_idle_seconds, description, languages, read_only_root, runtime, ca_bundle, "
        "cargo_size_limit_mb, "
        "max_upload_mb, env, warm_pool_size, warm_pool_max_size, pool_orphan_after_seconds, "
        "browser_idle_seconds, skill_dirs, max_processes."
    )


def test_a_key_a_newer_version_knows_is_refused_without_a_guess(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, '[[profiles]]\nid = "tiny"\negress_allow = ["pypi.org"]\n')
    monkeypatch.setenv("BAY_CONFIG_FILE", str(config))

    with pytest.raises(ConfigError, match=r"profile 'tiny' \(profiles\[0\]\): unknown key "
                       r"'egress_allow'; accepted there: id, image,"):  # fmt: skip
        BaySettings()


def test_a_profiles_key_at_the_top_level_is_said_to_go_in_a_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BAY_CONFIG_FILE", str(_config(tmp_path, "memory_mb = 512\n")))

    with pytest.raises(ConfigError, match="'memory_mb' is a profile's key: set it in a profile"):
        BaySettings()


def test_an_unknown_key_in_the_kubernetes_table_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, '[kubernetes]\nnamespac = "sandboxes"\n')
    monkeypatch.setenv("BAY_CONFIG_FILE", str(config))

    with pytest.raises(ConfigError, match=r"kubernetes: unknown key 'namespac' \(did you mean "
                       r"'namespace'\?\); accepted there: namespace,"):  # fmt: skip
        BaySettings()


def test_an_unknown_key_in_a_profile_from_the_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BAY_PROFILES", json.dumps([{"id": "tiny", "memry_mb": 512}]))

    with pytest.raises(ConfigError, match=r"^BAY_PROFILES, profile 'tiny' \(profiles\[0\]\): "
                       r"unknown key 'memry_mb' \(did you mean 'memory_mb'\?\)"):  # fmt: skip
        BaySettings()


def test_known_keys_are_matched_as_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Top-level keys in any case and by alias (pydantic-settings' own matching)."""
    config = _config(tmp_path, 'Local_Owner = "me"\nDOCKER_HOST = "unix:///run/engine.sock"\n')
    monkeypatch.setenv("BAY_CONFIG_FILE", str(config))

    settings = BaySettings()

    assert (settings.local_owner, settings.docker_host) == ("me", "unix:///run/engine.sock")


def test_an_unreadable_config_file_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, "profiles = [\n")
    monkeypatch.setenv("BAY_CONFIG_FILE", str(config))

    with pytest.raises(ConfigError, match=f"^{config} \\(BAY_CONFIG_FILE\\) is not readable TOML"):
        BaySettings()


def test_an_unknown_argument_is_refused() -> None:
    with pytest.raises(ValueError, match="output_limit_char"):
        BaySettings(output_limit_char=5000)


# Unknown BAY_* environment variables: a warning, with the likely intended name.


def test_unknown_environment_variables_are_named_with_a_close_match() -> None:
    environ = {
        "BAY_DATA_DIR": "/data",  # a setting
        "bay_local_owner": "me",  # a setting, in any case
        "BAY_KUBERNETES__NAMESPACE": "bay",  # a nested setting
        "BAY_KUBERNETES__BAY_POD_LABELS__APP": "bay",  # one key of a mapping
        "BAY_CONFIG_FILE": "/etc/bay.toml",  # no setting, but read by the settings
        "BAY_TEST_DATABASE_URL": "postgresql://",  # the tests' own
        "HOME": "/root",
        "BAY_OUTPUT_LIMIT_CHAR": "5000",
        "BAY_KUBERNETES__NAMESPAC": "bay",
        "BAY_IDLE_TIMEOUT_SECONDS": "60",
        "BAY_FROBNICATE": "1",
    }

    assert unknown_environment(environ) == [
        "the environment variable BAY_FROBNICATE names no setting, ignored",
        "the environment variable BAY_IDLE_TIMEOUT_SECONDS names no setting, ignored; "
        "it is a profile's setting: set it in BAY_PROFILES or the config file",
        "the environment variable BAY_KUBERNETES__NAMESPAC names no setting, ignored; "
        "did you mean BAY_KUBERNETES__NAMESPACE?",
        "the environment variable BAY_OUTPUT_LIMIT_CHAR names no setting, ignored; "
        "did you mean BAY_OUTPUT_LIMIT_CHARS?",
    ]


def test_an_unknown_environment_variable_warns_and_the_command_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("BAY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BAY_OUTPUT_LIMIT_CHAR", "5000")

    with caplog.at_level(logging.WARNING), pytest.raises(SystemExit) as ended:
        cli.main(["keys", "list"])

    assert ended.value.code == 0
    assert [record.getMessage() for record in caplog.records] == [
        "the environment variable BAY_OUTPUT_LIMIT_CHAR names no setting, ignored; "
        "did you mean BAY_OUTPUT_LIMIT_CHARS?"
    ]
    assert (tmp_path / "bay.db").is_file()  # it ran: its database is there


# How a command says its settings are wrong: one paragraph on stderr, exit 2.


def test_a_command_with_an_unknown_key_exits_with_one_paragraph(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, '[[profiles]]\nid = "tiny"\nidle_timout_seconds = 60\n')
    monkeypatch.setenv("BAY_CONFIG_FILE", str(config))
    monkeypatch.setenv("BAY_DATA_DIR", str(tmp_path / "data"))

    with pytest.raises(SystemExit) as ended:
        cli.main(["keys", "list"])

    assert ended.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"bay-mcp: invalid settings: {config} (BAY_CONFIG_FILE), profile 'tiny'")
    assert err.count("\n") == 1  # one paragraph, no traceback
    assert not (tmp_path / "data").exists()  # stopped before anything was made


def test_a_command_with_a_bad_value_names_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BAY_CONFIG_FILE", str(_config(tmp_path, "output_limit_chars = 10\n")))

    with pytest.raises(SystemExit) as ended:
        cli.main(["keys", "list"])

    assert ended.value.code == 2
    err = capsys.readouterr().err
    assert err == (
        "bay-mcp: invalid settings: output_limit_chars: Input should be greater than or "
        "equal to 1000. Settings come from BAY_* environment variables and the file "
        "BAY_CONFIG_FILE names.\n"
    )
