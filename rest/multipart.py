"""A multipart/form-data upload read as a stream: one file part handed on chunk by
chunk as the request delivers it, small fields kept. Nothing is spooled: memory holds
one request chunk at a time, whatever the file's size.

Fields may come before the file (httpx, requests) or after it (`curl -F file=@x -F
path=y`): `path` is whatever arrived before the file's bytes, and `path_after()`
reads the rest of the body for a path that follows them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import python_multipart
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header
from starlette.requests import ClientDisconnect, Request

from bay_mcp.errors import ValidationFailed

FILE_FIELD = "file"
PATH_FIELD = "path"
MAX_FIELD_BYTES = 64 * 1024
# The form's own bytes around the file (boundaries, part headers, the path field):
# a declared body longer than the upload limit by more than this is refused at once.
FORM_OVERHEAD_BYTES = MAX_FIELD_BYTES + 4096
FORM_HINT = "send the fields 'file' (the bytes) and 'path' (where to put them)"


def malformed(reason: str) -> ValidationFailed:
    return ValidationFailed(
        f"the body is not a valid multipart form ({reason}): {FORM_HINT}",
        {"fields": [FILE_FIELD, PATH_FIELD], "field": FILE_FIELD},
    )


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    data: bytearray = field(default_factory=bytearray)
    header_name: bytes = b""
    header_value: bytes = b""
    disposition: bytes = b""


class StreamedUpload:
    """The `UploadBody` of a multipart request (see `FileService.upload`)."""

    def __init__(self, request: Request, query_path: str | None) -> None:
        content_type = request.headers.get("content-type", "")
        kind, options = parse_options_header(content_type)
        if kind != b"multipart/form-data" or b"boundary" not in options:
            raise malformed("Content-Type must be multipart/form-data with a boundary")
        length = request.headers.get("content-length", "")
        self.declared_size = max(0, int(length) - FORM_OVERHEAD_BYTES) if length.isdigit() else None
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self._query_path = query_path
        self._stream = request.stream().__aiter__()
        self._events: deque[tuple[str, bytes, _Part]] = deque()
        self._part = _Part()
        self._in_file = False
        self._ended = False
        self._parser = python_multipart.MultipartParser(
            options[b"boundary"],
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
            },
        )

    # -- the parser's callbacks: they only record events ------------------------------

    def _on_part_begin(self) -> None:
        self._part = _Part()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._part.header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._part.header_value += data[start:end]

    def _on_header_end(self) -> None:
        if self._part.header_name.lower() == b"content-disposition":
            self._part.disposition = self._part.header_value
        self._part.header_name = self._part.header_value = b""

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._part.disposition)
        if b"name" not in options:
            raise malformed("a part has no name")
        self._part.name = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options:
            self._part.filename = options[b"filename"].decode("utf-8", "replace")
        is_file = self._part.name == FILE_FIELD and self._part.filename is not None
        # The parser may run several parts ahead of the reader: the event carries its part.
        self._events.append(("file" if is_file else "field", b"", self._part))

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._events.append(("data", data[start:end], self._part))

    def _on_part_end(self) -> None:
        self._events.append(("end", b"", self._part))

    # -- reading ---------------------------------------------------------------------

    async def _next_event(self) -> tuple[str, bytes, _Part] | None:
        while not self._events:
            if self._ended:
                return None
            try:
                chunk = await self._stream.__anext__()
            except StopAsyncIteration:
                chunk = b""
            except ClientDisconnect as exc:
                raise ValidationFailed("the upload ended early (the client went away)") from exc
            try:
                if chunk:
                    self._parser.write(chunk)
                else:
                    self._parser.finalize()
                    self._ended = True
            except MultipartParseError as exc:
                raise malformed(str(exc)) from exc
        return self._events.popleft()

    async def _read_field(self, name: str) -> None:
        data = bytearray()
        while (event := await self._next_event()) is not None and event[0] == "data":
            data += event[1]
            if len(data) > MAX_FIELD_BYTES:
                raise malformed(f"field {name!r} is longer than {MAX_FIELD_BYTES} bytes")
        self.fields[name] = data.decode("utf-8", "replace")

    async def open(self) -> None:
        """Read up to the start of the file's bytes, keeping the fields before it."""
        while (event := await self._next_event()) is not None:
            kind, _, part = event
            if kind == "file":
                self.filename = part.filename
                self._in_file = True
                return
            if kind == "field":
                await self._read_field(part.name)
        raise ValidationFailed("multipart field 'file' is missing", {"fields": [FILE_FIELD]})

    @property
    def path(self) -> str | None:
        """The destination, when it was given before the file's bytes."""
        return self._query_path or self.fields.get(PATH_FIELD) or None

    async def chunks(self) -> AsyncIterator[bytes]:
        while self._in_file:
            event = await self._next_event()
            if event is None:
                raise malformed("the body ended inside the file")
            kind, data, _ = event
            if kind == "end":
                self._in_file = False
            elif data:
                yield data

    async def path_after(self) -> str:
        """The destination once the whole body is read: a `path` field, else the
        file's own name."""
        while (event := await self._next_event()) is not None:
            if event[0] == "file":
                raise malformed("it carries more than one file")
            if event[0] == "field":
                await self._read_field(event[2].name)
        path = self.path or self.filename
        if not path:
            raise ValidationFailed(
                "the upload names no destination: add a 'path' field",
                {"fields": [PATH_FIELD], "field": PATH_FIELD},
            )
        return path
