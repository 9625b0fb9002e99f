"""Console sessions: a key exchanged for a session, checked again on every request; an
anonymous session only while anonymous access is on; only hashes stored."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlmodel import select

from bay_mcp.bay import Bay
from bay_mcp.errors import Unauthorized
from bay_mcp.services.console_sessions import SESSION_LIFETIME, ConsoleCaller
from bay_mcp.storage.models import ApiKey, ConsoleSession, utcnow


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def rows(bay: Bay) -> list[ConsoleSession]:
    async with bay.db.session() as db:
        return list((await db.exec(select(ConsoleSession))).all())


async def expire_key(bay: Bay, key_id: str) -> None:
    async with bay.db.session() as db:
        row = (await db.exec(select(ApiKey).where(ApiKey.id == key_id))).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.add(row)
        await db.commit()


async def expire_session(bay: Bay, token: str) -> None:
    async with bay.db.session() as db:
        mine = select(ConsoleSession).where(ConsoleSession.id == sha256(token))
        row = (await db.exec(mine)).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.add(row)
        await db.commit()


async def test_a_key_signs_in_as_its_owner(bay: Bay) -> None:
    _, alice = await bay.keys.create("alice")
    _, admin = await bay.keys.create("admin")  # BAY_ADMIN_OWNERS' default
    token, caller = await bay.console_sessions.sign_in(f"  {alice}\n", loopback_bind=False)
    assert (caller.owner, caller.is_admin) == ("alice", False)
    assert len(caller.csrf_token) >= 32
    again = await bay.console_sessions.caller(token, loopback_bind=False)
    assert again == caller
    _, boss = await bay.console_sessions.sign_in(admin, loopback_bind=False)
    assert (boss.owner, boss.is_admin) == ("admin", True)
    assert boss.csrf_token != caller.csrf_token


async def test_the_database_keeps_hashes_never_the_token_or_key(bay: Bay) -> None:
    _, key = await bay.keys.create("alice")
    token, caller = await bay.console_sessions.sign_in(key, loopback_bind=False)
    [row] = await rows(bay)
    assert row.id == sha256(token)
    assert row.key_hash == sha256(key)
    stored = row.model_dump_json()
    assert token not in stored
    assert key not in stored
    assert row.expires_at - row.created_at == SESSION_LIFETIME
    assert row.csrf_token == caller.csrf_token


@pytest.mark.parametrize("key", ["bay_nope", "wrong"])
async def test_an_unknown_key_is_refused(bay: Bay, key: str) -> None:
    await bay.keys.create("alice")
    with pytest.raises(Unauthorized, match="unknown"):
        await bay.console_sessions.sign_in(key, loopback_bind=True)
    assert await rows(bay) == []


async def test_a_revoked_key_ends_its_sessions_and_signs_in_no_more(bay: Bay) -> None:
    record, key = await bay.keys.create("alice")
    token, _ = await bay.console_sessions.sign_in(key, loopback_bind=False)
    await bay.keys.revoke(record.id)
    assert await bay.console_sessions.caller(token, loopback_bind=False) is None
    with pytest.raises(Unauthorized, match="revoked"):
        await bay.console_sessions.sign_in(key, loopback_bind=False)


async def test_an_expired_key_ends_its_sessions_and_signs_in_no_more(bay: Bay) -> None:
    record, key = await bay.keys.create("alice", timedelta(days=1))
    token, _ = await bay.console_sessions.sign_in(key, loopback_bind=False)
    await expire_key(bay, record.id)
    assert await bay.console_sessions.caller(token, loopback_bind=False) is None
    with pytest.raises(Unauthorized, match="expired"):
        await bay.console_sessions.sign_in(key, loopback_bind=False)


async def test_an_expired_session_names_no_one_and_goes_at_the_next_sign_in(bay: Bay) -> None:
    _, key = await bay.keys.create("alice")
    old, _ = await bay.console_sessions.sign_in(key, loopback_bind=False)
    await expire_session(bay, old)
    assert await bay.console_sessions.caller(old, loopback_bind=False) is None
    assert len(await rows(bay)) == 1  # still there until someone signs in
    new, _ = await bay.console_sessions.sign_in(key, loopback_bind=False)
    assert [row.id for row in await rows(bay)] == [sha256(new)]


async def test_no_token_or_an_unknown_one_names_no_one(bay: Bay) -> None:
    for token in (None, "", "not-a-session"):
        assert await bay.console_sessions.caller(token, loopback_bind=True) is None


async def test_anonymous_sessions_only_while_anonymous_access_is_on(bay: Bay) -> None:
    sessions = bay.console_sessions
    assert await sessions.anonymous_allowed(True)
    assert not await sessions.anonymous_allowed(False)
    with pytest.raises(Unauthorized, match="API key is required"):
        await sessions.sign_in(None, loopback_bind=False)
    with pytest.raises(Unauthorized):
        await sessions.sign_in("", loopback_bind=False)
    token, caller = await sessions.sign_in(None, loopback_bind=True)
    assert caller.owner == bay.access.anonymous_owner
    [row] = await rows(bay)
    assert row.key_hash is None
    assert await sessions.caller(token, loopback_bind=True) == caller
    assert await sessions.caller(token, loopback_bind=False) is None
    # The first key switches anonymous access off, and the anonymous session with it.
    await bay.keys.create("alice")
    assert await sessions.caller(token, loopback_bind=True) is None
    with pytest.raises(Unauthorized):
        await sessions.sign_in(None, loopback_bind=True)


async def test_sign_out_ends_the_session(bay: Bay) -> None:
    _, key = await bay.keys.create("alice")
    token, _ = await bay.console_sessions.sign_in(key, loopback_bind=False)
    other, _ = await bay.console_sessions.sign_in(key, loopback_bind=False)
    await bay.console_sessions.sign_out(token)
    await bay.console_sessions.sign_out(None)  # no cookie: nothing to do
    assert await bay.console_sessions.caller(token, loopback_bind=False) is None
    assert await bay.console_sessions.caller(other, loopback_bind=False) is not None
    assert [row.id for row in await rows(bay)] == [sha256(other)]


def test_csrf_matches_only_the_exact_token() -> None:
    caller = ConsoleCaller(owner="alice", is_admin=False, csrf_token="s3cret-token")
    assert caller.csrf_matches("s3cret-token")
    for wrong in (None, "", "s3cret", "s3cret-token ", "S3CRET-TOKEN", "s3cret-tokén"):
        assert not caller.csrf_matches(wrong)
