"""Turning service results into what a model reads: text, images, links to files, and
the small confirmations tools answer with."""

from __future__ import annotations

import mimetypes

from mcp_types import ContentBlock, ImageContent, ResourceLink, TextContent
from pydantic import BaseModel

from bay_mcp.services.output import cargo_uri
from bay_mcp.services.rich_outputs import pictures
from bay_mcp.services.runs import PythonRunResult, ShellRunResult
from bay_mcp.services.views import BinaryFile, FileRead, ImageFile
from ship.protocol import FilesChanged, ResourceReport


class Confirmation(BaseModel):
    sandbox_id: str
    status: str
    message: str


def python_content(result: PythonRunResult) -> list[ContentBlock]:
    parts: list[str] = []
    if result.notice:
        parts.append(f"[{result.notice}]")
    if result.output:
        parts.append(result.output.rstrip("\n"))
    if result.error_text is not None:
        parts.append(result.error_text.strip())
    if result.truncated:
        parts.append("[The runtime cut this output at its capture limit.]")
    if not parts:
        parts.append("(no output)" if result.success else "(failed with no output)")
    blocks: list[ContentBlock] = [TextContent(text="\n".join(parts))]
    shown = pictures(result.outputs) or [(image, "image/png") for image in result.images]
    blocks.extend(ImageContent(data=data, mime_type=mime_type) for data, mime_type in shown)
    return blocks


def shell_content(result: ShellRunResult) -> list[ContentBlock]:
    body = result.output.rstrip("\n") or "(no output)"
    report = result.resources
    killed = report.kill_summary() if report else None
    facts = [
        f"exit code {result.exit_code}",
        *([f"the command {killed}"] if killed else []),
        *([oom] if report and (oom := report.oom_summary()) else []),
        *([usage] if (usage := _usage(report)) else []),
    ]
    status = f"[{' · '.join(facts)}]"
    if result.truncated:
        status += " [the runtime cut this output at its capture limit]"
    if result.notice:
        status = f"[{result.notice}]\n{status}"
    return [TextContent(text=f"{body}\n{status}")]


def _usage(resources: ResourceReport | None) -> str | None:
    return resources.usage_summary() if resources else None


def file_content(sandbox_id: str, read: FileRead) -> ContentBlock:
    """A read_file result: text, an image, or where to find a binary file's bytes."""
    if isinstance(read, ImageFile):
        return ImageContent(data=read.data, mime_type=read.mime_type)
    if isinstance(read, BinaryFile):
        sized = f"{read.size} bytes, " if read.size is not None else ""
        return TextContent(
            text=f"{read.path} is a binary file ({sized}{read.mime_type}). Its bytes are the "
            f"resource {cargo_uri(sandbox_id, read.path)}; to inspect it here use "
            "python_exec or shell_exec (e.g. `file`, `xxd | head`)."
        )
    return TextContent(text=read.content)


def file_links(sandbox_id: str, changed: FilesChanged | None) -> list[ContentBlock]:
    """A link to each file a run created or changed: a plot saved to disk or a large CSV
    is passed by reference (`cargo://`, read with resources/read), not pasted."""
    if changed is None:
        return []
    return [
        ResourceLink(
            uri=cargo_uri(sandbox_id, entry.path),
            name=entry.path,
            description=f"{entry.change} by this run",
            mime_type=mimetypes.guess_type(entry.path)[0] or "application/octet-stream",
            size=entry.size,
        )
        for entry in changed.files
        if entry.change != "deleted"
    ]
