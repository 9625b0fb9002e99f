"""Signed preview URLs: a link that opens one exposed port of one sandbox, for a while,
without an API key (so a person can open it in a browser).

A token is `<payload>.<signature>`, both base64url: the payload is JSON naming the
sandbox, the port, the owner and the expiry (Unix seconds); the signature is its
HMAC-SHA256 under a secret made once per Bay installation and kept in its database
(`storage/secrets.py`), so links survive a restart and every Bay process sharing the
database (replicas, a stdio and an HTTP server) accepts them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from bay_mcp.errors import Forbidden, InternalError, Unauthorized


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
        self, secret: bytes | None, ttl_seconds: int, clock: Callable[[], float] = time.time
    ) -> None:
        # None until Bay's start reads it from the database (`use_secret`).
        self._secret = secret
        self.ttl_seconds = ttl_seconds
        self._clock = clock

    def use_secret(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("a preview signing secret needs at least 32 bytes")
        self._secret = secret

    def _signature(self, payload: str) -> str:
        if self._secret is None:
            raise InternalError("preview URLs are not ready: Bay has not started")
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
