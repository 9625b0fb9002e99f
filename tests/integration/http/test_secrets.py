"""Owner secrets against a real server, over REST and MCP over HTTP: stored, listed,
replaced and deleted; another owner sees none; and a value, once sent, is nowhere to be
read back: not in any answer, not in the server's log (at DEBUG), not in any file of
its data directory (the SQLite database and its WAL), not in the database's rows. The
stored ciphertext opens with the data directory's key file, for its owner and name."""

from __future__ import annotations

import secrets
from pathlib import Path

from bay_mcp.limits import MAX_SECRET_VALUE_CHARS
from bay_mcp.secret_box import KEY_FILE, SecretBox, key_file_key
from tests.databases import query, server_database_url
from tests.integration.http.conftest import (
    HttpBay,
    error_of,
    mcp_http,
    running_server,
    text_of,
)


def _distinctive() -> str:
    return f"bay-secret-{secrets.token_hex(12)}"


def _files_holding(data_dir: Path, needles: list[bytes]) -> list[str]:
    found = []
    for path in sorted(data_dir.rglob("*")):
        if path.is_file():
            content = path.read_bytes()
            found += [f"{path.name}: {needle!r}" for needle in needles if needle in content]
    return found


async def _over_mcp(server: HttpBay, value: str, answers: list[str]) -> None:
    async with mcp_http(server, "alice") as client:
        made = await client.call_tool("set_secret", {"name": "MCP_TOKEN", "value": value})
        assert not made.is_error, text_of(made)
        refused = await client.call_tool(
            "set_secret", {"name": "TOO_LONG", "value": value * (MAX_SECRET_VALUE_CHARS // 10)}
        )
        assert refused.is_error
        assert "value must be" in text_of(refused)
        listed = await client.call_tool("list_secrets", {})
        assert listed.structured_content is not None
        names = [item["name"] for item in listed.structured_content["items"]]
        assert names == ["MCP_TOKEN", "REST_TOKEN"]
        answers += [r.model_dump_json() for r in (made, refused, listed)]
    async with mcp_http(server, "bob") as client:
        theirs = await client.call_tool("list_secrets", {})
        assert theirs.structured_content == {"items": [], "next_cursor": None}
        gone = await client.call_tool("delete_secret", {"name": "MCP_TOKEN"})
        assert gone.is_error
        assert "not found" in text_of(gone)
        answers += [r.model_dump_json() for r in (theirs, gone)]


async def test_a_secret_is_kept_per_owner_and_never_shown_again() -> None:
    rest_value, mcp_value, replaced = _distinctive(), _distinctive(), _distinctive()
    values = [rest_value, mcp_value, replaced]
    answers: list[str] = []
    with running_server(("alice", "bob"), BAY_ALLOW_ANONYMOUS="false",
                        BAY_LOG_LEVEL="DEBUG") as server:  # fmt: skip
        with (
            server.client("alice") as alice,
            server.client("bob") as bob,
            server.client() as nobody,
        ):
            made = alice.put("/v1/secrets/REST_TOKEN", json={"value": rest_value})
            assert made.status_code == 200, made.text
            assert made.json()["name"] == "REST_TOKEN"
            refused = alice.put("/v1/secrets/REST_TOKEN", json={"value": rest_value * 400})
            error_of(refused, 400, "validation_error")
            bad_name = alice.put("/v1/secrets/has-dash", json={"value": rest_value})
            assert error_of(bad_name, 400, "validation_error")["details"] == {
                "fields": ["name"], "field": "name"
            }  # fmt: skip
            await _over_mcp(server, mcp_value, answers)
            listed = alice.get("/v1/secrets")
            assert [item["name"] for item in listed.json()["items"]] == ["MCP_TOKEN", "REST_TOKEN"]
            theirs = bob.get("/v1/secrets")
            assert theirs.json() == {"items": [], "next_cursor": None}
            not_theirs = bob.delete("/v1/secrets/REST_TOKEN")
            error_of(not_theirs, 404, "not_found")
            anonymous = nobody.put("/v1/secrets/X", json={"value": rest_value})
            error_of(anonymous, 401, "unauthorized")
            again = alice.put("/v1/secrets/REST_TOKEN", json={"value": replaced})
            assert again.json()["created_at"] == made.json()["created_at"]
            deleted = alice.delete("/v1/secrets/MCP_TOKEN")
            assert deleted.status_code == 204
            answers += [r.text for r in (made, refused, bad_name, listed, theirs, not_theirs,
                                         anonymous, again, deleted)]  # fmt: skip
            answers += [str(dict(r.headers)) for r in (made, again)]
        assert server.process is not None
        server.process.terminate()  # its last log lines too, and SQLite's WAL checkpointed
        server.process.wait(timeout=30)

        for answer in answers:
            for value in values:
                assert value not in answer
        needles = [value.encode() for value in values]
        needles += [value[-16:].encode() for value in values]  # a truncated echo
        # The scan reads what it should: a name is in the log (and a SQLite database).
        assert "server.log: b'REST_TOKEN'" in _files_holding(server.data_dir, [b"REST_TOKEN"])
        assert _files_holding(server.data_dir, needles) == []
        rows = query(
            server_database_url(server.data_dir),
            "SELECT owner, name, ciphertext FROM owner_secrets ORDER BY name",
        )
        assert [(owner, name) for owner, name, _ in rows] == [("alice", "REST_TOKEN")]
        sealed = bytes(rows[0][2])
        assert all(needle not in sealed for needle in needles)
        assert (server.data_dir / KEY_FILE).is_file()
        box = SecretBox(key_file_key(server.data_dir))
        assert box.open("alice", "REST_TOKEN", sealed) == replaced
