"""Handlers of a cargo's files with no sandbox (`/v1/cargos/{id}/filesystem/...`): the
sandbox's file routes' shapes, over the cargo file service."""

from __future__ import annotations

from bay_mcp.managers import no_progress
from rest import models
from rest.endpoint import Call, Result, dump
from rest.handlers.files import attachment
from rest.multipart import StreamedUpload


async def read_cargo_file(call: Call) -> Result:
    query: models.PathQuery = call.query
    text = await call.bay.cargo_files.read_text(
        call.owner, call.params["cargo_id"], query.path, no_progress
    )
    return 200, dump(models.FileContent(content=text.content))


async def write_cargo_file(call: Call) -> Result:
    body: models.WriteFileBody = call.body
    await call.bay.cargo_files.write_text(
        call.owner, call.params["cargo_id"], body.path, body.content, no_progress
    )
    return 200, dump(models.StatusOk())


async def delete_cargo_file(call: Call) -> Result:
    query: models.PathQuery = call.query
    await call.bay.cargo_files.delete(call.owner, call.params["cargo_id"], query.path, no_progress)
    return 200, dump(models.StatusOk())


async def list_cargo_directory(call: Call) -> Result:
    query: models.DirectoryQuery = call.query
    listing = await call.bay.cargo_files.list_directory(
        call.owner, call.params["cargo_id"], query.path, no_progress
    )
    return 200, dump(models.DirectoryBody(entries=listing.entries))


async def upload_cargo_file(call: Call) -> Result:
    upload = StreamedUpload(call.request, call.request.query_params.get("path"))
    await upload.open()
    written = await call.bay.cargo_files.upload(
        call.owner, call.params["cargo_id"], upload, no_progress
    )
    return 200, dump(models.Uploaded(path=written.path, size=written.size))


async def download_cargo_file(call: Call) -> Result:
    query: models.PathQuery = call.query
    return await attachment(
        call.bay.cargo_files.download(call.owner, call.params["cargo_id"], query.path, no_progress),
        query.path,
    )
