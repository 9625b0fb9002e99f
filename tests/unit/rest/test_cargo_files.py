"""`/v1/cargos/{id}/filesystem/...` in-process over the fakes: the sandbox routes' shapes."""

from __future__ import annotations

import httpx

from tests.fakes import FakeDriver


async def test_the_cargo_routes_answer_as_the_sandbox_routes(
    api: httpx.AsyncClient, driver: FakeDriver
) -> None:
    cargo_id = (await api.post("/v1/cargos", json={})).json()["id"]
    base = f"/v1/cargos/{cargo_id}/filesystem"
    put = await api.put(f"{base}/files", json={"path": "d/a.txt", "content": "hi"})
    assert (put.status_code, put.json()) == (200, {"status": "ok"})
    assert (await api.get(f"{base}/files", params={"path": "d/a.txt"})).json() == {"content": "hi"}
    listing = (await api.get(f"{base}/directories", params={"path": "d"})).json()
    assert [entry["path"] for entry in listing["entries"]] == ["d/a.txt"]
    uploaded = await api.post(
        f"{base}/upload", files={"file": ("b.bin", b"\x00\xff")}, data={"path": "d/b.bin"}
    )
    assert uploaded.json() == {"status": "ok", "path": "d/b.bin", "size": 2}
    downloaded = await api.get(f"{base}/download", params={"path": "d/b.bin"})
    assert downloaded.content == b"\x00\xff"
    assert downloaded.headers["content-disposition"] == 'attachment; filename="b.bin"'
    deleted = await api.delete(f"{base}/files", params={"path": "d/a.txt"})
    assert deleted.json() == {"status": "ok"}
    escaping = await api.get(f"{base}/files", params={"path": "../etc/passwd"})
    assert (escaping.status_code, escaping.json()["error"]["code"]) == (400, "invalid_path")
    unknown = await api.get("/v1/cargos/ws-nope/filesystem/files", params={"path": "a"})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")
    driver.shares_volumes = False
    refused = await api.get(f"{base}/files", params={"path": "d/b.bin"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (
        400,
        "capability_not_supported",
    )
