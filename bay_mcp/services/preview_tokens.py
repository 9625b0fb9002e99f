"""Signed URLs: a link that opens one exposed port of one sandbox (a preview), or one
terminal of it (a process's, or a new shell), for a while, without an API key (so a
person can open it in a browser).

A token is `<payload>.<signature>`, both base64url: the payload is JSON naming the
sandbox, what it opens (`p`: a port; `t`: a terminal's process id, empty for a new
shell), the owner and the expiry (Unix seconds); the signature is its HMAC-SHA256 under
a secret made once per Bay installation and kept in its database (`storage/secrets.py`),
so links survive a restart and every Bay process sharing the database (replicas, a stdio
and an HTTP server) accepts them. A port's token never opens a terminal, nor the reverse.
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
from typing import Any

from bay_mcp.errors import Forbidden, InternalError, Unauthorized


@dataclass(frozen=True)
class PreviewGrant:
    """What a valid token allows: `owner`'s port `port` of `sandbox_id` until `expires_at`."""

    sandbox_id: str
    port: int
    owner: str
    expires_at: datetime


@dataclass(frozen=True)
class TerminalGrant:
    """What a valid terminal token allows: `owner`'s terminal of process `process_id` in
    `sandbox_id` (None: new login shells there) until `expires_at`."""

    sandbox_id: str
    process_id: str | None
    owner: str
    expires_at: datetime


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# What a caller does to get a fresh token of each kind.
_RENEW_PORT = "call expose_port (or list_ports) for a fresh URL, or send the owner's API key"
_RENEW_TERMINAL = "call terminal_link for a fresh URL, or send the owner's API key"


def _terminal_named(process_id: str | None) -> str:
    return "a new shell" if process_id is None else f"the terminal of process {process_id}"


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
            raise InternalError("signed URLs are not ready: Bay has not started")
        return _encode(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())

    def _issue(self, claims: dict[str, object]) -> tuple[str, datetime]:
        expires = int(self._clock()) + self.ttl_seconds
        payload = _encode(json.dumps({**claims, "e": expires}, separators=(",", ":")).encode())
        return f"{payload}.{self._signature(payload)}", datetime.fromtimestamp(expires, UTC)

    def _claims(self, token: str, renew: str) -> tuple[dict[str, Any], datetime]:
        """The signed claims and expiry of a token of this Bay that has not expired."""
        payload, _, signature = token.partition(".")
        if not hmac.compare_digest(signature.encode(), self._signature(payload).encode()):
            raise Unauthorized(
                f"the signed URL's token is not valid (mistyped, or made by another Bay): {renew}"
            )
        try:
            claims = json.loads(_decode(payload))
            expires_at = datetime.fromtimestamp(int(claims["e"]), UTC)
            str(claims["s"]), str(claims["o"])  # a list or a number has no such key
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise Unauthorized(f"the signed URL's token is malformed: {renew}") from exc
        if expires_at.timestamp() <= self._clock():
            raise Unauthorized(f"the signed URL expired at {expires_at.isoformat()}: {renew}")
        return claims, expires_at

    def sign(self, sandbox_id: str, port: int, owner: str) -> tuple[str, datetime]:
        """A token for the port, and when it expires (BAY_PREVIEW_TOKEN_TTL_SECONDS from now)."""
        return self._issue({"s": sandbox_id, "p": port, "o": owner})

    def verify(self, token: str, sandbox_id: str, port: int) -> PreviewGrant:
        """The grant `token` carries for this sandbox and port.

        Raises Unauthorized (not a token of this Bay, or expired) or Forbidden (a valid
        token for another sandbox or port, or for a terminal).
        """
        claims, expires_at = self._claims(token, _RENEW_PORT)
        if "p" not in claims:
            raise Forbidden(
                f"this token opens {_terminal_named(claims.get('t') or None)} of sandbox "
                f"{claims['s']}, not a port: {_RENEW_PORT}"
            )
        try:
            grant = PreviewGrant(str(claims["s"]), int(claims["p"]), str(claims["o"]), expires_at)
        except (ValueError, TypeError) as exc:
            raise Unauthorized(f"the signed URL's token is malformed: {_RENEW_PORT}") from exc
        if (grant.sandbox_id, grant.port) != (sandbox_id, port):
            raise Forbidden(
                f"this preview token opens port {grant.port} of sandbox {grant.sandbox_id}, "
                f"not port {port} of sandbox {sandbox_id}"
            )
        return grant

    def sign_terminal(
        self, sandbox_id: str, process_id: str | None, owner: str
    ) -> tuple[str, datetime]:
        """A token for the terminal of `process_id` (None: new shells), and its expiry."""
        return self._issue({"s": sandbox_id, "t": process_id or "", "o": owner})

    def verify_terminal(self, token: str, sandbox_id: str, process_id: str | None) -> TerminalGrant:
        """The grant `token` carries for this terminal (None: a new shell). Raises as
        `verify` does; a port's token is Forbidden here."""
        claims, expires_at = self._claims(token, _RENEW_TERMINAL)
        if "t" not in claims:
            raise Forbidden(
                f"this token opens port {claims.get('p')} of sandbox {claims['s']}, not a "
                f"terminal: {_RENEW_TERMINAL}"
            )
        grant = TerminalGrant(
            str(claims["s"]), str(claims["t"]) or None, str(claims["o"]), expires_at
        )
        if (grant.sandbox_id, grant.process_id) != (sandbox_id, process_id):
            raise Forbidden(
                f"this token opens {_terminal_named(grant.process_id)} of sandbox "
                f"{grant.sandbox_id}, not {_terminal_named(process_id)} of sandbox {sandbox_id}"
            )
        return grant
