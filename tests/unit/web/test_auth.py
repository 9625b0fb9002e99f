"""Who a caller is: KeyService and AccessPolicy, and the middleware in front of the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import pytest_asyncio
from sqlmodel import select

from bay_mcp.bay import Bay
from bay_mcp.errors import Forbidden, Unauthorized, ValidationFailed
from bay_mcp.services.keys import AccessPolicy, KeyService
from bay_mcp.storage.database import Database
from bay_mcp.storage.models import ApiKey, utcnow
from bay_mcp.web.app import create_http_app


def policy(keys: KeyService, allow_anonymous: bool | None = None) -> AccessPolicy:
    return AccessPolicy(
        keys, admin_owners=["admin"], allow_anonymous=allow_anonymous, anonymous_owner="default"
    )


@pytest_asyncio.fixture
async def keys(bay: Bay) -> KeyService:
    return bay.keys


async def test_a_key_names_its_owner_until_revoked(keys: KeyService) -> None:
    record, key = await keys.create("alice")
    assert await keys.authenticate(key) == "alice"
    await keys.revoke(record.id)
    with pytest.raises(Unauthorized, match="revoked"):
        await keys.authenticate(key)
    with pytest.raises(Unauthorized, match="unknown"):
        await keys.authenticate("bay_nope")


async def test_an_expired_key_says_it_expired(keys: KeyService, bay: Bay) -> None:
    record, key = await keys.create("alice", timedelta(hours=1))
    assert record.expires_at is not None
    async with bay.db.session() as db:
        row = (await db.exec(select(ApiKey).where(ApiKey.id == record.id))).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.add(row)
        await db.commit()
    with pytest.raises(Unauthorized, match="expired"):
        await keys.authenticate(key)
    assert not await keys.has_usable_keys()
    assert await keys.any_exist()  # but anonymous access stays off


async def test_last_use_is_recorded_at_most_once_a_minute(keys: KeyService) -> None:
    _, key = await keys.create("alice")
    [fresh] = await keys.list()
    assert fresh.last_used_at is None
    await keys.authenticate(key)
    [used] = await keys.list()
    assert used.last_used_at is not None
    await keys.authenticate(key)
    [again] = await keys.list()
    assert again.last_used_at == used.last_used_at


async def test_bad_lifetimes_and_owners_are_refused(keys: KeyService) -> None:
    with pytest.raises(ValidationFailed):
        await keys.create("alice", timedelta(0))
    with pytest.raises(ValidationFailed):
        await keys.create("not an owner!")


async def test_anonymous_access_only_on_loopback_while_no_key_exists(keys: KeyService) -> None:
    rules = policy(keys)
    assert await rules.caller(None, None, loopback_bind=True) == "default"
    with pytest.raises(Unauthorized):
        await rules.caller(None, None, loopback_bind=False)
    with pytest.raises(Forbidden):  # anonymous callers never choose their owner
        await rules.caller(None, "alice", loopback_bind=True)
    await keys.create("alice")
    with pytest.raises(Unauthorized, match="API key is required"):
        await rules.caller(None, None, loopback_bind=True)


async def test_explicit_settings_win(keys: KeyService) -> None:
    await keys.create("alice")
    assert await policy(keys, True).caller(None, None, loopback_bind=True) == "default"
    with pytest.raises(Unauthorized):
        await policy(keys, False).caller(None, None, loopback_bind=True)


async def test_x_owner_only_for_admin_keys(keys: KeyService) -> None:
    rules = policy(keys)
    _, alice = await keys.create("alice")
    _, admin = await keys.create("admin")
    with pytest.raises(Forbidden, match="admin"):
        await rules.caller(f"Bearer {alice}", "bob", loopback_bind=True)
    assert await rules.caller(f"Bearer {admin}", "bob", loopback_bind=True) == "bob"
    with pytest.raises(ValidationFailed):
        await rules.caller(f"Bearer {admin}", "bad owner!", loopback_bind=True)
    with pytest.raises(Unauthorized, match="Bearer"):
        await rules.caller(f"Basic {alice}", None, loopback_bind=True)


async def test_the_environment_key_counts_as_a_key(tmp_path: object) -> None:
    database = Database(None)
    await database.migrate()
    try:
        keys = KeyService(database, "k" * 32, "ops")
        assert await keys.any_exist()
        assert await keys.authenticate("k" * 32) == "ops"
        with pytest.raises(Unauthorized):
            await policy(keys).caller(None, None, loopback_bind=True)
    finally:
        await database.close()


@pytest_asyncio.fixture
async def app(bay: Bay) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_http_app(bay, loopback_bind=True))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        yield client


async def test_the_middleware_answers_with_the_contract_error(
    app: httpx.AsyncClient, keys: KeyService
) -> None:
    await keys.create("alice")
    refused = await app.get("/v1/sandboxes", headers={"X-Request-Id": "r-1"})
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert refused.json()["error"]["request_id"] == "r-1"
    assert refused.json()["error"]["code"] == "unauthorized"
    assert (await app.get("/health")).status_code == 200  # not protected


async def test_bodies_over_the_limit_are_413_before_parsing(
    app: httpx.AsyncClient, bay: Bay
) -> None:
    limit = bay.settings.max_body_bytes
    declared = await app.post("/v1/sandboxes", content=b"x" * (limit + 1))
    assert declared.status_code == 413
    assert declared.json()["error"]["details"] == {"limit_bytes": limit}

    async def undeclared() -> AsyncIterator[bytes]:
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    streamed = await app.post("/v1/sandboxes", content=undeclared())
    assert streamed.status_code == 413
    assert (await app.get("/v1/sandboxes")).json()["items"] == []


async def test_metrics_need_an_admin_key_off_loopback(bay: Bay) -> None:
    _, alice = await bay.keys.create("alice")
    _, admin = await bay.keys.create("admin")
    transport = httpx.ASGITransport(app=create_http_app(bay, loopback_bind=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://bay") as client:
        assert (await client.get("/metrics")).status_code == 401
        forbidden = await client.get("/metrics", headers={"Authorization": f"Bearer {alice}"})
        assert forbidden.status_code == 403
        allowed = await client.get("/metrics", headers={"Authorization": f"Bearer {admin}"})
        assert allowed.status_code == 200
        assert "bay_sandboxes" in allowed.text
