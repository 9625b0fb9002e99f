"""The streamed multipart reader: fields before or after the file, one chunk at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bay_mcp.errors import ValidationFailed
from rest.multipart import StreamedUpload


async def echo(request: Request) -> Response:
    try:
        upload = StreamedUpload(request, request.query_params.get("path"))
        await upload.open()
        before = upload.path
        size = 0
        async for chunk in upload.chunks():
            size += len(chunk)
        after = before or await upload.path_after()
    except ValidationFailed as exc:
        return JSONResponse({"error": exc.message}, status_code=400)
    return JSONResponse({"before": before, "after": after, "size": size})


@pytest.fixture
def client() -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/", echo, methods=["POST"])])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def form(*parts: tuple[str, bytes, str | None]) -> bytes:
    body = b""
    for name, data, filename in parts:
        named = f'; filename="{filename}"' if filename else ""
        body += f'--B\r\nContent-Disposition: form-data; name="{name}"{named}\r\n\r\n'.encode()
        body += data + b"\r\n"
    return body + b"--B--\r\n"


async def in_pieces(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


HEADERS = {"Content-Type": "multipart/form-data; boundary=B"}


@pytest.mark.parametrize("piece", [1, 7, 4096])
async def test_the_path_before_the_file_is_known_before_its_bytes(
    client: httpx.AsyncClient, piece: int
) -> None:
    body = form(("path", b"a/b.bin", None), ("file", b"x" * 10_000, "f.bin"))
    answer = await client.post("/", content=in_pieces(body, piece), headers=HEADERS)
    assert answer.json() == {"before": "a/b.bin", "after": "a/b.bin", "size": 10_000}


async def test_the_path_after_the_file_is_read_at_the_end(client: httpx.AsyncClient) -> None:
    body = form(("file", b"y" * 5000, "f.bin"), ("path", b"later.bin", None))
    answer = await client.post("/", content=in_pieces(body, 100), headers=HEADERS)
    assert answer.json() == {"before": None, "after": "later.bin", "size": 5000}


async def test_without_a_path_the_file_name_is_used(client: httpx.AsyncClient) -> None:
    answer = await client.post("/", content=form(("file", b"z", "own.txt")), headers=HEADERS)
    assert answer.json() == {"before": None, "after": "own.txt", "size": 1}


@pytest.mark.parametrize(
    ("body", "headers", "says"),
    [
        (form(("path", b"p", None)), HEADERS, "'file' is missing"),
        (b"--B\r\nContent-Disposition: form-data\r\n\r\nx\r\n--B--\r\n", HEADERS, "no name"),
        (form(("file", b"z", "f")), {"Content-Type": "application/json"}, "multipart"),
        (form(("path", b"p" * 70_000, None), ("file", b"z", "f")), HEADERS, "longer than"),
    ],
)
async def test_malformed_forms_are_validation_errors(
    client: httpx.AsyncClient, body: bytes, headers: dict[str, str], says: str
) -> None:
    answer = await client.post("/", content=body, headers=headers)
    assert answer.status_code == 400
    assert says in answer.json()["error"]
