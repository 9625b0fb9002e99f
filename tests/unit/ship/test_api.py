"""Ship's HTTP contract: the token, /meta, and errors in one shape."""

from __future__ import annotations

import re

import httpx
import pytest

from ship import API_VERSION

pytestmark = pytest.mark.asyncio(loop_scope="module")

GUARDED = [
    ("POST", "/python/exec"),
    ("POST", "/python/interrupt"),
    ("POST", "/code/exec"),
    ("POST", "/code/interrupt"),
    ("POST", "/shell/exec"),
    ("GET", "/filesystem/files"),
    ("PUT", "/filesystem/files"),
    ("DELETE", "/filesystem/files"),
    ("GET", "/filesystem/directories"),
    ("POST", "/filesystem/upload"),
    ("GET", "/filesystem/download"),
    ("GET", "/no/such/route"),
]


async def test_health_needs_no_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"Authorization": ""})
    assert response.json()["status"] == "healthy"


async def test_meta_needs_no_token(client: httpx.AsyncClient) -> None:
    # Code in the sandbox asks what runtime it is in, as upstream's clients do.
    response = await client.get("/meta", headers={"Authorization": ""})
    assert response.json()["runtime"]["name"] == "ship"


@pytest.mark.parametrize(("method", "path"), GUARDED)
@pytest.mark.parametrize("authorization", ["", "Bearer wrong-token-0123456789", "Basic abc"])
async def test_every_other_endpoint_needs_the_token(
    client: httpx.AsyncClient, method: str, path: str, authorization: str
) -> None:
    response = await client.request(method, path, headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_meta_describes_the_runtime(client: httpx.AsyncClient) -> None:
    meta = (await client.get("/meta")).json()
    assert meta["runtime"]["name"] == "ship"
    assert meta["api_version"] == API_VERSION
    assert meta["workspace"]["mount_path"] == "/workspace"
    assert set(meta["capabilities"]) == {"python", "shell", "filesystem"}
    assert "exec" in meta["capabilities"]["python"]["operations"]
    assert "python" in meta["languages"]


async def test_code_runs_in_a_language_the_image_has_and_not_in_one_it_lacks(
    client: httpx.AsyncClient,
) -> None:
    ran = await client.post("/code/exec", json={"language": "python", "code": "6 * 7"})
    assert ran.json()["output"] == "42\n"
    languages = (await client.get("/meta")).json()["languages"]
    missing = next(language for language in ("r", "typescript") if language not in languages)
    refused = await client.post("/code/exec", json={"language": missing, "code": "1"})
    assert refused.status_code == 501
    error = refused.json()["error"]
    assert error["code"] == "capability_not_supported"
    assert f"no {missing} kernel" in error["message"]
    bad = await client.post("/code/exec", json={"language": "cobol", "code": "1"})
    assert bad.json()["error"]["code"] == "validation_error"


async def test_unknown_route_is_not_found_in_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"code": 1}', b'{"code": "1", "timeout": 0}', b'{"timeout": 5}'],
)
async def test_bad_bodies_are_validation_errors(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post("/python/exec", content=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["message"]


async def test_validation_error_names_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/shell/exec", json={"command": "ls", "timeout": -1})
    assert "timeout" in response.json()["error"]["details"]["fields"]


async def test_health_carries_the_runtime_version(client: httpx.AsyncClient) -> None:
    health = (await client.get("/health")).json()
    assert health["status"] == "healthy"
    assert re.fullmatch(r"\d+\.\d+\.\d+", health["version"])
