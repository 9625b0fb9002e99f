"""Handlers of a sandbox's files: read, write, delete, list, upload, download."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack

from starlette.responses import StreamingResponse

from bay_mcp.adapters.ship_client import Download
from bay_mcp.managers import no_progress
from rest import models
from rest.endpoint import Call, Result, dump
from rest.multipart import StreamedUpload


async def read_file(call: Call) -> Result:
    query: models.PathQuery = call.query
    text = await call.bay.files.read_text(
        call.owner, call.params["sandbox_id"], query.path, no_progress
    )
    return 200, dump(models.FileContent(content=text.content))


async def write_file(call: Call) -> Result:
    body: models.WriteFileBody = call.body
    await call.bay.files.write_text(
        call.owner, call.params["sandbox_id"], body.path, body.content, no_progress
    )
    return 200, dump(models.StatusOk())


async def delete_file(call: Call) -> Result:
    query: models.PathQuery = call.query
    await call.bay.files.delete(call.owner, call.params["sandbox_id"], query.path, no_progress)
    return 200, dump(models.StatusOk())


async def list_directory(call: Call) -> Result:
    query: models.DirectoryQuery = call.query
    listing = await call.bay.files.list_directory(
        call.owner, call.params["sandbox_id"], query.path, no_progress
    )
    return 200, dump(models.DirectoryBody(entries=listing.entries))


async def upload_file(call: Call) -> Result:
    upload = StreamedUpload(call.request, call.request.query_params.get("path"))
    await upload.open()
    written = await call.bay.files.upload(
        call.owner, call.params["sandbox_id"], upload, no_progress
    )
    return 200, dump(models.Uploaded(path=written.path, size=written.size))


async def download_file(call: Call) -> Result:
    query: models.PathQuery = call.query
    return await attachment(
        call.bay.files.download(call.owner, call.params["sandbox_id"], query.path, no_progress),
        query.path,
    )


async def attachment(
    opening: AbstractAsyncContextManager[Download], path: str
) -> StreamingResponse:
    """A download's bytes as an attachment, streamed; the download closes at their end
    (a missing file raises before any byte)."""
    stack = AsyncExitStack()
    download = await stack.enter_async_context(opening)

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in download.chunks:
                yield chunk
        finally:
            await stack.aclose()

    name = path.rsplit("/", 1)[-1]
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if download.size is not None:
        headers["Content-Length"] = str(download.size)
    return StreamingResponse(body(), media_type="application/octet-stream", headers=headers)
