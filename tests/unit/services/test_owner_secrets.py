"""Owner secrets over Bay's database: set (created or replaced), listed without values,
deleted, read back only through `values`; names and values checked, a quota per owner,
each owner's own, sealed in the database and bound to their row; callbacks on change."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlmodel import col, select, update

from bay_mcp.bay import Bay
from bay_mcp.errors import InternalError, NotFound, QuotaExceeded, ValidationFailed
from bay_mcp.limits import MAX_SECRET_VALUE_CHARS, MAX_SECRETS_PER_OWNER
from bay_mcp.secret_box import KEY_FILE, SecretKeyError, new_key
from bay_mcp.settings import BaySettings
from bay_mcp.storage.database import Database
from bay_mcp.storage.models import OwnerSecret
from tests.databases import database_url
from tests.fakes import FakeDriver

VALUE = "sk-live-0123456789-distinctive"


async def test_a_secret_is_set_listed_read_and_deleted(bay: Bay) -> None:
    made = await bay.secrets.set("alice", "API_TOKEN", VALUE)
    assert made.name == "API_TOKEN"
    assert made.created_at == made.updated_at
    assert VALUE not in made.model_dump_json()
    assert [view.name for view in await bay.secrets.list("alice")] == ["API_TOKEN"]
    assert await bay.secrets.values("alice", ["API_TOKEN"]) == {"API_TOKEN": VALUE}
    await bay.secrets.delete("alice", "API_TOKEN")
    assert await bay.secrets.list("alice") == []
    with pytest.raises(NotFound, match="secret API_TOKEN not found"):
        await bay.secrets.delete("alice", "API_TOKEN")


async def test_setting_again_replaces_the_value_and_keeps_its_creation(bay: Bay) -> None:
    first = await bay.secrets.set("alice", "TOKEN", "one")
    second = await bay.secrets.set("alice", "TOKEN", "two")
    assert second.created_at == first.created_at
    assert second.updated_at > first.updated_at
    assert await bay.secrets.values("alice", ["TOKEN"]) == {"TOKEN": "two"}
    assert len(await bay.secrets.list("alice")) == 1


async def test_each_owner_has_its_own_names(bay: Bay) -> None:
    await bay.secrets.set("alice", "TOKEN", "alice's")
    await bay.secrets.set("bob", "TOKEN", "bob's")
    assert await bay.secrets.values("alice", ["TOKEN"]) == {"TOKEN": "alice's"}
    assert await bay.secrets.values("bob", ["TOKEN"]) == {"TOKEN": "bob's"}
    await bay.secrets.set("alice", "ONLY_ALICE", "x")
    assert await bay.secrets.list("carol") == []
    with pytest.raises(NotFound):
        await bay.secrets.delete("bob", "ONLY_ALICE")
    with pytest.raises(NotFound, match="ONLY_ALICE"):
        await bay.secrets.values("bob", ["ONLY_ALICE"])


async def test_values_names_every_missing_secret(bay: Bay) -> None:
    await bay.secrets.set("alice", "HAVE", "x")
    with pytest.raises(NotFound) as missing:
        await bay.secrets.values("alice", ["HAVE", "GONE", "NEVER"])
    assert missing.value.message == "secrets GONE, NEVER not found"
    assert missing.value.details == {"missing": ["GONE", "NEVER"]}


@pytest.mark.parametrize("name", ["", "9LIVES", "has-dash", "sp ace", "é", "A" * 65, "a\0b"])
async def test_a_bad_name_is_refused_naming_the_field(bay: Bay, name: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await bay.secrets.set("alice", name, "x")
    assert refused.value.details["field"] == "name"
    assert await bay.secrets.list("alice") == []


async def test_a_bad_value_is_refused_without_quoting_it(bay: Bay) -> None:
    for value in ("", "Z" * (MAX_SECRET_VALUE_CHARS + 1), "lone \ud800 surrogate"):
        with pytest.raises(ValidationFailed) as refused:
            await bay.secrets.set("alice", "TOKEN", value)
        assert refused.value.details["field"] == "value"
        assert "ZZZ" not in refused.value.message
    assert (await bay.secrets.set("alice", "LONGEST", "v" * MAX_SECRET_VALUE_CHARS)).name


async def test_an_owner_keeps_at_most_the_quota_but_may_always_replace(bay: Bay) -> None:
    for n in range(MAX_SECRETS_PER_OWNER):
        await bay.secrets.set("alice", f"S{n}", "x")
    with pytest.raises(QuotaExceeded, match=f"already has {MAX_SECRETS_PER_OWNER} secrets"):
        await bay.secrets.set("alice", "ONE_MORE", "x")
    await bay.secrets.set("alice", "S0", "replaced")
    await bay.secrets.set("bob", "ONE_MORE", "x")  # another owner's quota
    await bay.secrets.delete("alice", "S1")
    await bay.secrets.set("alice", "ONE_MORE", "x")


async def test_the_database_holds_the_value_sealed_and_bound_to_its_row(bay: Bay) -> None:
    await bay.secrets.set("alice", "TOKEN", VALUE)
    async with bay.db.session() as db:
        row = (await db.exec(select(OwnerSecret))).one()
        assert VALUE.encode() not in row.ciphertext
        # A row moved to another owner does not decrypt: an error saying so, no value.
        await db.exec(
            update(OwnerSecret).where(col(OwnerSecret.owner) == "alice").values(owner="mallory")
        )
        await db.commit()
    with pytest.raises(InternalError, match="does not decrypt"):
        await bay.secrets.values("mallory", ["TOKEN"])


async def test_callbacks_hear_of_every_change_and_one_failing_is_only_logged(
    bay: Bay, caplog: pytest.LogCaptureFixture
) -> None:
    heard: list[str] = []

    async def failing(owner: str) -> None:
        raise RuntimeError("refresh failed")

    async def listening(owner: str) -> None:
        heard.append(owner)

    bay.secrets.on_change.extend([failing, listening])
    with caplog.at_level(logging.ERROR):
        await bay.secrets.set("alice", "TOKEN", VALUE)
        await bay.secrets.set("alice", "TOKEN", "again")
        await bay.secrets.delete("alice", "TOKEN")
    assert heard == ["alice", "alice", "alice"]
    assert "a callback on a change of alice's secrets failed" in caplog.text
    assert VALUE not in caplog.text
    with pytest.raises(NotFound):
        await bay.secrets.delete("alice", "TOKEN")
    assert heard == ["alice", "alice", "alice"]  # nothing changed: nobody told


async def test_bay_uses_bay_secrets_key_over_the_key_file(
    settings: BaySettings, tmp_path: Path
) -> None:
    async with database_url(tmp_path / "bay.db") as url:
        keyed = settings.model_copy(update={"secrets_key": SecretStr(new_key())})
        bay = Bay(keyed, driver=FakeDriver(), database=Database(url=url))
        try:
            await bay.start()
            await bay.secrets.set("alice", "TOKEN", VALUE)
        finally:
            await bay.close()
        assert not (tmp_path / KEY_FILE).exists()
        # Another key (here the key file's) opens nothing stored under the first.
        bay = Bay(settings, driver=FakeDriver(), database=Database(url=url))
        try:
            await bay.start()
            assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600
            with pytest.raises(InternalError, match="another BAY_SECRETS_KEY"):
                await bay.secrets.values("alice", ["TOKEN"])
        finally:
            await bay.close()


async def test_bay_refuses_to_start_on_a_key_file_others_may_read(
    settings: BaySettings, tmp_path: Path
) -> None:
    (tmp_path / KEY_FILE).write_text(new_key())
    (tmp_path / KEY_FILE).chmod(0o640)
    async with database_url(tmp_path / "bay.db") as url:
        bay = Bay(settings, driver=FakeDriver(), database=Database(url=url))
        try:
            with pytest.raises(SecretKeyError, match="may be read by others"):
                await bay.start()
        finally:
            await bay.close()
