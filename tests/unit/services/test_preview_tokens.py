"""Signed preview tokens: what they open, and everything they must not."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from bay_mcp.errors import Forbidden, InternalError, Unauthorized
from bay_mcp.services.preview_tokens import PreviewTokens
from bay_mcp.storage.database import Database
from bay_mcp.storage.secrets import stored_secret
from tests.databases import database_url

SECRET = b"s" * 32
NOW = 1_800_000_000.0


def tokens(secret: bytes = SECRET, now: float = NOW, ttl: int = 3600) -> PreviewTokens:
    return PreviewTokens(secret, ttl, clock=lambda: now)


def test_a_token_opens_its_sandbox_and_port_for_its_owner() -> None:
    token, expires = tokens().sign("sandbox-a", 8000, "alice")
    grant = tokens(now=NOW + 3599).verify(token, "sandbox-a", 8000)
    assert (grant.sandbox_id, grant.port, grant.owner) == ("sandbox-a", 8000, "alice")
    assert grant.expires_at == expires
    assert expires.timestamp() == NOW + 3600


def test_an_expired_token_is_unauthorized() -> None:
    token, _ = tokens(ttl=60).sign("sandbox-a", 8000, "alice")
    with pytest.raises(Unauthorized, match="expired"):
        tokens(now=NOW + 60).verify(token, "sandbox-a", 8000)


def test_a_token_for_another_sandbox_or_port_is_forbidden() -> None:
    token, _ = tokens().sign("sandbox-a", 8000, "alice")
    with pytest.raises(Forbidden, match="port 8000 of sandbox sandbox-a"):
        tokens().verify(token, "sandbox-b", 8000)
    with pytest.raises(Forbidden):
        tokens().verify(token, "sandbox-a", 8001)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
        lambda t: "eyJzIjoieCJ9" + t[t.index(".") :],  # payload swapped
        lambda t: t.partition(".")[0],  # no signature
        lambda t: "",
        lambda t: "not a token",
    ],
)
def test_a_tampered_or_foreign_token_is_unauthorized(mangle: Callable[[str], str]) -> None:
    token, _ = tokens().sign("sandbox-a", 8000, "alice")
    with pytest.raises(Unauthorized, match="not valid"):
        tokens().verify(mangle(token), "sandbox-a", 8000)
    with pytest.raises(Unauthorized, match="not valid"):
        tokens(secret=b"t" * 32).verify(token, "sandbox-a", 8000)


def test_a_signed_payload_that_is_no_grant_is_unauthorized() -> None:
    signer = tokens()
    payload = "bm90IGpzb24"  # base64url of "not json"
    forged = f"{payload}.{signer._signature(payload)}"
    with pytest.raises(Unauthorized, match="malformed"):
        signer.verify(forged, "sandbox-a", 8000)


async def test_the_secret_is_made_once_and_shared_through_the_database(tmp_path: Path) -> None:
    async with database_url(tmp_path / "bay.db") as url:
        database = Database(url=url)
        await database.migrate()
        try:
            made = await asyncio.gather(*(stored_secret(database, "preview") for _ in range(5)))
            assert len(made[0]) == 32
            assert set(made) == {made[0]}  # five processes starting at once agree on one
            assert await stored_secret(database, "other") != made[0]
        finally:
            await database.close()
        # A token one process signs, another process on the database accepts.
        signer, checker = PreviewTokens(None, 60), PreviewTokens(None, 60)
        signer.use_secret(made[0])
        checker.use_secret(made[0])
        token, _ = signer.sign("sandbox-a", 8000, "alice")
        assert checker.verify(token, "sandbox-a", 8000).owner == "alice"


def test_no_token_is_signed_before_the_secret_is_read() -> None:
    with pytest.raises(InternalError, match="not started"):
        PreviewTokens(None, 60).sign("sandbox-a", 8000, "alice")


def test_a_terminal_token_opens_its_terminal_only() -> None:
    token, expires = tokens().sign_terminal("sandbox-a", "proc-0a1b2c3d", "alice")
    grant = tokens(now=NOW + 3599).verify_terminal(token, "sandbox-a", "proc-0a1b2c3d")
    assert (grant.sandbox_id, grant.process_id, grant.owner) == (
        "sandbox-a", "proc-0a1b2c3d", "alice"
    )  # fmt: skip
    assert grant.expires_at == expires
    with pytest.raises(Forbidden, match="terminal of process proc-0a1b2c3d"):
        tokens().verify_terminal(token, "sandbox-a", "proc-ffffffff")
    with pytest.raises(Forbidden, match="not a new shell"):
        tokens().verify_terminal(token, "sandbox-a", None)
    with pytest.raises(Forbidden, match="not a port"):
        tokens().verify(token, "sandbox-a", 8000)
    with pytest.raises(Unauthorized, match=r"expired.*terminal_link"):
        tokens(now=NOW + 3600).verify_terminal(token, "sandbox-a", "proc-0a1b2c3d")


def test_a_new_shell_token_opens_shells_not_a_process() -> None:
    token, _ = tokens().sign_terminal("sandbox-a", None, "alice")
    assert tokens().verify_terminal(token, "sandbox-a", None).process_id is None
    with pytest.raises(Forbidden, match="opens a new shell of sandbox sandbox-a"):
        tokens().verify_terminal(token, "sandbox-a", "proc-0a1b2c3d")
    with pytest.raises(Forbidden):
        tokens().verify_terminal(token, "sandbox-b", None)


def test_a_port_token_opens_no_terminal() -> None:
    token, _ = tokens().sign("sandbox-a", 8000, "alice")
    with pytest.raises(Forbidden, match="opens port 8000 of sandbox sandbox-a, not a terminal"):
        tokens().verify_terminal(token, "sandbox-a", None)
