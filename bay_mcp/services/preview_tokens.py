"""Signed preview URLs: a link that opens one exposed port of one sandbox, for a while,
without an API key (so a person can open it in a browser).

A token is `<payload>.<signature>`, both base64url: the payload is JSON naming the
sandbox, the port, the owner and the expiry (Unix seconds); the signature is its
HMAC-SHA256 under a secret made once per Bay installation and kept in the data
directory, so links survive a restart and every Bay process sharing the directory
accepts them.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bay_mcp.errors import Forbidden, Unauthorized

SECRET_FILE = "preview_secret"


def load_secret(data_dir: Path) -> bytes:
    """The installation's signing secret, made (readable by its owner only) on first use."""
    path = data_dir / SECRET_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        draft = data_dir / f".{SECRET_FILE}.{secrets.token_hex(4)}"
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_bytes(32).hex() + "\n")
        # A link fails if the file exists: two processes starting at once agree on one.
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
        draft.unlink()
    secret = bytes.fromhex(path.read_text().strip())
    if len(secret) < 32:
        raise ValueError(f"{path} holds no usable secret: remove it, a new one is made")
    return secret


@dataclass(frozen=True)
class PreviewGrant:
    """What a valid token allows: `owner`'s port `port` of `sandbox_id` until `expires_at`."""

    sandbox_id: str
    port: int
    owner: str
    expires_at: datetime


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PreviewTokens:
    def __init__(
        self, secret: bytes, ttl_seconds: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._secret = secret
        self.ttl_seconds = ttl_seconds
        self._clock = clock

    def _signature(self, payload: str) -> str:
        return _encode(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())

    def sign(self, sandbox_id: str, port: int, owner: str) -> tuple[str, datetime]:
        """A token for the port, and when it expires (BAY_PREVIEW_TOKEN_TTL_SECONDS from now)."""
        expires = int(self._clock()) + self.ttl_seconds
        claims = {"s": sandbox_id, "p": port, "o": owner, "e": expires}
        payload = _encode(json.dumps(claims, separators=(",", ":")).encode())
        return f"{payload}.{self._signature(payload)}", datetime.fromtimestamp(expires, UTC)

    def verify(self, token: str, sandbox_id: str, port: int) -> PreviewGrant:
        """The grant `token` carries for this sandbox and port.

        Raises Unauthorized (not a token of this Bay, or expired) or Forbidden (a valid
        token for another sandbox or port).
        """
        payload, _, signature = token.partition(".")
        if not hmac.compare_digest(signature.encode(), self._signature(payload).encode()):
            raise Unauthorized(
                "the preview token is not valid (mistyped, or made by another Bay): call "
                "expose_port for a new URL, or send the owner's API key"
            )
        try:
            claims = json.loads(_decode(payload))
            grant = PreviewGrant(
                sandbox_id=str(claims["s"]),
                port=int(claims["p"]),
                owner=str(claims["o"]),
                expires_at=datetime.fromtimestamp(int(claims["e"]), UTC),
            )
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise Unauthorized("the preview token is malformed: call expose_port again") from exc
        if grant.expires_at.timestamp() <= self._clock():
            raise Unauthorized(
                f"the preview URL expired at {grant.expires_at.isoformat()}: call expose_port "
                "(or list_ports) for a fresh one"
            )
        if (grant.sandbox_id, grant.port) != (sandbox_id, port):
            raise Forbidden(
                f"this preview token opens port {grant.port} of sandbox {grant.sandbox_id}, "
                f"not port {port} of sandbox {sandbox_id}"
            )
        return grant
