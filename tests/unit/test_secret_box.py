"""The owner secrets' box: values round-trip under one key and open only for the owner
and name they were sealed for; the key comes from BAY_SECRETS_KEY or a key file made
once with mode 0600, and an unsafe file or a malformed key stops the start."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from bay_mcp.cli import main
from bay_mcp.secret_box import (
    KEY_FILE,
    SecretBox,
    SecretKeyError,
    UndecryptableSecret,
    key_file_key,
    load_key,
    new_key,
    parse_key,
)
from bay_mcp.settings import BaySettings


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(parse_key(new_key()))


def test_a_value_round_trips_and_is_not_in_its_ciphertext(box: SecretBox) -> None:
    sealed = box.seal("alice", "TOKEN", "hunter2-é-🔑")
    assert b"hunter2" not in sealed
    assert box.open("alice", "TOKEN", sealed) == "hunter2-é-🔑"
    # A fresh nonce each time: the same value never seals to the same bytes.
    assert box.seal("alice", "TOKEN", "hunter2-é-🔑") != sealed


def test_a_ciphertext_opens_only_for_its_owner_and_name(box: SecretBox) -> None:
    sealed = box.seal("alice", "TOKEN", "hunter2")
    with pytest.raises(UndecryptableSecret):
        box.open("bob", "TOKEN", sealed)
    with pytest.raises(UndecryptableSecret):
        box.open("alice", "OTHER", sealed)
    with pytest.raises(UndecryptableSecret):
        SecretBox(parse_key(new_key())).open("alice", "TOKEN", sealed)
    with pytest.raises(UndecryptableSecret):
        box.open("alice", "TOKEN", sealed[:-1] + bytes([sealed[-1] ^ 1]))


def test_the_key_file_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    key = key_file_key(data_dir)
    path = data_dir / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) == 32
    assert key_file_key(data_dir) == key
    assert sorted(p.name for p in data_dir.iterdir()) == [KEY_FILE]  # no temporary left


def test_a_key_file_others_may_read_is_refused(tmp_path: Path) -> None:
    key_file_key(tmp_path)
    (tmp_path / KEY_FILE).chmod(0o644)
    with pytest.raises(SecretKeyError, match="chmod 600"):
        key_file_key(tmp_path)


def test_a_key_file_without_a_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE
    path.write_text("not a key\n")
    path.chmod(0o600)
    with pytest.raises(SecretKeyError, match="holds no key"):
        key_file_key(tmp_path)


def test_bay_secrets_key_is_used_and_no_file_is_made(tmp_path: Path) -> None:
    raw = os.urandom(32)
    for text in (base64.urlsafe_b64encode(raw).decode(), base64.b64encode(raw).decode()):
        assert load_key(text, tmp_path) == raw
    assert not (tmp_path / KEY_FILE).exists()
    # Unset: the key file's, made now.
    assert load_key(None, tmp_path) == key_file_key(tmp_path) != raw


@pytest.mark.parametrize(
    "text", ["", "abc", "not base64 at all!", base64.b64encode(b"short").decode()]
)
def test_a_malformed_key_is_refused(text: str) -> None:
    with pytest.raises(SecretKeyError, match="BAY_SECRETS_KEY"):
        parse_key(text)


def test_a_malformed_bay_secrets_key_stops_the_start_without_showing_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("BAY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BAY_SECRETS_KEY", "c2VjcmV0LWJ1dC1zaG9ydA==")
    with pytest.raises(SystemExit) as stopped:
        main(["keys", "list"])
    err = capsys.readouterr().err
    assert stopped.value.code == 2
    assert "secrets_key" in err
    assert "32 bytes" in err
    assert "c2VjcmV0LWJ1dC1zaG9ydA" not in err
    with pytest.raises(ValueError, match="BAY_SECRETS_KEY"):
        BaySettings(secrets_key="abc")
