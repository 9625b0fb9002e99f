"""The owner secrets' encryption at rest: AES-256-GCM under one key of the
installation, each value bound to its (owner, name).

The key is `BAY_SECRETS_KEY` (URL-safe base64 of 32 bytes), else the file
`<data_dir>/secrets.key`, made at the first start (mode 0600). It is never in the
database: a copy of the database alone does not reveal the values. A key file that
others may read (group or world bits set) is refused, not tightened: it may already
have been read, and the person who loosened it should decide (`chmod 600`).

The (owner, name) pair is the associated data: a ciphertext copied to another owner's
row, or renamed, does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
KEY_FILE = "secrets.key"


class SecretKeyError(ValueError):
    """The secrets key is malformed, or its file unsafe or unreadable: the message says
    which and what to do (never the key)."""


class UndecryptableSecret(Exception):
    """A ciphertext that this key does not open: another key made it, or it was moved
    to another owner or name."""


def parse_key(text: str) -> bytes:
    """The 32 bytes `text` encodes (base64, URL-safe or standard); SecretKeyError
    otherwise."""
    standard = text.strip().replace("-", "+").replace("_", "/")
    try:
        key = base64.b64decode(standard.encode("ascii"), validate=True)
    except (binascii.Error, ValueError):
        raise SecretKeyError(
            "BAY_SECRETS_KEY is not base64 (URL-safe or standard) of 32 bytes: make one "
            "with `openssl rand -base64 32`"
        ) from None
    if len(key) != KEY_BYTES:
        raise SecretKeyError(
            f"BAY_SECRETS_KEY must encode {KEY_BYTES} bytes (44 characters of URL-safe "
            f"base64), it encodes {len(key)}"
        )
    return key


def new_key() -> str:
    """A new random key, as BAY_SECRETS_KEY takes it."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def key_file_key(data_dir: Path) -> bytes:
    """The key in `<data_dir>/secrets.key`, made (mode 0600, atomically) when missing;
    SecretKeyError when the file is readable by others or does not hold a key."""
    path = data_dir / KEY_FILE
    if not path.exists():
        _make_key_file(path)
    return _read_key_file(path)


def _make_key_file(path: Path) -> None:
    """Write a new key beside `path` (mkstemp: mode 0600), then link it in place: the
    file appears whole or not at all, and of two processes starting at once one makes
    it (link refuses an existing name) and both read that one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".secrets-key-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as made:
            made.write(new_key() + "\n")
            made.flush()
            os.fsync(made.fileno())
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(temporary)


def _read_key_file(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        text = path.read_text()
    except OSError as exc:
        raise SecretKeyError(f"the secrets key file {path} cannot be read: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretKeyError(
            f"the secrets key file {path} may be read by others (mode {stat.S_IMODE(mode):o}): "
            f"run `chmod 600 {path}` (and consider the owner secrets exposed), or set "
            "BAY_SECRETS_KEY"
        )
    try:
        return parse_key(text)
    except SecretKeyError as exc:
        raise SecretKeyError(f"the secrets key file {path} holds no key: {exc}") from None


def load_key(configured: str | None, data_dir: Path) -> bytes:
    """BAY_SECRETS_KEY's key when it is set, else the key file's."""
    return parse_key(configured) if configured is not None else key_file_key(data_dir)


def _associated(owner: str, name: str) -> bytes:
    # NUL cannot occur in an owner nor a name: the pair has one encoding.
    return f"bay-owner-secret\0{owner}\0{name}".encode()


class SecretBox:
    """Seals and opens values with one key; a sealed value is nonce + ciphertext."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise SecretKeyError(f"a secrets key is {KEY_BYTES} bytes, got {len(key)}")
        self._aead = AESGCM(key)

    def seal(self, owner: str, name: str, value: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, value.encode(), _associated(owner, name))

    def open(self, owner: str, name: str, sealed: bytes) -> str:
        """The value; UndecryptableSecret when this key, owner or name did not seal it."""
        nonce, ciphertext = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, ciphertext, _associated(owner, name)).decode()
        except (InvalidTag, ValueError) as exc:
            raise UndecryptableSecret(f"secret {name} of {owner} does not decrypt") from exc
